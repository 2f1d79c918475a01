package impl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/flyte-webhook/flyte-webhook/api"
	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/gen"
)

// targetErrorPrefix opens the detail of a relayed error status: the Python app's words, which
// its clients may look for.
const targetErrorPrefix = "Target app returned error: "

// CallApp sends one request to an app and relays its answer. The path rules
// (controlplane.AppPath) and the query merge (controlplane.MergeQuery) are applied here,
// before any backend sees the call, so every backend sends only what they let through.
func (s *Server) CallApp(ctx context.Context, r gen.CallAppRequestObject) (gen.CallAppResponseObject, error) {
	method := strings.ToUpper(orDefault(r.Params.Method, s.def.callMethod))
	if !controlplane.AppMethods[method] { // the spec accepts them in any case
		return nil, controlplane.Errorf(controlplane.CodeInvalidInput, "method %q: one of GET, POST, PUT, PATCH, DELETE, HEAD (in any case) is allowed", method)
	}
	path, fromPath, err := controlplane.AppPath(r.Params.Path)
	if err != nil {
		return nil, err
	}
	var payload, params map[string]any
	if body, ok := validatedBody(ctx).(map[string]any); ok {
		// The validated value keeps numbers as json.Number, so large integers reach the app intact.
		payload, _ = body["payload"].(map[string]any)
		params, _ = body["query_params"].(map[string]any)
	} else if r.Body != nil {
		if r.Body.Payload != nil {
			payload = *r.Body.Payload
		}
		if r.Body.QueryParams != nil {
			params = *r.Body.QueryParams
		}
	}
	query, err := controlplane.MergeQuery(fromPath, params)
	if err != nil {
		return nil, err
	}
	if !controlplane.AppBodyMethods[method] {
		payload = nil
	}
	call := controlplane.AppCall{App: appRef(r.Name, r.Params.Domain, r.Params.Project), Method: method, Path: path, RawQuery: query, Payload: payload}
	resp, err := s.backend.CallApp(requestContext(ctx), call)
	if err != nil {
		return nil, err
	}
	return s.relay(ctx, r.Name, resp)
}

// relay turns an app's answer into ours: its status, with its JSON body as it came or
// {"response": "<text>"}; an error status as a problem carrying the app's text, as the Python
// app's HTTPException(status_code=<the app's>, detail=...) does.
func (s *Server) relay(ctx context.Context, name string, resp controlplane.AppResponse) (gen.CallAppResponseObject, error) {
	switch st := resp.Status; {
	case st < 200 || st > 599:
		return nil, controlplane.Errorf(controlplane.CodeBadGateway, "app %q answered with status %d, which cannot be relayed", name, st)
	case st >= 400:
		c, _ := ctx.(*gin.Context)
		if st >= 500 {
			reqCtx := requestContext(ctx)
			s.log.LogAttrs(reqCtx, slog.LevelWarn, "called app answered an error", slog.String("request_id", api.RequestIDFrom(reqCtx)),
				slog.String("app", name), slog.Int("status", st))
		}
		return appProblem(api.NewProblem(c, st, targetErrorPrefix+errorText(resp))), nil
	case st == http.StatusNoContent:
		return appAnswer{status: st}, nil
	case st == http.StatusNotModified:
		return appAnswer{status: st, location: resp.Location}, nil
	}
	body, err := relayBody(name, resp)
	if err != nil {
		return nil, err
	}
	a := appAnswer{status: resp.Status, body: body}
	if resp.Status >= 300 {
		a.location = resp.Location
	}
	return a, nil
}

// relayBody is the body we answer for an app's 2xx or 3xx: JSON as it came (whatever its
// Content-Type says, as the Python app parses every answer), text as {"response": text},
// and a binary body refused (502): it has no JSON form a client could rely on.
func relayBody(name string, resp controlplane.AppResponse) ([]byte, error) {
	if trimmed := bytes.TrimSpace(resp.Body); len(trimmed) > 0 && json.Valid(trimmed) {
		return trimmed, nil
	}
	if isBinary(resp.ContentType, resp.Body) {
		return nil, controlplane.Errorf(controlplane.CodeBadGateway, "app %q answered a binary body (%s, %d bytes): call_app relays JSON and text only", name, orUnknown(resp.ContentType), len(resp.Body))
	}
	return json.Marshal(map[string]string{"response": string(resp.Body)})
}

// errorText is an error answer's body as text for a problem's detail.
func errorText(resp controlplane.AppResponse) string {
	if isBinary(resp.ContentType, resp.Body) {
		return fmt.Sprintf("a binary body (%s, %d bytes)", orUnknown(resp.ContentType), len(resp.Body))
	}
	return string(resp.Body)
}

// isBinary reports whether a body is not text: of a media type that is never text, not
// UTF-8, or holding a NUL byte. (Other control characters, such as a terminal's color codes in
// a log, are text that JSON can carry.)
func isBinary(ctype string, body []byte) bool {
	mt, _, _ := strings.Cut(strings.ToLower(ctype), ";")
	mt = strings.TrimSpace(mt)
	switch {
	case mt == "application/octet-stream", mt == "application/pdf", mt == "application/zip", mt == "application/gzip",
		strings.HasPrefix(mt, "image/") && mt != "image/svg+xml", strings.HasPrefix(mt, "audio/"), strings.HasPrefix(mt, "video/"), strings.HasPrefix(mt, "font/"):
		return true
	}
	return !utf8.Valid(body) || bytes.IndexByte(body, 0) >= 0
}

func orUnknown(ctype string) string {
	if ctype == "" {
		return "no Content-Type"
	}
	return ctype
}

// appAnswer is a relayed 2xx or 3xx: body nil for a status that has none (204, 304).
type appAnswer struct {
	status   int
	location string
	body     []byte
}

func (a appAnswer) VisitCallAppResponse(w http.ResponseWriter) error {
	if a.location != "" {
		w.Header().Set("Location", a.location)
	}
	if a.body == nil {
		w.WriteHeader(a.status)
		return nil
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, err := w.Write(a.body)
	return err
}

// appProblem is a relayed error status.
type appProblem gen.Problem

func (p appProblem) VisitCallAppResponse(w http.ResponseWriter) error {
	return api.WriteProblemTo(w, gen.Problem(p))
}
