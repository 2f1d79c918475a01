package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// AppMethods are the HTTP methods a call to an app may use, as the HTTP layer accepts them.
var AppMethods = map[string]bool{"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "HEAD": true}

// AppBodyMethods are the methods a call's payload is sent with (as the Python app does).
var AppBodyMethods = map[string]bool{"POST": true, "PUT": true, "PATCH": true}

// AppTarget is where and how SendAppCall calls an app: what differs between backends.
type AppTarget struct {
	// Name is the app's name, for messages.
	Name string
	// BaseURL is the app's base URL (scheme, host, optional path prefix), never shown to
	// callers in messages (a local app's is a loopback address).
	BaseURL string
	// UserAgent is sent as User-Agent (the Python app sends flyte-webhook/<name>).
	UserAgent string
	// ForwardCredentials sends the caller's Authorization and Cookie along.
	ForwardCredentials bool
	// Timeout bounds the whole call, answer included (CodeDeadlineExceeded), and MaxBytes the
	// answer's body (CodeBadGateway). TimeoutKey and MaxBytesKey name their config keys in
	// messages.
	Timeout                 time.Duration
	MaxBytes                int64
	TimeoutKey, MaxBytesKey string
}

var errAppTimeout = errors.New("app call timeout")

// SendAppCall sends one request to an app with client, which must not follow redirects,
// and returns the app's answer whatever its status: the one implementation of call_app's
// rules for every backend. The call's path must be clean (AppPath's result, without a
// query) and its query MergeQuery's; its method one of AppMethods. The request carries only
// Content-Type: application/json, User-Agent and, when ForwardCredentials, the caller's
// Authorization and Cookie: nothing else of the caller's request (hop-by-hop headers
// included) reaches the app. The payload goes as the JSON body for AppBodyMethods only. A
// redirect is relayed, not followed; its Location is made absolute against the request and
// left out when it points at the loopback (a local app's own address, which callers must
// never see). An app that does not answer is CodeBadGateway; one too slow,
// CodeDeadlineExceeded; an answer over MaxBytes, CodeBadGateway.
func SendAppCall(ctx context.Context, client *http.Client, call AppCall, t AppTarget) (AppResponse, error) {
	method := strings.ToUpper(call.Method)
	if method == "" {
		method = http.MethodGet
	}
	if !AppMethods[method] {
		return AppResponse{}, Errorf(CodeInvalidInput, "method %q: one of GET, POST, PUT, PATCH, DELETE, HEAD is allowed", call.Method)
	}
	path, inPath, err := AppPath(call.Path)
	if err != nil {
		return AppResponse{}, err
	}
	if inPath != nil || path != call.Path {
		return AppResponse{}, Errorf(CodeInvalidInput, "path %q: an absolute path without a query (the query goes in RawQuery: see MergeQuery)", call.Path)
	}
	if _, err := url.ParseQuery(call.RawQuery); err != nil {
		return AppResponse{}, Errorf(CodeInvalidInput, "query %q does not parse", call.RawQuery)
	}
	base, err := url.Parse(t.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return AppResponse{}, Errorf(CodeBadGateway, "app %q has no usable address", t.Name)
	}
	target := base.Scheme + "://" + base.Host + strings.TrimRight(base.EscapedPath(), "/") + path
	if call.RawQuery != "" {
		target += "?" + call.RawQuery
	}
	var body io.Reader
	if call.Payload != nil && AppBodyMethods[method] {
		js, err := json.Marshal(call.Payload) // json.Number keeps large integers as they came
		if err != nil {
			return AppResponse{}, Errorf(CodeInvalidInput, "payload cannot be encoded as JSON: %v", err)
		}
		body = bytes.NewReader(js)
	}
	cctx, cancel := context.WithTimeoutCause(ctx, t.Timeout, errAppTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, method, target, body)
	if err != nil {
		return AppResponse{}, Wrap(CodeInvalidInput, err, "the call cannot be made")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", t.UserAgent)
	if t.ForwardCredentials {
		creds := CredentialsFrom(ctx)
		if creds.Authorization != "" {
			req.Header.Set("Authorization", creds.Authorization)
		}
		if creds.Cookie != "" {
			req.Header.Set("Cookie", creds.Cookie)
		}
	}
	res, err := client.Do(req)
	if err != nil {
		return AppResponse{}, appCallError(cctx, ctx, t, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, t.MaxBytes+1))
	if err != nil {
		return AppResponse{}, appCallError(cctx, ctx, t, err)
	}
	if int64(len(raw)) > t.MaxBytes {
		return AppResponse{}, Errorf(CodeBadGateway, "app %q answered more than %d bytes (%s)", t.Name, t.MaxBytes, t.MaxBytesKey)
	}
	return AppResponse{
		Status:      res.StatusCode,
		ContentType: res.Header.Get("Content-Type"),
		Body:        raw,
		Location:    relayedLocation(req.URL, res.Header.Get("Location")),
	}, nil
}

// appCallError classifies a failed call: our timeout, the caller gone, or no (complete)
// answer. The message never carries the app's address.
func appCallError(cctx, ctx context.Context, t AppTarget, err error) error {
	switch {
	case errors.Is(context.Cause(cctx), errAppTimeout):
		return Wrap(CodeDeadlineExceeded, err, fmt.Sprintf("app %s did not answer within %s (%s)", strconv.Quote(t.Name), t.Timeout, t.TimeoutKey))
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return Wrap(CodeBadGateway, err, "app "+strconv.Quote(t.Name)+" did not answer")
}

// relayedLocation is the Location to relay from an answer to a request for reqURL: resolved
// to an absolute URL, and "" when it points at the loopback (a relative one does when the
// app itself is there), which callers must never see.
func relayedLocation(reqURL *url.URL, loc string) string {
	if loc == "" {
		return ""
	}
	u, err := reqURL.Parse(loc)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
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
