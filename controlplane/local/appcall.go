package local

import (
	"context"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

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
	a, decl, stale := sup.callable()
	if !a.Active {
		return controlplane.AppResponse{}, notActive(a, stale)
	}
	// The rules (method, path, headers, payload, limits, redirects) are controlplane's, the
	// same for every backend.
	return controlplane.SendAppCall(ctx, b.apps.callClient, call, controlplane.AppTarget{
		Name: a.Name, BaseURL: a.Endpoint, UserAgent: "flyte-webhook/" + b.cfg.WebhookName,
		ForwardCredentials: decl.ForwardCredentials,
		Timeout:            b.cfg.CallTimeout, TimeoutKey: "call_timeout",
		MaxBytes: b.cfg.CallMaxBytes, MaxBytesKey: "call_max_bytes",
	})
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
