package local_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
)

// The supervisor, against real processes: the test binary serving HTTP (helper kind "app").

func appRef(name string) controlplane.AppRef {
	return controlplane.AppRef{Domain: "test", Project: "conformance", Name: name}
}

func setActive(t *testing.T, b *local.Backend, name string, active bool) controlplane.App {
	t.Helper()
	a, err := b.SetAppActive(context.Background(), controlplane.SetAppActiveRequest{App: appRef(name), Active: active, Wait: true})
	if err != nil {
		t.Fatalf("set %s active=%v: %v", name, active, err)
	}
	return a
}

func getApp(t *testing.T, b *local.Backend, name string) controlplane.App {
	t.Helper()
	a, err := b.GetApp(context.Background(), appRef(name))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// waitApp polls until cond holds (liveness only, with a generous bound).
func waitApp(t *testing.T, b *local.Backend, name string, cond func(controlplane.App) bool) controlplane.App {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		a := getApp(t, b, name)
		if cond(a) {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("app %s: condition never held: %+v", name, a)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// appEnv asks the app helper for its environment, pid and process group.
type appEnv struct {
	Env       []string
	Pid, Pgid int
}

func envOf(t *testing.T, b *local.Backend, name string) appEnv {
	t.Helper()
	res, err := b.CallApp(context.Background(), controlplane.AppCall{App: appRef(name), Method: "GET", Path: "/env"})
	if err != nil {
		t.Fatal(err)
	}
	var e appEnv
	if err := json.Unmarshal(res.Body, &e); err != nil {
		t.Fatalf("%s: %v", res.Body, err)
	}
	return e
}

// TestAppStartHealthStop: an app starts in its own process group with the small
// environment, becomes healthy, answers, and stops when deactivated.
func TestAppStartHealthStop(t *testing.T) {
	t.Parallel()
	b, cfg := openWithApps(t, []helperTask{}, []helperApp{{name: "web", env: "GREETING: hi"}}, nil)
	a := getApp(t, b, "web")
	if a.Active || !a.Deactivated || a.Status != controlplane.AppStopped || a.Endpoint != "" || a.Revision != 1 || a.URL != "http://127.0.0.1:1/app/web" {
		t.Fatalf("before activation: %+v", a)
	}
	if _, err := b.CallApp(context.Background(), controlplane.AppCall{App: appRef("web"), Method: "GET", Path: "/text"}); controlplane.CodeOf(err) != controlplane.CodeConflict {
		t.Fatalf("call before activation: %v, want conflict", err)
	}

	a = setActive(t, b, "web", true)
	if !a.Active || a.Deactivated || a.Status != controlplane.AppRunning || !strings.HasPrefix(a.Endpoint, "http://127.0.0.1:") {
		t.Fatalf("activated: %+v", a)
	}
	e := envOf(t, b, "web")
	if e.Pgid != e.Pid {
		t.Errorf("the app runs in process group %d, not its own (%d)", e.Pgid, e.Pid)
	}
	allowed := map[string]bool{"PATH": true, "HOME": true, "LANG": true, "TMPDIR": true, "PWD": true, "GREETING": true, "FWH_HELPER": true,
		"FWH_APP_MODE": true, "PORT": true, "FLYTE_WEBHOOK_APP": true, "FLYTE_WEBHOOK_APP_INSTANCE": true}
	for _, kv := range e.Env {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case !allowed[k]:
			t.Errorf("the app's environment has %s, which the server should not hand it", k)
		case k == "PORT" && !strings.HasSuffix(a.Endpoint, ":"+v):
			t.Errorf("PORT=%s, endpoint %s", v, a.Endpoint)
		case k == "GREETING" && v != "hi", k == "FLYTE_WEBHOOK_APP" && v != "web":
			t.Errorf("%s", kv)
		}
	}

	a = setActive(t, b, "web", false)
	if a.Active || !a.Deactivated || a.Status != controlplane.AppStopped || a.Endpoint != "" {
		t.Fatalf("deactivated: %+v", a)
	}
	// deactivate with wait answers once the process has exited.
	if alive(e.Pid) {
		t.Fatalf("deactivate answered while the app's process %d still runs", e.Pid)
	}
	if _, err := b.CallApp(context.Background(), controlplane.AppCall{App: appRef("web"), Method: "GET", Path: "/text"}); controlplane.CodeOf(err) != controlplane.CodeConflict {
		t.Fatalf("call after deactivation: %v, want conflict", err)
	}
	logs, err := os.ReadFile(filepath.Join(cfg.DataDir, "logs", "app-web.stdout.log"))
	if err != nil || !strings.Contains(string(logs), "app listening on port") {
		t.Errorf("stdout log: %q %v", logs, err)
	}
}

// TestAppWaitTimeout: activate with wait answers CodeDeadlineExceeded after the app's
// start_timeout when it is not healthy by then; the app keeps starting, saying why in
// last_error, and is not callable.
func TestAppWaitTimeout(t *testing.T) {
	t.Parallel()
	b, _ := openWithApps(t, []helperTask{}, []helperApp{{name: "sick", mode: "unhealthy", extra: "    start_timeout: 200ms\n"}}, nil)
	a, err := b.SetAppActive(context.Background(), controlplane.SetAppActiveRequest{App: appRef("sick"), Active: true, Wait: true})
	if controlplane.CodeOf(err) != controlplane.CodeDeadlineExceeded || !strings.Contains(controlplane.MessageOf(err), "not healthy after 200ms") ||
		!strings.Contains(controlplane.MessageOf(err), "keeps starting") {
		t.Fatalf("activate, wait: %+v %v, want deadline exceeded", a, err)
	}
	// Until the app listens the check is refused; then it answers 503.
	a = waitApp(t, b, "sick", func(a controlplane.App) bool { return strings.Contains(a.LastError, "503") })
	if a.Status != controlplane.AppStarting || a.Active || a.Deactivated || !strings.Contains(a.LastError, "not healthy after 200ms") {
		t.Fatalf("after the wait: %+v, want still starting, the health check's answer in last_error", a)
	}
	_, err = b.CallApp(context.Background(), controlplane.AppCall{App: appRef("sick"), Method: "GET", Path: "/text"})
	if controlplane.CodeOf(err) != controlplane.CodeConflict || !strings.Contains(controlplane.MessageOf(err), "starting") {
		t.Fatalf("call while starting: %v", err)
	}
	setActive(t, b, "sick", false)
}

// TestAppDeactivateStubborn: an app that ignores SIGTERM is killed after abort_grace, and
// deactivate with wait answers once it is gone.
func TestAppDeactivateStubborn(t *testing.T) {
	t.Parallel()
	b, _ := openWithApps(t, []helperTask{}, []helperApp{{name: "mule", mode: "stubborn"}}, nil)
	setActive(t, b, "mule", true)
	pid := envOf(t, b, "mule").Pid
	if a := setActive(t, b, "mule", false); !a.Deactivated {
		t.Fatalf("%+v", a)
	}
	if alive(pid) {
		t.Fatalf("deactivate answered while the stubborn app %d still runs", pid)
	}
}

// TestAppCrashBackoff: a crashing app is restarted after waits that double up to a minute;
// get_app says it crashed, how often it was restarted and why. The waits are held by the
// test, not slept.
func TestAppCrashBackoff(t *testing.T) {
	t.Parallel()
	waits := make(chan local.AppBackoff)
	b, _ := openWithApps(t, []helperTask{}, []helperApp{{name: "crashy", mode: "crash"}}, func(c *local.Config) { local.HoldAppBackoffs(c, waits) })
	if _, err := b.SetAppActive(context.Background(), controlplane.SetAppActiveRequest{App: appRef("crashy"), Active: true}); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	for i, d := range want {
		w := <-waits
		if w.App != "crashy" || w.Delay != d {
			t.Fatalf("wait %d: %+v, want %s", i, w, d)
		}
		a := getApp(t, b, "crashy")
		if a.Status != controlplane.AppCrashed || a.Restarts != i || a.Active || a.Deactivated ||
			!strings.Contains(a.LastError, "exit code 1") || !strings.Contains(a.LastError, "boom") {
			t.Fatalf("while waiting %s: %+v, want crashed after %d restarts, why in last_error", d, a, i)
		}
		if _, err := b.CallApp(context.Background(), controlplane.AppCall{App: appRef("crashy"), Method: "GET", Path: "/"}); !strings.Contains(controlplane.MessageOf(err), "crashed") {
			t.Fatalf("call of a crashed app: %v", err)
		}
		w.Release()
	}
	// Deactivated while waiting: stopped, and no restart.
	w := <-waits
	if _, err := b.SetAppActive(context.Background(), controlplane.SetAppActiveRequest{App: appRef("crashy"), Active: false, Wait: true}); err != nil {
		t.Fatal(err)
	}
	w.Release()
	if a := getApp(t, b, "crashy"); a.Status != controlplane.AppStopped || !a.Deactivated || a.Restarts != len(want) {
		t.Fatalf("deactivated: %+v", a)
	}
	// Activated again: the count and the backoff start afresh.
	if _, err := b.SetAppActive(context.Background(), controlplane.SetAppActiveRequest{App: appRef("crashy"), Active: true}); err != nil {
		t.Fatal(err)
	}
	if w := <-waits; w.Delay != time.Second {
		t.Fatalf("first wait after a new activation: %s", w.Delay)
	} else {
		if a := getApp(t, b, "crashy"); a.Restarts != 0 {
			t.Errorf("restarts after a new activation: %d", a.Restarts)
		}
		w.Release()
	}
	<-waits // the next crash; Close ends the wait
}

// TestAppBackoffAfreshAfterALongRun: a process that ran for the backoff's cap before it
// crashed was doing fine: the next wait is the first one again. The clock says two minutes
// pass between any two looks at it.
func TestAppBackoffAfreshAfterALongRun(t *testing.T) {
	t.Parallel()
	waits := make(chan local.AppBackoff)
	var ticks atomic.Int64
	clock := func() time.Time { return time.Unix(0, 0).Add(time.Duration(ticks.Add(1)) * 2 * time.Minute) }
	b, _ := openWithApps(t, []helperTask{}, []helperApp{{name: "crashy", mode: "crash"}}, func(c *local.Config) {
		local.HoldAppBackoffs(c, waits)
		local.SetAppClock(c, clock)
	})
	if _, err := b.SetAppActive(context.Background(), controlplane.SetAppActiveRequest{App: appRef("crashy"), Active: true}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		w := <-waits
		if w.Delay != time.Second {
			t.Fatalf("wait %d after long runs: %s, want 1s", i, w.Delay)
		}
		w.Release()
	}
	<-waits
}

func TestAppBackoffSchedule(t *testing.T) {
	t.Parallel()
	for failures, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute} {
		if got := local.AppBackoffFor(failures); got != want {
			t.Errorf("after %d failures: %s, want %s", failures, got, want)
		}
	}
	if got := local.AppBackoffFor(1 << 20); got != time.Minute {
		t.Errorf("after many failures: %s", got)
	}
}

// TestAppMissingSecret: a secret the server does not have fails each start, saying which.
func TestAppMissingSecret(t *testing.T) {
	t.Parallel()
	waits := make(chan local.AppBackoff)
	b, _ := openWithApps(t, []helperTask{}, []helperApp{{name: "secretive", extra: "    secrets: [FWH_NO_SUCH_SECRET]\n"}}, func(c *local.Config) { local.HoldAppBackoffs(c, waits) })
	if _, err := b.SetAppActive(context.Background(), controlplane.SetAppActiveRequest{App: appRef("secretive"), Active: true}); err != nil {
		t.Fatal(err)
	}
	<-waits
	if a := getApp(t, b, "secretive"); a.Status != controlplane.AppCrashed || !strings.Contains(a.LastError, "secret FWH_NO_SUCH_SECRET is not set") {
		t.Fatalf("%+v", a)
	}
}

// TestAppRestoredAfterReopen: the wanted state is kept: an app active when the backend
// closed starts again when it opens, and an inactive one stays stopped.
func TestAppRestoredAfterReopen(t *testing.T) {
	t.Parallel()
	apps := []helperApp{{name: "keep"}, {name: "idle"}}
	b, cfg := openWithApps(t, []helperTask{}, apps, nil)
	setActive(t, b, "keep", true)
	pid := envOf(t, b, "keep").Pid
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Fatalf("the app's process %d outlived Close", pid)
	}
	b2, err := local.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b2.Close(context.Background()) })
	a := waitApp(t, b2, "keep", func(a controlplane.App) bool { return a.Active })
	if a.Revision != 1 || a.Endpoint == "" {
		t.Errorf("restored: %+v", a)
	}
	if a := getApp(t, b2, "idle"); a.Active || !a.Deactivated {
		t.Errorf("an inactive app after a restart: %+v", a)
	}
}

// TestAppReload: a reload that changes an app's declaration bumps its revision and restarts
// it with the new one; one that removes it stops it; declared again, it starts inactive.
func TestAppReload(t *testing.T) {
	t.Parallel()
	b, cfg := openWithApps(t, []helperTask{}, []helperApp{{name: "web", env: "GREETING: v1"}}, nil)
	write := func(apps []helperApp) {
		t.Helper()
		if err := os.WriteFile(cfg.Workspace, []byte("tasks: []\n"+appsYAML(t, apps)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := b.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	setActive(t, b, "web", true)
	first := envOf(t, b, "web")

	write([]helperApp{{name: "web", env: "GREETING: v1"}}) // the same declaration: nothing happens
	if a := getApp(t, b, "web"); a.Revision != 1 || !a.Active || envOf(t, b, "web").Pid != first.Pid {
		t.Fatalf("an unchanged app after a reload: %+v", a)
	}

	write([]helperApp{{name: "web", env: "GREETING: v2"}})
	a := waitApp(t, b, "web", func(a controlplane.App) bool { return a.Active && a.Revision == 2 })
	second := envOf(t, b, "web")
	if second.Pid == first.Pid || !slices.Contains(second.Env, "GREETING=v2") {
		t.Fatalf("after the change: %+v, pid %d (was %d), env %v", a, second.Pid, first.Pid, second.Env)
	}
	waitGone(t, first.Pid, "the app's process before the change")

	write(nil)
	if _, err := b.GetApp(context.Background(), appRef("web")); controlplane.CodeOf(err) != controlplane.CodeNotFound {
		t.Fatalf("a removed app: %v", err)
	}
	waitGone(t, second.Pid, "the process of the app the reload removed")

	write([]helperApp{{name: "web", env: "GREETING: v2"}})
	if a := getApp(t, b, "web"); a.Active || !a.Deactivated || a.Revision != 2 {
		t.Fatalf("declared again: %+v, want inactive at revision 2", a)
	}
}

// TestAppsStopAtClose: Close stops every app with everything it started (its process
// group), and leaves them wanted active for the next start.
func TestAppsStopAtClose(t *testing.T) {
	t.Parallel()
	marks := t.TempDir()
	b, _ := openWithApps(t, []helperTask{}, []helperApp{{name: "parent", mode: "grandchild", env: "FWH_DIR: " + strconv.Quote(marks)}, {name: "mule", mode: "stubborn"}}, nil)
	setActive(t, b, "parent", true)
	setActive(t, b, "mule", true)
	raw, err := os.ReadFile(filepath.Join(marks, "parent.pids"))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(raw)) {
		n, _ := strconv.Atoi(f)
		pids = append(pids, n)
	}
	pids = append(pids, envOf(t, b, "mule").Pid)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d outlived Close", pid)
		}
	}
}
