package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// errCallTimeout is the cause of a call's context when Config.CallTimeout ran out.
var errCallTimeout = errors.New("call_timeout")

var callMethods = map[string]bool{"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "HEAD": true}

// CallApp sends one request to an active app and returns its answer as it came: redirects
// are not followed (a Location pointing at the app itself is left out), the body is read up
// to Config.CallMaxBytes (more is CodeBadGateway), the whole call is bounded by
// Config.CallTimeout (CodeDeadlineExceeded). The request carries only Content-Type:
// application/json and User-Agent: flyte-webhook/<WebhookName>, as the Python app sends,
// plus the caller's Authorization and Cookie for an app declared with forward_credentials:
// nothing else of the caller's request (hop-by-hop headers included) reaches the app. An app
// that is not active is CodeConflict; one that does not answer, CodeBadGateway.
func (b *Backend) CallApp(ctx context.Context, call controlplane.AppCall) (controlplane.AppResponse, error) {
	if _, err := b.caller(ctx); err != nil {
		return controlplane.AppResponse{}, err
	}
	sup, err := b.apps.lookup(call.App)
	if err != nil {
		return controlplane.AppResponse{}, err
	}
	if !callMethods[call.Method] {
		return controlplane.AppResponse{}, controlplane.Errorf(controlplane.CodeInvalidInput, "method %q: one of GET, POST, PUT, PATCH, DELETE, HEAD is allowed", call.Method)
	}
	// The HTTP layer checked the path with controlplane.AppPath already; checking again here
	// costs nothing and keeps the rules for callers that come another way.
	path, inPath, err := controlplane.AppPath(call.Path)
	if err != nil {
		return controlplane.AppResponse{}, err
	}
	if inPath != nil || call.Path == "" || call.Path[0] != '/' {
		return controlplane.AppResponse{}, controlplane.Errorf(controlplane.CodeInvalidInput, "path %q: an absolute path without a query (the query goes in RawQuery: see controlplane.MergeQuery)", call.Path)
	}
	a, decl, stale := sup.callable()
	if !a.Active {
		return controlplane.AppResponse{}, notActive(a, stale)
	}
	target := a.Endpoint + path
	if call.RawQuery != "" {
		target += "?" + call.RawQuery
	}
	var body io.Reader
	if call.Payload != nil {
		js, err := json.Marshal(call.Payload)
		if err != nil {
			return controlplane.AppResponse{}, controlplane.Errorf(controlplane.CodeInvalidInput, "payload cannot be encoded as JSON: %v", err)
		}
		body = bytes.NewReader(js)
	}
	cctx, cancel := context.WithTimeoutCause(ctx, b.cfg.CallTimeout, errCallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, call.Method, target, body)
	if err != nil {
		return controlplane.AppResponse{}, controlplane.Wrap(controlplane.CodeInvalidInput, err, "the call cannot be made")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "flyte-webhook/"+b.cfg.WebhookName)
	if decl.ForwardCredentials {
		creds := controlplane.CredentialsFrom(ctx)
		if creds.Authorization != "" {
			req.Header.Set("Authorization", creds.Authorization)
		}
		if creds.Cookie != "" {
			req.Header.Set("Cookie", creds.Cookie)
		}
	}
	res, err := b.apps.callClient.Do(req)
	if err != nil {
		return controlplane.AppResponse{}, b.callError(cctx, ctx, a.Name, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, b.cfg.CallMaxBytes+1))
	if err != nil {
		return controlplane.AppResponse{}, b.callError(cctx, ctx, a.Name, err)
	}
	if int64(len(raw)) > b.cfg.CallMaxBytes {
		return controlplane.AppResponse{}, controlplane.Errorf(controlplane.CodeBadGateway,
			"app %q answered more than %d bytes (call_max_bytes)", a.Name, b.cfg.CallMaxBytes)
	}
	return controlplane.AppResponse{
		Status:      res.StatusCode,
		ContentType: res.Header.Get("Content-Type"),
		Body:        raw,
		Location:    relayedLocation(req.URL, res.Header.Get("Location")),
	}, nil
}

// callable is the app as CallApp sees it, with the declaration it runs, and whether its
// process runs an older declaration (it is being restarted with the new one).
func (s *appSup) callable() (controlplane.App, *app, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appLocked(), s.decl, s.running != nil && s.running != s.decl
}

// notActive says why an app cannot be called.
func notActive(a controlplane.App, stale bool) error {
	why := "it is not active"
	switch {
	case a.Deactivated:
		why = "it is not active (activate it first)"
	case stale:
		why = "it is being restarted with its changed declaration"
	case a.Status == controlplane.AppStarting:
		why = "it is starting and not healthy yet"
	case a.Status == controlplane.AppCrashed:
		why = "it crashed and is waiting to be restarted"
	case a.Status == controlplane.AppRunning || a.Status == controlplane.AppStopped:
		why = "it is being deactivated"
	}
	return controlplane.Errorf(controlplane.CodeConflict, "app %q cannot be called: %s", a.Name, why)
}

// callError classifies a failed call: our timeout, the caller gone, or no (complete) answer.
// The message never carries the app's loopback address.
func (b *Backend) callError(cctx, ctx context.Context, name string, err error) error {
	switch {
	case errors.Is(context.Cause(cctx), errCallTimeout):
		return controlplane.Wrap(controlplane.CodeDeadlineExceeded, err, "app "+strconv.Quote(name)+" did not answer within "+b.cfg.CallTimeout.String()+" (call_timeout)")
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return controlplane.Wrap(controlplane.CodeBadGateway, err, "app "+strconv.Quote(name)+" did not answer")
}

// relayedLocation is the Location to relay from an answer to a request for reqURL: resolved
// to an absolute URL, and "" when it points at the app itself or anywhere on the loopback
// (a relative one does: it resolves against the app), which callers must never see.
func relayedLocation(reqURL *url.URL, loc string) string {
	if loc == "" {
		return ""
	}
	u, err := reqURL.Parse(loc)
	if err != nil || u.Host == "" || u.Host == reqURL.Host {
		return ""
	}
	host := u.Hostname()
	if host == "localhost" || host == "" {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && (ip.IsLoopback() || ip.IsUnspecified()) {
		return ""
	}
	return u.String()
}
