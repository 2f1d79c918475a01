package local_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
)

// logLine waits (bounded) for the JSON log line with msg about run.
func logLine(t *testing.T, logs *syncBuf, msg, run string) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, line := range strings.Split(logs.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg && rec["run"] == run {
				return rec
			}
		}
	}
	t.Fatalf("no %q line for run %s:\n%s", msg, run, logs.String())
	return nil
}

// TestRunLogLines: one info line ties a run to the request and caller that created it
// (never the idempotency key itself), and one says how it ended.
func TestRunLogLines(t *testing.T) {
	t.Parallel()
	var logs syncBuf
	b, _ := open(t, nil, func(c *local.Config) { logTo(&logs)(c); c.Verifier = bySubject{}; c.Concurrency = 1 })
	ctx := controlplane.WithRequestID(controlplane.WithCredentials(context.Background(), controlplane.Credentials{Authorization: "Bearer ada"}), "req-42")
	const key = "the-key-itself-0123"
	run, err := b.RunTask(ctx, controlplane.RunTaskRequest{Task: ref("echo"), Inputs: map[string]any{"name": "Ada"}, IdempotencyKey: key})
	if err != nil {
		t.Fatal(err)
	}
	accepted := logLine(t, &logs, "run accepted", run.Name)
	for k, want := range map[string]any{"task": "test/conformance/echo", "version": "v2", "caller": "ada", "request_id": "req-42", "idempotency_key": true, "level": "INFO"} {
		if accepted[k] != want {
			t.Errorf("run accepted: %s = %v, want %v (%v)", k, accepted[k], want, accepted)
		}
	}
	if _, ok := accepted["trigger"]; ok {
		t.Errorf("run accepted: a trigger without one: %v", accepted)
	}
	waitDone(t, b, run.Name)
	ended := logLine(t, &logs, "run ended", run.Name)
	if ended["phase"] != "succeeded" || ended["attempts"] != 1.0 || ended["duration_ms"] == nil || ended["error"] != "" || ended["level"] != "INFO" {
		t.Errorf("run ended: %v", ended)
	}

	// A run that ends without an attempt (aborted while queued) is logged too.
	blocker := start(t, b, "sleep", map[string]any{"seconds": json.Number("60")})
	waitPhase(t, b, blocker, controlplane.PhaseRunning)
	queued := start(t, b, "echo", map[string]any{"name": "Bo"})
	if _, err := b.AbortRun(ctx, controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: queued}, Reason: "changed my mind"}); err != nil {
		t.Fatal(err)
	}
	if ended := logLine(t, &logs, "run ended", queued); ended["phase"] != "aborted" || ended["attempts"] != 0.0 || ended["error"] != "aborted: changed my mind" {
		t.Errorf("run ended (aborted while queued): %v", ended)
	}
	if _, err := b.AbortRun(ctx, controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: blocker}}); err != nil {
		t.Fatal(err)
	}
	if ended := logLine(t, &logs, "run ended", blocker); ended["phase"] != "aborted" || ended["attempts"] != 1.0 {
		t.Errorf("run ended (aborted while running): %v", ended)
	}
	if strings.Contains(logs.String(), key) {
		t.Error("the idempotency key reached the log")
	}
}
