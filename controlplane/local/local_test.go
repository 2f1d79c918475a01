package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
)

func ref(name string) controlplane.TaskRef {
	return controlplane.TaskRef{Domain: "test", Project: "conformance", Name: name}
}

func start(t *testing.T, b controlplane.Backend, name string, inputs map[string]any) string {
	t.Helper()
	if inputs == nil {
		inputs = map[string]any{}
	}
	run, err := b.RunTask(context.Background(), controlplane.RunTaskRequest{Task: ref(name), Inputs: inputs})
	if err != nil {
		t.Fatalf("RunTask %s: %v", name, err)
	}
	return run.Name
}

func waitDone(t *testing.T, b controlplane.Backend, name string) controlplane.Run {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r, err := b.GetRun(context.Background(), controlplane.RunRef{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if r.Phase.Done() {
			return r
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("run %s not done", name)
	return controlplane.Run{}
}

// waitPhase waits (bounded) until the run is in phase.
func waitPhase(t *testing.T, b controlplane.Backend, name string, phase controlplane.Phase) {
	t.Helper()
	var r controlplane.Run
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var err error
		if r, err = b.GetRun(context.Background(), controlplane.RunRef{Name: name}); err != nil {
			t.Fatal(err)
		}
		if r.Phase == phase {
			return
		}
	}
	t.Fatalf("run %s is %s, not %s", name, r.Phase, phase)
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	b, _ := open(t, []helperTask{{name: "sleep", kind: "sleep", inputs: "[{name: seconds, type: integer}]", outputs: "[{name: slept, type: integer}]", extra: "    timeout: 300ms\n    retries: 3\n"}}, nil)
	r := waitDone(t, b, start(t, b, "sleep", map[string]any{"seconds": json.Number("30")}))
	if r.Phase != controlplane.PhaseTimedOut || r.Attempts != 1 || !strings.Contains(r.Error, "timed out after 300ms") {
		t.Fatalf("%s after %d attempts: %q; want timed_out after one attempt (timeouts are final)", r.Phase, r.Attempts, r.Error)
	}
}

func TestAbortKillsATaskThatIgnoresSIGTERM(t *testing.T) {
	t.Parallel()
	b, cfg := open(t, []helperTask{{name: "stubborn", kind: "stubborn"}}, nil)
	name := start(t, b, "stubborn", nil)
	// The task says so once it ignores SIGTERM; it would then sleep a minute, longer than
	// waitDone waits, so only the SIGKILL after abort_grace ends it in time.
	stdout := filepath.Join(cfg.DataDir, "logs", name+".1.stdout.log")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if got, _ := os.ReadFile(stdout); strings.Contains(string(got), "ignoring SIGTERM") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the task never said it ignores SIGTERM")
		}
	}
	if _, err := b.AbortRun(context.Background(), controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: name}, Reason: "stop"}); err != nil {
		t.Fatal(err)
	}
	r := waitDone(t, b, name)
	if r.Phase != controlplane.PhaseAborted || r.Error != "aborted: stop" {
		t.Fatalf("%s %q", r.Phase, r.Error)
	}
}

func TestAbortQueuedRun(t *testing.T) {
	t.Parallel()
	b, _ := open(t, nil, func(c *local.Config) { c.Concurrency = 1 })
	blocker := start(t, b, "sleep", map[string]any{"seconds": json.Number("30")})
	queued := start(t, b, "echo", map[string]any{"name": "never"})
	run, err := b.AbortRun(context.Background(), controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: queued}, Reason: "not needed"})
	if err != nil || run.Phase != controlplane.PhaseAborted {
		t.Fatalf("abort queued: %v %v", run.Phase, err)
	}
	if _, err := b.AbortRun(context.Background(), controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: blocker}, Reason: "done"}); err != nil {
		t.Fatal(err)
	}
	waitDone(t, b, blocker)
	// One worker takes runs in order: once a run queued after the aborted one has finished,
	// the worker has passed the aborted one.
	waitDone(t, b, start(t, b, "echo", map[string]any{"name": "after"}))
	if r, _ := b.GetRun(context.Background(), controlplane.RunRef{Name: queued}); r.Phase != controlplane.PhaseAborted || r.Attempts != 0 {
		t.Fatalf("an aborted queued run ran: %+v", r)
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	b, _ := open(t, []helperTask{
		{name: "flaky", kind: "flaky", outputs: "[{name: attempt, type: integer}]", extra: "    retries: 1\n"},
		{name: "fail", kind: "fail", extra: "    retries: 2\n"},
	}, nil)
	r := waitDone(t, b, start(t, b, "flaky", nil))
	if r.Phase != controlplane.PhaseSucceeded || r.Attempts != 2 {
		t.Fatalf("flaky: %s after %d attempts (%s)", r.Phase, r.Attempts, r.Error)
	}
	r = waitDone(t, b, start(t, b, "fail", nil))
	if r.Phase != controlplane.PhaseFailed || r.Attempts != 3 || !strings.Contains(r.Error, "exit code 2: boom") {
		t.Fatalf("fail: %s after %d attempts: %q", r.Phase, r.Attempts, r.Error)
	}
}

func TestBadOutputsFail(t *testing.T) {
	t.Parallel()
	b, _ := open(t, []helperTask{
		{name: "badout", kind: "badout", outputs: "[{name: greeting, type: string}]"},
		{name: "missing", kind: "fail", outputs: "[{name: greeting, type: string}]"},
		{name: "silent", kind: "chatty", outputs: "[{name: greeting, type: string}]"},
	}, nil)
	r := waitDone(t, b, start(t, b, "badout", nil))
	if r.Phase != controlplane.PhaseFailed || !strings.Contains(r.Error, `output "greeting": want string, got a number`) {
		t.Fatalf("%s %q", r.Phase, r.Error)
	}
	r = waitDone(t, b, start(t, b, "silent", nil))
	if r.Phase != controlplane.PhaseFailed || !strings.Contains(r.Error, "no outputs file") {
		t.Fatalf("%s %q", r.Phase, r.Error)
	}
}

func TestLogsAreCapped(t *testing.T) {
	t.Parallel()
	b, cfg := open(t, []helperTask{{name: "chatty", kind: "chatty"}}, func(c *local.Config) { c.LogMaxBytes = 4096 })
	name := start(t, b, "chatty", nil)
	if r := waitDone(t, b, name); r.Phase != controlplane.PhaseSucceeded {
		t.Fatalf("%s %q", r.Phase, r.Error)
	}
	st, err := os.Stat(filepath.Join(cfg.DataDir, "logs", name+".1.stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 4096+200 {
		t.Fatalf("stdout.log is %d bytes, cap 4096", st.Size())
	}
	log, err := os.ReadFile(filepath.Join(cfg.DataDir, "logs", name+".1.stdout.log"))
	if err != nil || !strings.Contains(string(log), "more bytes dropped: the log is capped at 4096 bytes") {
		t.Fatalf("the capped log does not say what was dropped (%v): ...%q", err, log[max(0, len(log)-120):])
	}
	// The task wrote nothing to stderr: no empty log is made for it.
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "logs", name+".1.stderr.log")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stderr.log of a silent stream: %v", err)
	}
}

// TestLeastPrivilegeEnv: the task sees only PATH/HOME/LANG/TMPDIR of the server's
// environment, its own env, its declared secrets and our variables.
func TestLeastPrivilegeEnv(t *testing.T) {
	t.Setenv("FWH_TEST_SECRET", "s3cret")
	t.Setenv("FWH_TEST_PRIVATE", "do-not-leak")
	b, _ := open(t, []helperTask{
		{name: "env", kind: "env", outputs: "[{name: env, type: string}]", extra: "    secrets: [FWH_TEST_SECRET]\n"},
		{name: "needs-secret", kind: "env", outputs: "[{name: env, type: string}]", extra: "    secrets: [FWH_TEST_UNSET]\n    retries: 2\n"},
	}, nil)
	name := start(t, b, "env", nil)
	waitDone(t, b, name)
	io, err := b.GetRunIO(context.Background(), controlplane.RunRef{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	env, _ := io.Outputs["env"].(string)
	for _, want := range []string{"FWH_TEST_SECRET=s3cret", "FLYTE_WEBHOOK_RUN=" + name, "FLYTE_WEBHOOK_ATTEMPT=1", "FLYTE_WEBHOOK_INPUTS=", "FWH_HELPER=env"} {
		if !strings.Contains(env, want) {
			t.Errorf("task env lacks %s", want)
		}
	}
	if strings.Contains(env, "do-not-leak") {
		t.Error("the server's environment leaked into the task")
	}
	r := waitDone(t, b, start(t, b, "needs-secret", nil))
	if r.Phase != controlplane.PhaseFailed || r.Attempts != 1 || !strings.Contains(r.Error, "FWH_TEST_UNSET") {
		t.Fatalf("missing secret: %s after %d attempts: %q", r.Phase, r.Attempts, r.Error)
	}
}

// TestConcurrencyBound: never more attempts at once than Concurrency; none dropped.
func TestConcurrencyBound(t *testing.T) {
	t.Parallel()
	marks := t.TempDir()
	b, _ := open(t, []helperTask{{name: "count", kind: "count", env: "FWH_DIR: " + strconv.Quote(marks)}}, func(c *local.Config) { c.Concurrency = 2 })
	var names []string
	for i := 0; i < 8; i++ {
		names = append(names, start(t, b, "count", nil))
	}
	for _, n := range names {
		if r := waitDone(t, b, n); r.Phase != controlplane.PhaseSucceeded {
			t.Fatalf("%s: %s %q", n, r.Phase, r.Error)
		}
	}
	type ev struct {
		at    int64
		delta int
	}
	var evs []ev
	for _, n := range names {
		raw, err := os.ReadFile(filepath.Join(marks, n))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(raw))
		s, _ := strconv.ParseInt(f[0], 10, 64)
		e, _ := strconv.ParseInt(f[1], 10, 64)
		evs = append(evs, ev{s, 1}, ev{e, -1})
	}
	sort.Slice(evs, func(i, j int) bool {
		if evs[i].at == evs[j].at {
			return evs[i].delta < evs[j].delta
		}
		return evs[i].at < evs[j].at
	})
	cur, peak := 0, 0
	for _, e := range evs {
		cur += e.delta
		peak = max(peak, cur)
	}
	if peak > 2 {
		t.Fatalf("%d attempts ran at once, the bound is 2", peak)
	}
	if peak < 2 {
		t.Logf("note: peak concurrency %d (the machine was slow)", peak)
	}
}

func TestReload(t *testing.T) {
	t.Parallel()
	b, cfg := open(t, nil, nil)
	if err := os.WriteFile(cfg.Workspace, []byte("tasks: [{name: broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(); err == nil {
		t.Fatal("a broken workspace was accepted")
	}
	if task, err := b.GetTask(context.Background(), ref("echo")); err != nil || task.Ref.Version != "v2" {
		t.Fatalf("the old workspace was not kept: %v %v", task.Ref, err)
	}
	v3 := append(append([]helperTask{}, fixtures...), helperTask{name: "echo", version: "v3", kind: "echo", inputs: "[{name: name, type: string}]", outputs: "[{name: greeting, type: string}]"})
	// Declared first in the file but registered last: it is the latest.
	v3[0], v3[len(v3)-1] = v3[len(v3)-1], v3[0]
	if err := os.WriteFile(cfg.Workspace, []byte(workspaceYAML(t, v3)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(); err != nil {
		t.Fatal(err)
	}
	if task, err := b.GetTask(context.Background(), ref("echo")); err != nil || task.Ref.Version != "v3" {
		t.Fatalf("latest after reload: %v %v", task.Ref, err)
	}
}

func TestWorkspaceErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"tasks: [{domain: d, project: p, name: n, version: v, command: [x], bogus: 1}]":                                       "tasks[0].bogus: unknown key",
		"tasks: [{domain: d, project: p, name: n, version: v}]":                                                               "command: required",
		"tasks: [{domain: d, project: p, name: n, version: v, command: [x], inputs: [{name: a, type: int}]}]":                 "inputs[0].type",
		"tasks: [{domain: d, project: p, name: n, version: v, command: [x], inputs: [{name: a, type: integer, default: x}]}]": "inputs[0].default",
		"tasks: [{domain: d, project: p, name: 'a b', version: v, command: [x]}]":                                             "name:",
		"triggers: {}": "triggers: want a list, got a mapping",
		"apps: {}":     "apps: want a list, got a mapping",
		"tasks: [{domain: d, project: p, name: n, version: v, command: [x], timeout: 5}]":   `want a duration like "30s"`,
		"tasks: [{domain: d, project: p, name: n, version: v, command: [x], timeout: -1s}]": "timeout: must not be negative",
	}
	for body, want := range cases {
		dir := t.TempDir()
		ws := filepath.Join(dir, "w.yaml")
		_ = os.WriteFile(ws, []byte(body), 0o600)
		_, err := local.Open(context.Background(), local.Config{Workspace: ws, DataDir: filepath.Join(dir, "d")})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}

// TestRecovery: a backend stopped with attempts still running recovers them at the next
// Open: an attempt the server cut short is the server's doing, not the task's, so its run is
// queued again whether or not the task has retries (and uses none up); queued runs run.
func TestRecovery(t *testing.T) {
	t.Parallel()
	tasks := []helperTask{
		{name: "sleep", kind: "sleep", inputs: "[{name: seconds, type: integer}]", outputs: "[{name: slept, type: integer}]"},
		{name: "sleep-retry", kind: "sleep", inputs: "[{name: seconds, type: integer}]", outputs: "[{name: slept, type: integer}]", extra: "    retries: 1\n"},
		{name: "echo", kind: "echo", inputs: "[{name: name, type: string}, {name: times, type: integer, default: 1}]", outputs: "[{name: greeting, type: string}]"},
	}
	b, cfg := open(t, tasks, func(c *local.Config) { c.Concurrency = 2 })
	noRetry := start(t, b, "sleep", map[string]any{"seconds": json.Number("1")})
	withRetry := start(t, b, "sleep-retry", map[string]any{"seconds": json.Number("1")})
	queued := start(t, b, "echo", map[string]any{"name": "later"})
	waitPhase(t, b, noRetry, controlplane.PhaseRunning)
	waitPhase(t, b, withRetry, controlplane.PhaseRunning)
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Close(stopped); !errors.Is(err, context.Canceled) { // stops the attempts at once
		t.Fatalf("Close that had to stop attempts: %v, want context.Canceled", err)
	}
	b2, err := local.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b2.Close(context.Background()) })
	for _, n := range []string{noRetry, withRetry} {
		if r := waitDone(t, b2, n); r.Phase != controlplane.PhaseSucceeded || r.Attempts != 2 {
			t.Errorf("interrupted: %s after %d attempts %q, want succeeded on attempt 2", r.Phase, r.Attempts, r.Error)
		}
		if o := outcomes(t, b2, n); !slices.Equal(o, []string{"interrupted", "succeeded"}) {
			t.Errorf("attempts %q", o)
		}
	}
	if r := waitDone(t, b2, queued); r.Phase != controlplane.PhaseSucceeded || r.Attempts != 1 {
		t.Errorf("queued: %s after %d attempts %q", r.Phase, r.Attempts, r.Error)
	}
}

type refuseAll struct{}

func (refuseAll) Verify(context.Context, controlplane.Credentials) (controlplane.Identity, error) {
	return controlplane.Identity{}, controlplane.Errorf(controlplane.CodeUnauthenticated, "invalid or expired credentials")
}

// TestEveryMethodVerifiesTheCaller: unknown credentials are refused everywhere, not only by Me.
func TestEveryMethodVerifiesTheCaller(t *testing.T) {
	t.Parallel()
	b, _ := open(t, nil, func(c *local.Config) { c.Verifier = refuseAll{} })
	ctx := context.Background()
	calls := map[string]error{}
	_, calls["Me"] = b.Me(ctx)
	_, calls["GetTask"] = b.GetTask(ctx, ref("echo"))
	_, calls["RunTask"] = b.RunTask(ctx, controlplane.RunTaskRequest{Task: ref("echo"), Inputs: map[string]any{"name": "x"}})
	_, calls["GetRun"] = b.GetRun(ctx, controlplane.RunRef{Name: "rx"})
	_, calls["GetRunIO"] = b.GetRunIO(ctx, controlplane.RunRef{Name: "rx"})
	_, calls["AbortRun"] = b.AbortRun(ctx, controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: "rx"}})
	_, calls["GetApp"] = b.GetApp(ctx, controlplane.AppRef{Name: "a"})
	_, calls["SetAppActive"] = b.SetAppActive(ctx, controlplane.SetAppActiveRequest{App: controlplane.AppRef{Name: "a"}, Active: true})
	_, calls["CallApp"] = b.CallApp(ctx, controlplane.AppCall{})
	_, calls["SetTriggerActive"] = b.SetTriggerActive(ctx, controlplane.SetTriggerActiveRequest{Active: true})
	_, calls["BuildImage"] = b.BuildImage(ctx, controlplane.ImageBuild{})
	_, calls["PrefetchModel"] = b.PrefetchModel(ctx, controlplane.ModelPrefetch{})
	for name, err := range calls {
		if controlplane.CodeOf(err) != controlplane.CodeUnauthenticated {
			t.Errorf("%s: %v, want unauthenticated", name, err)
		}
	}
}

func TestUnsupportedOperationsSay501(t *testing.T) {
	t.Parallel()
	b, _ := open(t, nil, nil)
	_, err := b.PrefetchModel(context.Background(), controlplane.ModelPrefetch{Repo: "x/y"})
	if controlplane.CodeOf(err) != controlplane.CodeUnimplemented || !strings.Contains(controlplane.MessageOf(err), "local backend") {
		t.Fatalf("%v", err)
	}
}

// TestDataDirIsExclusive: a second server on the same data_dir would recover (and kill) the
// first one's running tasks; it is refused instead, and the dir is free again after Close.
func TestDataDirIsExclusive(t *testing.T) {
	t.Parallel()
	b, cfg := open(t, nil, nil)
	if _, err := local.Open(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "in use by another server") {
		t.Fatalf("second Open on one data_dir: %v", err)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	b2, err := local.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	_ = b2.Close(context.Background())
}

// TestConfigErrorsNameTheKey: validate names the config key at fault.
func TestConfigErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := map[string]local.Config{
		"concurrency":       {Workspace: "w", Concurrency: -1},
		"log_max_bytes":     {Workspace: "w", LogMaxBytes: -1},
		"abort_grace":       {Workspace: "w", AbortGrace: -time.Second},
		"idempotency_ttl":   {Workspace: "w", IdempotencyTTL: -time.Second},
		"max_interruptions": {Workspace: "w", MaxInterruptions: 101},
	}
	for want, cfg := range cases {
		cfg.DataDir = filepath.Join(dir, "data")
		if _, err := local.Open(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want an error naming %s", cfg, err, want)
		}
	}
}

// TestCloseWhileAccepting: RunTask racing Close answers "shutting down", never panics.
func TestCloseWhileAccepting(t *testing.T) {
	t.Parallel()
	b, _ := open(t, nil, func(c *local.Config) { c.Concurrency = 1 })
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			for {
				_, err := b.RunTask(context.Background(), controlplane.RunTaskRequest{Task: ref("echo"), Inputs: map[string]any{"name": "x"}})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ {
		select {
		case err := <-errs:
			if controlplane.CodeOf(err) != controlplane.CodeUnavailable {
				t.Errorf("RunTask after Close: %v, want unavailable", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("RunTask kept accepting runs after Close")
		}
	}
	if _, err := b.GetRun(context.Background(), controlplane.RunRef{Name: "rx"}); controlplane.CodeOf(err) != controlplane.CodeUnavailable {
		t.Errorf("GetRun after Close: %v, want unavailable", err)
	}
}

// TestIdempotencyKeyExpires: after idempotency_ttl a key starts a new run, whatever the inputs.
func TestIdempotencyKeyExpires(t *testing.T) {
	t.Parallel()
	b, _ := open(t, nil, func(c *local.Config) { c.IdempotencyTTL = 100 * time.Millisecond })
	ctx := context.Background()
	req := controlplane.RunTaskRequest{Task: ref("echo"), Inputs: map[string]any{"name": "Ada"}, IdempotencyKey: "k"}
	first, err := b.RunTask(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	req.Inputs = map[string]any{"name": "Bo"}
	second, err := b.RunTask(ctx, req)
	if err != nil || second.Name == first.Name {
		t.Fatalf("an expired key: %v %v (first %s)", second.Name, err, first.Name)
	}
}

// TestConflictsInABusyBatch: group commit puts concurrent RunTasks into one transaction. An
// Idempotency-Key conflict among them fails only that call; every other run commits, each
// repeat of a key gets the first run, and every run that was answered is stored.
func TestConflictsInABusyBatch(t *testing.T) {
	t.Parallel()
	b, _ := open(t, []helperTask{{name: "echo", kind: "echo", inputs: "[{name: name, type: string}]", outputs: "[{name: greeting, type: string}]", extra: "    timeout: 1m\n"}}, func(c *local.Config) { c.Concurrency = 1 })
	ctx := context.Background()
	const n = 300
	type result struct {
		name string
		err  error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := controlplane.RunTaskRequest{Task: ref("echo"), Inputs: map[string]any{"name": "Ada"}}
			switch i % 3 {
			case 1: // the same key with the same inputs: the same run
				req.IdempotencyKey = "same"
			case 2: // one key, inputs differing per call: one wins, the rest conflict
				req.IdempotencyKey = "contested"
				req.Inputs = map[string]any{"name": "n" + strconv.Itoa(i)}
			}
			r, err := b.RunTask(ctx, req)
			results[i] = result{r.Name, err}
		}()
	}
	wg.Wait()
	names := map[string]bool{}
	var same, contested string
	conflicts := 0
	for i, r := range results {
		switch {
		case i%3 == 2 && controlplane.CodeOf(r.err) == controlplane.CodeConflict:
			conflicts++
			continue
		case r.err != nil:
			t.Fatalf("call %d: %v", i, r.err)
		case i%3 == 1:
			if same != "" && r.name != same {
				t.Fatalf("key \"same\" gave two runs: %s and %s", same, r.name)
			}
			same = r.name
		case i%3 == 2:
			if contested != "" && r.name != contested {
				t.Fatalf("key \"contested\" gave two runs: %s and %s", contested, r.name)
			}
			contested = r.name
		}
		names[r.name] = true
	}
	if want := n/3 - 1; conflicts < want {
		// Only calls with the winner's exact inputs could share its run; each call's inputs differ.
		t.Fatalf("%d conflicts on the contested key, want %d", conflicts, want)
	}
	for name := range names {
		if _, err := b.GetRun(ctx, controlplane.RunRef{Name: name}); err != nil {
			t.Fatalf("answered run %s is not stored: %v", name, err)
		}
	}
	if len(names) != n/3+2 {
		t.Fatalf("%d distinct runs, want %d (one per keyless call, one per key)", len(names), n/3+2)
	}
}

// TestUnwritableLog: when a task's log cannot be created the run still ends as the task
// decides, and the operator's log says the output was dropped.
func TestUnwritableLog(t *testing.T) {
	t.Parallel()
	var logs syncBuf
	b, cfg := open(t, []helperTask{{name: "fail", kind: "fail"}}, func(c *local.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	logDir := filepath.Join(cfg.DataDir, "logs")
	if err := os.RemoveAll(logDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logDir, nil, 0o600); err != nil { // a file where the folder was
		t.Fatal(err)
	}
	r := waitDone(t, b, start(t, b, "fail", nil))
	if r.Phase != controlplane.PhaseFailed || !strings.Contains(r.Error, "exit code 2") {
		t.Fatalf("%s %q", r.Phase, r.Error)
	}
	if !strings.Contains(logs.String(), "its output was dropped") {
		t.Fatalf("no warning about the dropped log:\n%s", logs.String())
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// bySubject takes the bearer token as the caller's subject.
type bySubject struct{}

func (bySubject) Verify(_ context.Context, c controlplane.Credentials) (controlplane.Identity, error) {
	sub := strings.TrimPrefix(c.Authorization, "Bearer ")
	return controlplane.Identity{Subject: sub, Name: sub}, nil
}

// TestIdempotencyKeyIsTheCallers: an Idempotency-Key is scoped to the caller who sent it; the
// same key from another caller starts another run instead of answering the first caller's.
func TestIdempotencyKeyIsTheCallers(t *testing.T) {
	t.Parallel()
	b, _ := open(t, nil, func(c *local.Config) { c.Verifier = bySubject{} })
	as := func(subject string) context.Context {
		return controlplane.WithCredentials(context.Background(), controlplane.Credentials{Authorization: "Bearer " + subject})
	}
	req := controlplane.RunTaskRequest{Task: ref("echo"), Inputs: map[string]any{"name": "Ada"}, IdempotencyKey: "deploy-42"}
	ada, err := b.RunTask(as("ada"), req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.RunTask(as("ada"), req)
	if err != nil || again.Name != ada.Name {
		t.Fatalf("the same caller's retry: %s %v, want %s", again.Name, err, ada.Name)
	}
	mallory, err := b.RunTask(as("mallory"), req)
	if err != nil || mallory.Name == ada.Name {
		t.Fatalf("another caller with the same key got %s (%v); want a run of their own", mallory.Name, err)
	}
}
