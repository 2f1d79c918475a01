package local_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
)

// Nothing accepted is lost: a run's state changes are written until they land, whatever the
// disk does meanwhile.

var errDiskFull = errors.New("database or disk is full (injected)")

// failing fails the commits holding one of the named store ops; with none, every commit.
func failing(ops ...string) func(string) error {
	return func(op string) error {
		if len(ops) == 0 || slices.Contains(ops, op) {
			return errDiskFull
		}
		return nil
	}
}

// gated is a task whose first attempt waits for its gate (see the "gate" helper).
func gated(dir string, extra string) helperTask {
	return helperTask{name: "gate", kind: "gate", outputs: "[{name: attempt, type: integer}]", env: "FWH_DIR: " + strconv.Quote(dir), extra: extra}
}

func openGate(t *testing.T, dir, run string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, run+".open"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitLog waits (bounded) until the log holds text.
func waitLog(t *testing.T, logs *syncBuf, text string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(logs.String(), text) {
			return
		}
	}
	t.Fatalf("the log never said %q:\n%s", text, logs.String())
}

func logTo(logs *syncBuf) func(*local.Config) {
	return func(c *local.Config) { c.Logger = slog.New(slog.NewJSONHandler(logs, nil)) }
}

func outcomes(t *testing.T, b *local.Backend, run string) []string {
	t.Helper()
	o, err := local.AttemptOutcomes(b, run)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestEndOfRunSurvivesFailingWrites: when the end of a run cannot be written (a full disk),
// it is kept and written again until it lands; the run then reaches its real phase.
func TestEndOfRunSurvivesFailingWrites(t *testing.T) {
	t.Parallel()
	var logs syncBuf
	gates := t.TempDir()
	b, _ := open(t, []helperTask{gated(gates, "")}, logTo(&logs))
	name := start(t, b, "gate", nil)
	waitPhase(t, b, name, controlplane.PhaseRunning)
	local.FailWrites(b, failing())
	openGate(t, gates, name)
	waitLog(t, &logs, "cannot record the end of a run")
	if r, err := b.GetRun(context.Background(), controlplane.RunRef{Name: name}); err != nil || r.Phase != controlplane.PhaseRunning {
		t.Fatalf("while the disk is full: %s %v", r.Phase, err)
	}
	local.FailWrites(b, nil)
	r := waitDone(t, b, name)
	if r.Phase != controlplane.PhaseSucceeded || r.Attempts != 1 {
		t.Fatalf("%s after %d attempts: %q", r.Phase, r.Attempts, r.Error)
	}
	io, err := b.GetRunIO(context.Background(), controlplane.RunRef{Name: name})
	if err != nil || numberText(io.Outputs["attempt"]) != "1" {
		t.Fatalf("outputs %v %v", io.Outputs, err)
	}
	if o := outcomes(t, b, name); !slices.Equal(o, []string{"succeeded"}) {
		t.Fatalf("attempts %q", o)
	}
	waitLog(t, &logs, "recorded the end of a run after retrying")
}

// TestStartOfRunSurvivesFailingWrites: a run whose start cannot be recorded is not dropped
// (it would stay queued until a restart): the write is retried and the run runs.
func TestStartOfRunSurvivesFailingWrites(t *testing.T) {
	t.Parallel()
	var logs syncBuf
	b, _ := open(t, nil, logTo(&logs))
	local.FailWrites(b, failing("markRunning"))
	name := start(t, b, "echo", map[string]any{"name": "Ada"})
	waitLog(t, &logs, "cannot record the start of an attempt")
	local.FailWrites(b, nil)
	if r := waitDone(t, b, name); r.Phase != controlplane.PhaseSucceeded || r.Attempts != 1 {
		t.Fatalf("%s after %d attempts: %q", r.Phase, r.Attempts, r.Error)
	}
}

// TestFailedAttemptSurvivesFailingWrites: the end of an attempt that is retried is recorded
// too, so the attempt records say what happened.
func TestFailedAttemptSurvivesFailingWrites(t *testing.T) {
	t.Parallel()
	var logs syncBuf
	b, _ := open(t, []helperTask{{name: "flaky", kind: "flaky", outputs: "[{name: attempt, type: integer}]", extra: "    retries: 1\n"}}, logTo(&logs))
	local.FailWrites(b, failing("endAttempt"))
	name := start(t, b, "flaky", nil)
	waitLog(t, &logs, "cannot record the end of an attempt")
	local.FailWrites(b, nil)
	if r := waitDone(t, b, name); r.Phase != controlplane.PhaseSucceeded || r.Attempts != 2 {
		t.Fatalf("%s after %d attempts: %q", r.Phase, r.Attempts, r.Error)
	}
	if o := outcomes(t, b, name); !slices.Equal(o, []string{"failed", "succeeded"}) {
		t.Fatalf("attempts %q", o)
	}
}
