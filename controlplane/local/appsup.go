package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// The supervisor: one goroutine per declared app (appSup.run) keeps the app's process in the
// state it is wanted in. Wanted active, it starts the process (in its own process group, with
// the small environment tasks get and PORT), probes its health path until it answers 2xx
// (starting → running), and when the process exits by itself records the crash and starts it
// again after a backoff (1s, doubling, at most a minute; back to 1s after a process that ran
// a minute). Wanted inactive, it stops the process: SIGTERM to the group, SIGKILL after
// AbortGrace. Whatever wakes the loop (a change of the wanted state, of the declaration, the
// app's removal, Close) makes it look at the state again (kick).

// Restart backoff after a crash.
const (
	appBackoffFirst = time.Second
	appBackoffMax   = time.Minute
)

// appBackoff is the wait before the restart that follows failures crashes in a row.
func appBackoff(failures int) time.Duration {
	if failures >= 6 { // 1s << 6 is past the cap already
		return appBackoffMax
	}
	return min(appBackoffFirst<<failures, appBackoffMax)
}

// appHooks are the supervisor's clock and backoff wait, replaced by tests (export_test.go).
type appHooks struct {
	now func() time.Time
	// backoff returns a channel closed once the wait d before restarting app is over (ctx
	// ends with the backend).
	backoff func(ctx context.Context, app string, d time.Duration) <-chan struct{}
}

func (h *appHooks) clock() time.Time {
	if h != nil && h.now != nil {
		return h.now()
	}
	return time.Now()
}

func (h *appHooks) wait(ctx context.Context, app string, d time.Duration) <-chan struct{} {
	if h != nil && h.backoff != nil {
		return h.backoff(ctx, app, d)
	}
	ch := make(chan struct{})
	time.AfterFunc(d, func() { close(ch) })
	return ch
}

// appSup supervises one app.
type appSup struct {
	b    *Backend
	name string
	log  *slog.Logger
	kick chan struct{} // buffered (1): look at the wanted state again
	// after, when not nil, is closed once a previous supervisor of the same name (of an app
	// a reload removed) has stopped its process: this one starts nothing before.
	after <-chan struct{}
	done  chan struct{} // closed when run has returned

	// wantMu orders the wanted state's writes (SQLite, then memory), so the two agree.
	wantMu sync.Mutex

	mu       sync.Mutex
	decl     *app
	revision int64
	wanted   bool
	removed  bool
	status   controlplane.AppStatus
	gen      int  // counts processes started; a health probe speaks for its own only
	port     int  // of the current process, 0 without one
	running  *app // the declaration the current process was started with, nil without one
	restarts int
	lastErr  string
	changed  chan struct{} // closed and replaced at every change (see watch)
}

func newAppSup(b *Backend, a *app, row appRow, after <-chan struct{}) *appSup {
	return &appSup{
		b: b, name: a.Ref.Name, log: b.log.With("app", a.Ref.Name), kick: make(chan struct{}, 1), after: after, done: make(chan struct{}),
		decl: a, revision: row.Revision, wanted: row.Active, status: controlplane.AppStopped, changed: make(chan struct{}),
	}
}

// poke wakes the loop.
func (s *appSup) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// update changes the state under mu and tells the waiters (see watch).
func (s *appSup) update(f func()) {
	s.mu.Lock()
	f()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// watch returns the state as the app (and a channel closed at its next change).
func (s *appSup) watch() (controlplane.App, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appLocked(), s.changed
}

func (s *appSup) appLocked() controlplane.App {
	a := controlplane.App{
		Name:        s.name,
		Revision:    s.revision,
		Active:      s.wanted && s.status == controlplane.AppRunning && s.running == s.decl,
		Deactivated: !s.wanted && s.status == controlplane.AppStopped,
		URL:         s.b.appURL(s.name),
		Status:      s.status,
		Restarts:    s.restarts,
		LastError:   s.lastErr,
	}
	if s.port != 0 {
		a.Endpoint = "http://127.0.0.1:" + strconv.Itoa(s.port)
	}
	return a
}

// setWanted records the wanted state (durably first) and wakes the loop. An activation of an
// app not wanted before starts its restart count and last error afresh.
func (s *appSup) setWanted(ctx context.Context, active bool) error {
	s.wantMu.Lock()
	defer s.wantMu.Unlock()
	if err := s.b.st.setAppActive(ctx, s.name, active); err != nil {
		return err
	}
	s.update(func() {
		if active && !s.wanted {
			s.restarts, s.lastErr = 0, ""
		}
		s.wanted = active
	})
	s.poke()
	return nil
}

// redeclare takes a changed declaration (a reload): the loop stops the process and starts
// the new one when the app is wanted active.
func (s *appSup) redeclare(a *app, revision int64) {
	s.update(func() { s.decl, s.revision = a, revision })
	s.poke()
}

// remove ends the supervision (a reload removed the app): the process is stopped.
func (s *appSup) remove() {
	s.update(func() { s.removed = true })
	s.poke()
}

// want is what the loop should do now.
func (s *appSup) want() (decl *app, wanted, removed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.decl, s.wanted, s.removed
}

// keeps reports whether a process started for decl is still wanted.
func (s *appSup) keeps(decl *app) bool {
	d, wanted, removed := s.want()
	return wanted && !removed && d == decl
}

// run is the supervision loop; it returns once ctx has ended (Close) or the app was removed,
// with no process left.
func (s *appSup) run(ctx context.Context) {
	defer close(s.done)
	if s.after != nil {
		select {
		case <-s.after:
		case <-ctx.Done():
			return
		}
	}
	failures := 0
	crashed := false
	for {
		decl, wanted, removed := s.want()
		if ctx.Err() != nil || removed {
			return
		}
		if !wanted {
			failures, crashed = 0, false
			s.update(func() {
				if s.status == controlplane.AppCrashed { // deactivated while waiting to restart
					s.status = controlplane.AppStopped
				}
			})
			select {
			case <-s.kick:
			case <-ctx.Done():
			}
			continue
		}
		if crashed {
			s.update(func() { s.restarts++ })
			crashed = false
		}
		ran, err := s.runOnce(ctx, decl)
		if err == nil {
			continue // stopped on purpose: look at what is wanted now
		}
		crashed = true
		if ran >= appBackoffMax {
			failures = 0
		}
		d := appBackoff(failures)
		failures++
		s.log.Warn("app crashed; restarting it after a backoff", "error", err.Error(), "backoff_ms", d.Milliseconds())
		select {
		case <-s.b.cfg.appHooks.wait(ctx, s.name, d):
		case <-s.kick: // deactivated, redeclared, removed or activated again: look now
		case <-ctx.Done():
		}
	}
}

// runOnce starts decl's process and returns once it has exited: with a nil error when the
// supervisor stopped it (no longer wanted, redeclared, removed, Close), else with why it
// crashed, and how long it ran.
func (s *appSup) runOnce(ctx context.Context, decl *app) (time.Duration, error) {
	fail := func(err error) (time.Duration, error) {
		s.update(func() { s.status, s.port, s.lastErr = controlplane.AppCrashed, 0, err.Error() })
		return 0, err
	}
	port := decl.Port
	if port == 0 {
		var err error
		if port, err = freeLoopbackPort(); err != nil {
			return fail(fmt.Errorf("cannot find a free port: %w", err))
		}
	}
	instance := newInstance()
	if err := s.b.st.setAppInstance(ctx, s.name, instance); err != nil {
		if ctx.Err() != nil {
			return 0, nil
		}
		return fail(fmt.Errorf("cannot record the start: %w", err))
	}
	env, missing := smallEnv(decl.Env, decl.Secrets)
	if missing != "" {
		return fail(fmt.Errorf("secret %s is not set in the server's environment", missing))
	}
	env = append(env, "PORT="+strconv.Itoa(port), "FLYTE_WEBHOOK_APP="+s.name, "FLYTE_WEBHOOK_APP_INSTANCE="+instance)
	stdout, stderr := s.b.appLogs(s.name)

	pctx, stop := context.WithCancel(ctx)
	defer stop()
	// As for tasks (see attempt.go): SIGTERM to the group when pctx ends, SIGKILL to the
	// leader and the pipes closed AbortGrace later, what is left of the group killed after.
	cmd := exec.CommandContext(pctx, decl.Command[0], decl.Command[1:]...)
	cmd.Dir = decl.Workdir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return signalGroup(cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = s.b.cfg.AbortGrace
	started, exited := make(chan error, 1), make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that started the child exits: hold it until the
		// child is reaped.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		err := cmd.Wait()
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		exited <- err
	}()
	if err := <-started; err != nil {
		stdout.Close()
		stderr.Close()
		return fail(fmt.Errorf("cannot start %q: %v", decl.Command[0], err))
	}
	t0 := s.b.cfg.appHooks.clock()
	var gen int
	s.update(func() {
		s.gen++
		gen = s.gen
		s.status, s.port, s.running = controlplane.AppStarting, port, decl
	})
	s.log.Info("app started", "pid", cmd.Process.Pid, "port", port)
	go s.probe(pctx, decl, gen, port)

	stopping := false
	done := ctx.Done()
	for {
		select {
		case werr := <-exited:
			stdout.Close()
			stderr.Close()
			ran := s.b.cfg.appHooks.clock().Sub(t0)
			if stopping || ctx.Err() != nil {
				s.update(func() { s.status, s.port, s.running = controlplane.AppStopped, 0, nil })
				s.log.Info("app stopped")
				return ran, nil
			}
			why := crashText(werr) + tail(stderr.path, stdout.path)
			s.update(func() { s.status, s.port, s.running, s.lastErr = controlplane.AppCrashed, 0, nil, why })
			return ran, errors.New(why)
		case <-s.kick:
			if !stopping && !s.keeps(decl) {
				stopping = true
				stop()
			}
		case <-done:
			stopping, done = true, nil
		}
	}
}

// crashText says how a process that was not asked to stop ended.
func crashText(err error) string {
	var exit *exec.ExitError
	switch {
	case err == nil:
		return "exited with code 0, but an app is expected to keep serving"
	case errors.As(err, &exit):
		return "exited: " + exitText(exit)
	}
	return "exited: " + err.Error()
}

// probe GETs the app's health path until it answers 2xx, then marks process gen running. It
// ends with pctx (the process stopped). Past the declared start_timeout it keeps in the last
// error why the app is not healthy yet (the latest reason), and logs each new reason once.
func (s *appSup) probe(pctx context.Context, decl *app, gen, port int) {
	url := "http://127.0.0.1:" + strconv.Itoa(port) + decl.HealthPath
	deadline := time.Now().Add(decl.StartTimeout)
	last := ""
	delay := 20 * time.Millisecond
	for {
		why := probeOnce(pctx, s.b.apps.probeClient, url)
		if why == "" {
			s.update(func() {
				if s.gen == gen && s.status == controlplane.AppStarting && pctx.Err() == nil {
					s.status = controlplane.AppRunning
				}
			})
			s.log.Info("app healthy", "port", port)
			return
		}
		if why != last && time.Now().After(deadline) {
			last = why
			msg := fmt.Sprintf("not healthy after %s (start_timeout): %s", decl.StartTimeout, why)
			s.update(func() {
				if s.gen == gen && s.status == controlplane.AppStarting {
					s.lastErr = msg
				}
			})
			s.log.Warn("app not healthy yet", "error", msg)
		}
		select {
		case <-pctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

// probeOnce returns "" when url answers 2xx, else why not.
func probeOnce(ctx context.Context, c *http.Client, url string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	res, err := c.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return "GET " + url + ": " + op.Err.Error()
		}
		return "GET " + url + ": no answer"
	}
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return "GET " + url + " answered " + res.Status
	}
	return ""
}

// appLogs opens the capped log files of an app's next process,
// data_dir/logs/app-<name>.{stdout,stderr}.log; the previous process's are kept as
// app-<name>.prev.{stdout,stderr}.log. So an app's logs take at most four times
// LogMaxBytes, however often it restarts.
func (b *Backend) appLogs(name string) (stdout, stderr *cappedFile) {
	dir := filepath.Join(b.cfg.DataDir, "logs")
	open := func(stream string) *cappedFile {
		cur := filepath.Join(dir, "app-"+name+"."+stream+".log")
		prev := filepath.Join(dir, "app-"+name+".prev."+stream+".log")
		if err := os.Rename(cur, prev); errors.Is(err, os.ErrNotExist) {
			_ = os.Remove(prev) // that start wrote nothing: its predecessor's log is older still
		}
		return newCappedFile(cur, b.cfg.LogMaxBytes)
	}
	return open("stdout"), open("stderr")
}

// freeLoopbackPort asks the kernel for a free port on 127.0.0.1. Another process could take
// it before the app binds it: the app then fails to start, and is started again on another.
func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// newInstance returns a random marker for an app's process (FLYTE_WEBHOOK_APP_INSTANCE): as
// random as run names, so no process but ours carries one (see killMarked).
func newInstance() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
