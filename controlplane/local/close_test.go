package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
)

// Close drains: running attempts finish until its ctx ends, then they are stopped and
// recorded as interrupted, and their runs are queued again for the next start.

func closeAsync(ctx context.Context, b *local.Backend) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- b.Close(ctx) }()
	return ch
}

func closed(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("Close did not return")
		return nil
	}
}

func reopen(t *testing.T, cfg local.Config) *local.Backend {
	t.Helper()
	b, err := local.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Close(ctx)
	})
	return b
}

// TestCloseLetsAttemptsFinish: an attempt running when Close starts finishes and is
// recorded; a queued run is not started and runs at the next start; Close returns nil.
func TestCloseLetsAttemptsFinish(t *testing.T) {
	t.Parallel()
	var logs syncBuf
	gates := t.TempDir()
	b, cfg := open(t, []helperTask{gated(gates, "")}, func(c *local.Config) { logTo(&logs)(c); c.Concurrency = 1 })
	running := start(t, b, "gate", nil)
	queued := start(t, b, "gate", nil)
	waitPhase(t, b, running, controlplane.PhaseRunning)
	done := closeAsync(context.Background(), b)
	waitLog(t, &logs, "draining 1 attempts")
	if _, err := b.RunTask(context.Background(), controlplane.RunTaskRequest{Task: ref("gate")}); controlplane.CodeOf(err) != controlplane.CodeUnavailable {
		t.Errorf("RunTask while draining: %v, want unavailable", err)
	}
	openGate(t, gates, running)
	openGate(t, gates, queued) // would let it finish at once, had it started
	if err := closed(t, done); err != nil {
		t.Fatalf("Close after the attempts finished: %v", err)
	}
	b2 := reopen(t, cfg)
	if r := waitDone(t, b2, running); r.Phase != controlplane.PhaseSucceeded || r.Attempts != 1 {
		t.Errorf("the drained run: %s after %d attempts %q", r.Phase, r.Attempts, r.Error)
	}
	if r := waitDone(t, b2, queued); r.Phase != controlplane.PhaseSucceeded || r.Attempts != 1 {
		t.Errorf("the queued run: %s after %d attempts %q", r.Phase, r.Attempts, r.Error)
	}
	if o := outcomes(t, b2, queued); !slices.Equal(o, []string{"succeeded"}) {
		t.Errorf("the queued run started while draining: attempts %q", o)
	}
}

// TestCloseInterruptsAttempts: when ctx ends first, Close stops the attempts, records them
// as interrupted and returns ctx's error; at the next start the runs (retries: 0) get a
// second attempt and succeed.
func TestCloseInterruptsAttempts(t *testing.T) {
	t.Parallel()
	var logs syncBuf
	gates := t.TempDir()
	b, cfg := open(t, []helperTask{gated(gates, "")}, logTo(&logs))
	names := []string{start(t, b, "gate", nil), start(t, b, "gate", nil)}
	for _, n := range names {
		waitPhase(t, b, n, controlplane.PhaseRunning)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := closed(t, closeAsync(ctx, b)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close that had to stop attempts: %v, want context.DeadlineExceeded", err)
	}
	waitLog(t, &logs, "draining 2 attempts")
	b2 := reopen(t, cfg)
	for _, n := range names {
		if r := waitDone(t, b2, n); r.Phase != controlplane.PhaseSucceeded || r.Attempts != 2 {
			t.Errorf("%s: %s after %d attempts %q, want succeeded on attempt 2", n, r.Phase, r.Attempts, r.Error)
		}
		if o := outcomes(t, b2, n); !slices.Equal(o, []string{"interrupted", "succeeded"}) {
			t.Errorf("%s: attempts %q", n, o)
		}
	}
}

// TestSecondCloseWaitsForTheFirst: a second Close returns when the first has finished, with
// its result.
func TestSecondCloseWaitsForTheFirst(t *testing.T) {
	t.Parallel()
	var logs syncBuf
	gates := t.TempDir()
	b, _ := open(t, []helperTask{gated(gates, "")}, logTo(&logs))
	waitPhase(t, b, start(t, b, "gate", nil), controlplane.PhaseRunning)
	ctx, cancel := context.WithCancel(context.Background())
	first := closeAsync(ctx, b)
	waitLog(t, &logs, "draining 1 attempts")
	second := closeAsync(context.Background(), b)
	cancel()
	if err := closed(t, second); !errors.Is(err, context.Canceled) {
		t.Errorf("second Close: %v, want the first's result (context.Canceled)", err)
	}
	if err := closed(t, first); !errors.Is(err, context.Canceled) {
		t.Errorf("first Close: %v, want context.Canceled", err)
	}
}

// TestInterruptionBudget: a run interrupted more than max_interruptions times ends failed,
// saying so.
func TestInterruptionBudget(t *testing.T) {
	t.Parallel()
	b, cfg := open(t, nil, func(c *local.Config) { c.MaxInterruptions = 1 })
	name := start(t, b, "sleep", map[string]any{"seconds": json.Number("60")})
	for i := 0; i < 2; i++ {
		waitPhase(t, b, name, controlplane.PhaseRunning)
		stopNow, cancel := context.WithCancel(context.Background())
		cancel()
		if err := b.Close(stopNow); !errors.Is(err, context.Canceled) {
			t.Fatalf("Close %d: %v", i, err)
		}
		b = reopen(t, cfg)
	}
	r := waitDone(t, b, name)
	if r.Phase != controlplane.PhaseFailed || r.Attempts != 2 || !strings.Contains(r.Error, "interrupted by the server 2 times") {
		t.Fatalf("%s after %d attempts: %q", r.Phase, r.Attempts, r.Error)
	}
	if o := outcomes(t, b, name); !slices.Equal(o, []string{"interrupted", "interrupted"}) {
		t.Fatalf("attempts %q", o)
	}
}

// TestRetryWaitsForTheNextStart: an attempt that fails while the server drains is not
// retried then (that would start an attempt during the stop): its retry runs at the next
// start.
func TestRetryWaitsForTheNextStart(t *testing.T) {
	t.Parallel()
	var logs syncBuf
	gates := t.TempDir()
	task := gated(gates, "    retries: 1\n")
	task.env += ", FWH_GATE_FAIL: '1'"
	b, cfg := open(t, []helperTask{task}, logTo(&logs))
	name := start(t, b, "gate", nil)
	waitPhase(t, b, name, controlplane.PhaseRunning)
	done := closeAsync(context.Background(), b)
	waitLog(t, &logs, "draining 1 attempts")
	openGate(t, gates, name)
	if err := closed(t, done); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !strings.Contains(logs.String(), `"at_next_start":true`) {
		t.Fatalf("the retry was not left for the next start:\n%s", logs.String())
	}
	b2 := reopen(t, cfg)
	if r := waitDone(t, b2, name); r.Phase != controlplane.PhaseSucceeded || r.Attempts != 2 {
		t.Fatalf("%s after %d attempts: %q", r.Phase, r.Attempts, r.Error)
	}
	if o := outcomes(t, b2, name); !slices.Equal(o, []string{"failed", "succeeded"}) {
		t.Fatalf("attempts %q", o)
	}
}

// TestCloseDoesNotHangOnFailingWrites: a stop never waits for a write that cannot land
// beyond its ctx; the end that was not written is recovered at the next start as an
// interruption, and the run gets another attempt.
func TestCloseDoesNotHangOnFailingWrites(t *testing.T) {
	t.Parallel()
	var logs syncBuf
	gates := t.TempDir()
	b, cfg := open(t, []helperTask{gated(gates, "")}, logTo(&logs))
	name := start(t, b, "gate", nil)
	waitPhase(t, b, name, controlplane.PhaseRunning)
	local.FailWrites(b, failing())
	openGate(t, gates, name)
	waitLog(t, &logs, "cannot record the end of a run")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := closed(t, closeAsync(ctx, b)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a write pending: %v, want context.DeadlineExceeded", err)
	}
	b2 := reopen(t, cfg)
	if r := waitDone(t, b2, name); r.Phase != controlplane.PhaseSucceeded || r.Attempts != 2 {
		t.Fatalf("%s after %d attempts: %q", r.Phase, r.Attempts, r.Error)
	}
	if o := outcomes(t, b2, name); !slices.Equal(o, []string{"interrupted", "succeeded"}) {
		t.Fatalf("attempts %q", o)
	}
}
