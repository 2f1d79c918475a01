package local_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
)

// shiftedClock is the wall clock moved ahead by a shift the test sets: the retention sweep
// reads its cutoff from the backend's clock.
type shiftedClock struct{ shift atomic.Int64 }

func (c *shiftedClock) Now() time.Time { return time.Now().Add(time.Duration(c.shift.Load())) }

func (c *shiftedClock) NewTimer(d time.Duration) local.Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

func retention(d time.Duration) *time.Duration { return &d }

// TestRetention: a sweep deletes the finished runs that ended more than the retention ago
// (their records, attempts, labels and log files) and the Idempotency-Keys stored before
// then; it leaves running runs and younger ones; with a retention of 0 it deletes nothing.
func TestRetention(t *testing.T) {
	t.Parallel()
	clock := &shiftedClock{}
	b, cfg := open(t, nil, func(c *local.Config) { c.Clock, c.Retention = clock, retention(24*time.Hour) })
	ctx := context.Background()
	start := func(task string, inputs map[string]any, key string, labels map[string]string) controlplane.Run {
		t.Helper()
		r, err := b.RunTask(ctx, controlplane.RunTaskRequest{Task: ref(task), Inputs: inputs, IdempotencyKey: key, Labels: labels})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	labeled := start("echo", map[string]any{"name": "a"}, "key-1", map[string]string{"ci-job": "7"})
	failed := start("fail", map[string]any{}, "", nil)
	sleeping := start("sleep", map[string]any{"seconds": json.Number("60")}, "", nil)
	for _, r := range []controlplane.Run{labeled, failed} {
		waitDone(t, b, r.Name)
		if _, err := b.GetRun(ctx, controlplane.RunRef{Name: r.Name}); err != nil { // cached as finished
			t.Fatal(err)
		}
	}
	logFile := filepath.Join(cfg.DataDir, "logs", failed.Name+".1.stderr.log")
	if _, err := os.Stat(logFile); err != nil {
		t.Fatalf("the failed run's log: %v", err)
	}

	// Not a day old yet: nothing goes.
	if n, err := local.Sweep(ctx, b); err != nil || n != 0 {
		t.Fatalf("a sweep within the retention deleted %d runs (%v)", n, err)
	}
	clock.shift.Store(int64(25 * time.Hour))
	if n, err := local.Sweep(ctx, b); err != nil || n != 2 {
		t.Fatalf("a sweep a day later deleted %d runs (%v), want the two finished ones", n, err)
	}
	for _, r := range []controlplane.Run{labeled, failed} {
		if _, err := b.GetRun(ctx, controlplane.RunRef{Name: r.Name}); controlplane.CodeOf(err) != controlplane.CodeNotFound {
			t.Errorf("run %s after the sweep: %v, want not found", r.Name, err)
		}
		if outcomes, err := local.AttemptOutcomes(b, r.Name); err != nil || len(outcomes) != 0 {
			t.Errorf("run %s keeps attempt records %v (%v)", r.Name, outcomes, err)
		}
	}
	if _, err := os.Stat(strings.TrimSuffix(logFile, "stderr.log") + "lines"); !os.IsNotExist(err) {
		t.Errorf("the expired run's lines file is still there: %v", err)
	}
	if _, err := os.Stat(logFile); !os.IsNotExist(err) {
		t.Errorf("the failed run's log is still there: %v", err)
	}
	page, err := b.ListRuns(ctx, controlplane.ListRunsRequest{})
	if err != nil || len(page.Runs) != 1 || page.Runs[0].Name != sleeping.Name {
		t.Errorf("after the sweep the list is %v (%v), want only the running %s", page.Runs, err, sleeping.Name)
	}
	if page, err := b.ListRuns(ctx, controlplane.ListRunsRequest{Labels: map[string]string{"ci-job": "7"}}); err != nil || len(page.Runs) != 0 {
		t.Errorf("a deleted run is still found by its label: %v (%v)", page.Runs, err)
	}
	// Its Idempotency-Key went with it: the same request starts a new run.
	again := start("echo", map[string]any{"name": "a"}, "key-1", map[string]string{"ci-job": "7"})
	if again.Name == labeled.Name {
		t.Error("an Idempotency-Key older than the retention still answers the deleted run")
	}
	// Runs that end now are kept while the clock is less than the retention ahead ...
	if _, err := b.AbortRun(ctx, controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: sleeping.Name}, Reason: "done"}); err != nil {
		t.Fatal(err)
	}
	waitDone(t, b, sleeping.Name)
	waitDone(t, b, again.Name)
	clock.shift.Store(int64(23 * time.Hour))
	if n, err := local.Sweep(ctx, b); err != nil || n != 0 {
		t.Fatalf("runs that ended within the retention: %d deleted (%v)", n, err)
	}
	// ... and deleted once it is more.
	clock.shift.Store(int64(25 * time.Hour))
	if n, err := local.Sweep(ctx, b); err != nil || n != 2 {
		t.Fatalf("%d deleted (%v), want the aborted run and the second echo", n, err)
	}
}

// TestRetentionZeroKeepsEverything: retention 0 keeps every run, however old.
func TestRetentionZeroKeepsEverything(t *testing.T) {
	t.Parallel()
	clock := &shiftedClock{}
	b, _ := open(t, nil, func(c *local.Config) { c.Clock, c.Retention = clock, retention(0) })
	r, err := b.RunTask(context.Background(), controlplane.RunTaskRequest{Task: ref("echo"), Inputs: map[string]any{"name": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, b, r.Name)
	clock.shift.Store(int64(10 * 365 * 24 * time.Hour))
	if n, err := local.Sweep(context.Background(), b); err != nil || n != 0 {
		t.Fatalf("retention 0 deleted %d runs (%v)", n, err)
	}
	if _, err := b.GetRun(context.Background(), controlplane.RunRef{Name: r.Name}); err != nil {
		t.Fatal(err)
	}
}
