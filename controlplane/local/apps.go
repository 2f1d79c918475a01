package local

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// Apps: the workspace declares them (workspace_apps.go), a supervisor per app runs them
// (appsup.go), SQLite keeps what each is wanted to be (store_apps.go), and CallApp talks to
// them (appcall.go).
//
// get_app's is_active means wanted active and serving (status running); is_deactivated means
// wanted inactive and stopped. Both are false on the way from one to the other: starting, a
// crash being restarted, a process being stopped.

// appSet is the backend's apps: one supervisor per declared app.
type appSet struct {
	mu   sync.Mutex
	sups map[string]*appSup
	// leaving holds, by name, the done channel of the supervisor of an app a reload removed,
	// while it stops its process: an app of the same name declared again waits for it.
	leaving map[string]<-chan struct{}
	// ctx ends when the backend closes: every supervisor stops its process and returns.
	ctx    context.Context
	cancel context.CancelFunc
	loops  sync.WaitGroup

	probeClient *http.Client // health checks
	callClient  *http.Client // call_app
}

func newAppSet() *appSet {
	ctx, cancel := context.WithCancel(context.Background())
	// The apps are on 127.0.0.1: no proxy from the environment, ever. Redirects are answers
	// (call_app relays them; a health path must answer 2xx itself).
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil
	noRedirects := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &appSet{
		sups: map[string]*appSup{}, leaving: map[string]<-chan struct{}{}, ctx: ctx, cancel: cancel,
		probeClient: &http.Client{Transport: transport, CheckRedirect: noRedirects, Timeout: 2 * time.Second},
		callClient:  &http.Client{Transport: transport, CheckRedirect: noRedirects},
	}
}

// openApps kills what the processes of a previous server's apps left behind (Pdeathsig took
// their leaders; what they started carries their FLYTE_WEBHOOK_APP_INSTANCE), registers the
// declared apps, and starts their supervisors: an app wanted active before the stop (or the
// kill -9) starts again.
func (b *Backend) openApps(ctx context.Context, ws *workspace) error {
	b.apps = newAppSet()
	instances, err := b.st.appInstances(ctx)
	if err != nil {
		return err
	}
	if n := killMarked("FLYTE_WEBHOOK_APP_INSTANCE", instances); n > 0 {
		b.log.Warn("killed app processes a previous server left behind", "processes", n)
	}
	rows, err := b.st.registerApps(ctx, ws.apps)
	if err != nil {
		return err
	}
	b.applyApps(ws.apps, rows)
	active := 0
	for _, r := range rows {
		if r.Active {
			active++
		}
	}
	if len(rows) > 0 {
		b.log.Info("apps loaded", "apps", len(rows), "wanted_active", active)
	}
	return nil
}

// applyApps brings the supervisors in line with a (re)loaded workspace: a removed app is
// stopped; a changed one is stopped and, when wanted active, started with its new
// declaration; a new one is supervised in its stored wanted state.
func (b *Backend) applyApps(apps map[string]*app, rows map[string]appRow) {
	set := b.apps
	set.mu.Lock()
	defer set.mu.Unlock()
	for name, sup := range set.sups {
		if apps[name] == nil {
			sup.remove()
			delete(set.sups, name)
			set.leaving[name] = sup.done
			b.log.Info("app removed from the workspace; stopping it", "app", name)
		}
	}
	for name, a := range apps {
		row := rows[name]
		if sup := set.sups[name]; sup != nil {
			if d, _, _ := sup.want(); d.Hash != a.Hash {
				b.log.Info("app declaration changed", "app", name, "revision", row.Revision)
				sup.redeclare(a, row.Revision)
			}
			continue
		}
		after := set.leaving[name]
		delete(set.leaving, name)
		sup := newAppSup(b, a, row, after)
		set.sups[name] = sup
		set.loops.Add(1)
		go func() {
			defer set.loops.Done()
			sup.run(set.ctx)
		}()
	}
}

// stopApps has every supervisor stop its app (Close); waitApps waits until they have. The
// wanted states stay as they are, for the next start.
func (b *Backend) stopApps() {
	if b.apps != nil {
		b.apps.cancel()
	}
}

func (b *Backend) waitApps() {
	if b.apps != nil {
		b.apps.loops.Wait()
	}
}

// lookup finds an app's supervisor; a domain or project given must be the app's ("" means
// any: app names are unique in the workspace).
func (set *appSet) lookup(ref controlplane.AppRef) (*appSup, error) {
	set.mu.Lock()
	sup := set.sups[ref.Name]
	set.mu.Unlock()
	if sup != nil {
		d, _, _ := sup.want()
		if (ref.Domain == "" || ref.Domain == d.Ref.Domain) && (ref.Project == "" || ref.Project == d.Ref.Project) {
			return sup, nil
		}
	}
	where := ""
	if ref.Domain != "" || ref.Project != "" {
		where = fmt.Sprintf(" in %s/%s", orAny(ref.Domain), orAny(ref.Project))
	}
	return nil, controlplane.Errorf(controlplane.CodeNotFound, "app %q not found%s", ref.Name, where)
}

func orAny(s string) string {
	if s == "" {
		return "*"
	}
	return s
}

func (b *Backend) appURL(name string) string {
	return strings.TrimRight(b.cfg.BaseURL, "/") + "/app/" + name
}

// GetApp describes an app.
func (b *Backend) GetApp(ctx context.Context, ref controlplane.AppRef) (controlplane.App, error) {
	if _, err := b.caller(ctx); err != nil {
		return controlplane.App{}, err
	}
	sup, err := b.apps.lookup(ref)
	if err != nil {
		return controlplane.App{}, err
	}
	a, _ := sup.watch()
	return a, nil
}

// SetAppActive records whether an app is wanted active (durably: it is restored at the next
// start) and has its supervisor start or stop it. With Wait, an activation answers once the
// app is healthy, or CodeDeadlineExceeded after its start_timeout (the app keeps starting);
// a deactivation answers once its process has exited.
func (b *Backend) SetAppActive(ctx context.Context, req controlplane.SetAppActiveRequest) (controlplane.App, error) {
	who, err := b.caller(ctx)
	if err != nil {
		return controlplane.App{}, err
	}
	if b.draining.Err() != nil {
		return controlplane.App{}, errClosed
	}
	sup, err := b.apps.lookup(req.App)
	if err != nil {
		return controlplane.App{}, err
	}
	if err := sup.setWanted(ctx, req.Active); err != nil {
		return controlplane.App{}, err
	}
	b.log.Info(map[bool]string{true: "app activated", false: "app deactivated"}[req.Active], "app", sup.name,
		"caller", who.Subject, "request_id", controlplane.RequestIDFrom(ctx), "wait", req.Wait)
	if !req.Wait {
		a, _ := sup.watch()
		return a, nil
	}
	return sup.waitFor(ctx, req.Active)
}

// waitFor waits until the app is active (serving) or deactivated (stopped), bounded by its
// start_timeout (activation) or by how long a stop can take (AbortGrace, and then some).
func (s *appSup) waitFor(ctx context.Context, active bool) (controlplane.App, error) {
	d, _, _ := s.want()
	limit := d.StartTimeout
	if !active {
		limit = s.b.cfg.AbortGrace + 10*time.Second
	}
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		a, changed := s.watch()
		s.mu.Lock()
		wanted, removed := s.wanted, s.removed
		s.mu.Unlock()
		switch {
		case removed:
			return a, controlplane.Errorf(controlplane.CodeNotFound, "app %q was removed from the workspace meanwhile", s.name)
		case wanted != active:
			return a, controlplane.Errorf(controlplane.CodeConflict, "app %q was %s meanwhile", s.name, map[bool]string{true: "activated", false: "deactivated"}[wanted])
		case active && a.Active, !active && a.Deactivated:
			return a, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return a, ctx.Err()
		case <-timer.C:
			if active {
				why := ""
				if a.LastError != "" {
					why = "; last error: " + a.LastError
				}
				return a, controlplane.Errorf(controlplane.CodeDeadlineExceeded, "app %q is not healthy after %s (its start_timeout; status %s); it keeps starting%s", s.name, limit, a.Status, why)
			}
			return a, controlplane.Errorf(controlplane.CodeDeadlineExceeded, "app %q has not stopped after %s (status %s)", s.name, limit, a.Status)
		}
	}
}
