package flyte

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// appInfo is what call_app needs of an app, cached for cache_ttl per caller.
type appInfo struct {
	publicURL string
	active    bool
}

// GetApp reads an app (AppService/Get).
func (b *Backend) GetApp(ctx context.Context, ref controlplane.AppRef) (controlplane.App, error) {
	leave, err := b.enter()
	if err != nil {
		return controlplane.App{}, err
	}
	defer leave()
	_, view, id, err := b.getApp(ctx, ref)
	if err != nil {
		return controlplane.App{}, err
	}
	return b.appFromView(view, id), nil
}

func (b *Backend) getApp(ctx context.Context, ref controlplane.AppRef) (json.RawMessage, *appView, appID, error) {
	project, domain := b.scope(ref.Project, ref.Domain)
	id := appID{Org: b.cfg.Org, Project: project, Domain: domain, Name: ref.Name}
	res, err := call(ctx, b, b.p.getApp, &getAppRequest{AppID: id})
	if err != nil {
		return nil, nil, id, notFound(err, "app %q not found in project %s domain %s", ref.Name, project, domain)
	}
	view, err := parseApp(res.App)
	if err != nil {
		return nil, nil, id, err
	}
	b.endpoints.put(appKey(ctx, id), appInfo{publicURL: view.Status.Ingress.PublicURL, active: appActive(view)})
	return res.App, view, id, nil
}

func parseApp(raw json.RawMessage) (*appView, error) {
	var v appView
	if len(raw) == 0 {
		return &v, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, controlplane.Wrap(controlplane.CodeBadGateway, err, "the control plane sent an app that cannot be read")
	}
	return &v, nil
}

func appKey(ctx context.Context, id appID) string {
	return credentialsKey(ctx) + "\x00" + id.Project + "/" + id.Domain + "/" + id.Name
}

// lastStatus is the deployment status of the app's last condition, "" without one.
func lastStatus(v *appView) string {
	if n := len(v.Status.Conditions); n > 0 {
		return v.Status.Conditions[n-1].DeploymentStatus
	}
	return ""
}

func appActive(v *appView) bool {
	switch lastStatus(v) {
	case "DEPLOYMENT_STATUS_ACTIVE", "DEPLOYMENT_STATUS_STARTED", "DEPLOYMENT_STATUS_SCALING_UP", "DEPLOYMENT_STATUS_SCALING_DOWN":
		return true
	}
	return false
}

func appStopped(v *appView) bool {
	s := lastStatus(v)
	return s == "DEPLOYMENT_STATUS_STOPPED" || (s == "" && v.Spec.DesiredState == "DESIRED_STATE_STOPPED")
}

func (b *Backend) appFromView(v *appView, id appID) controlplane.App {
	name := v.Metadata.ID.Name
	if name == "" {
		name = id.Name
	}
	return controlplane.App{
		Name:        name,
		Revision:    int64(v.Metadata.Revision),
		Endpoint:    v.Status.Ingress.PublicURL,
		Active:      appActive(v),
		Deactivated: appStopped(v),
		URL:         b.appURL(id.Project, id.Domain, name),
	}
}

// SetAppActive sets the app's desired state (AppService/Update with the app as Get returned
// it, so fields this backend does not know are kept). With Wait it reads the app every
// app_poll_interval until its last condition is ACTIVE (or STOPPED), for at most
// app_wait_timeout.
func (b *Backend) SetAppActive(ctx context.Context, req controlplane.SetAppActiveRequest) (controlplane.App, error) {
	leave, err := b.enter()
	if err != nil {
		return controlplane.App{}, err
	}
	defer leave()
	raw, view, id, err := b.getApp(ctx, req.App)
	if err != nil {
		return controlplane.App{}, err
	}
	want, verb := "DESIRED_STATE_STOPPED", "deactivate"
	if req.Active {
		want, verb = "DESIRED_STATE_ACTIVE", "activate"
	}
	already := view.Spec.DesiredState == want || (req.Active && view.Spec.DesiredState == "DESIRED_STATE_STARTED")
	if !already {
		app, err := withDesiredState(raw, want)
		if err != nil {
			return controlplane.App{}, controlplane.Wrap(controlplane.CodeBadGateway, err, "the control plane sent an app that cannot be updated")
		}
		res, err := call(ctx, b, b.p.updateApp, &updateAppRequest{App: app, Reason: "flyte-webhook: " + verb})
		if err != nil {
			return controlplane.App{}, notFound(err, "app %q not found", req.App.Name)
		}
		if len(res.App) > 0 {
			if view, err = parseApp(res.App); err != nil {
				return controlplane.App{}, err
			}
		}
	}
	b.endpoints.remove(appKey(ctx, id))
	reached := func(v *appView) bool {
		if req.Active {
			return appActive(v)
		}
		return appStopped(v)
	}
	if !req.Wait || reached(view) {
		return b.appFromView(view, id), nil
	}
	deadline := time.NewTimer(b.cfg.AppWaitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(b.cfg.AppPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return controlplane.App{}, ctx.Err()
		case <-deadline.C:
			return controlplane.App{}, controlplane.Errorf(controlplane.CodeDeadlineExceeded,
				"app %q did not %s within %s (its last status: %s)", req.App.Name, verb, b.cfg.AppWaitTimeout, strings.ToLower(strings.TrimPrefix(lastStatus(view), "DEPLOYMENT_STATUS_")))
		case <-tick.C:
		}
		_, v, _, err := b.getApp(ctx, req.App)
		if err != nil {
			return controlplane.App{}, err
		}
		if view = v; reached(view) {
			return b.appFromView(view, id), nil
		}
	}
}

// withDesiredState returns the app with spec.desiredState replaced, every other field as it
// came.
func withDesiredState(raw json.RawMessage, state string) (json.RawMessage, error) {
	var app map[string]json.RawMessage
	if err := json.Unmarshal(raw, &app); err != nil {
		return nil, err
	}
	spec := map[string]json.RawMessage{}
	if s, ok := app["spec"]; ok {
		if err := json.Unmarshal(s, &spec); err != nil {
			return nil, err
		}
	}
	spec["desiredState"], _ = json.Marshal(state)
	var err error
	if app["spec"], err = json.Marshal(spec); err != nil {
		return nil, err
	}
	return json.Marshal(app)
}

// CallApp sends one request to the app's public URL (read with AppService/Get, cached for
// cache_ttl): the path and query checked and merged by controlplane.AppPath and MergeQuery,
// the payload as JSON, User-Agent flyte-webhook/<name>, and the caller's credentials only for
// the apps in forward_credentials_apps. Redirects are answers, not followed. No header of the
// app's answer but Content-Type is relayed.
func (b *Backend) CallApp(ctx context.Context, ac controlplane.AppCall) (controlplane.AppResponse, error) {
	leave, err := b.enter()
	if err != nil {
		return controlplane.AppResponse{}, err
	}
	defer leave()
	info, err := b.appEndpoint(ctx, ac.App)
	if err != nil {
		return controlplane.AppResponse{}, err
	}
	if !info.active || info.publicURL == "" {
		return controlplane.AppResponse{}, controlplane.Errorf(controlplane.CodeConflict, "app %q is not active", ac.App.Name)
	}
	// The rules (method, path, headers, payload, limits, redirects) are controlplane's, the
	// same for every backend.
	return controlplane.SendAppCall(ctx, b.apps, ac, controlplane.AppTarget{
		Name: ac.App.Name, BaseURL: info.publicURL, UserAgent: "flyte-webhook/" + b.cfg.Name,
		ForwardCredentials: b.forward[ac.App.Name],
		Timeout:            b.cfg.CallAppTimeout, TimeoutKey: "call_app_timeout",
		MaxBytes: b.cfg.CallAppMaxResponseBytes, MaxBytesKey: "call_app_max_response_bytes",
	})
}

// appEndpoint returns the app's public URL and whether it is active.
func (b *Backend) appEndpoint(ctx context.Context, ref controlplane.AppRef) (appInfo, error) {
	project, domain := b.scope(ref.Project, ref.Domain)
	if info, ok := b.endpoints.get(appKey(ctx, appID{Project: project, Domain: domain, Name: ref.Name})); ok {
		return info, nil
	}
	_, view, _, err := b.getApp(ctx, ref)
	if err != nil {
		return appInfo{}, err
	}
	return appInfo{publicURL: view.Status.Ingress.PublicURL, active: appActive(view)}, nil
}
