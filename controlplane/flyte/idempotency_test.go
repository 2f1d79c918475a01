package flyte_test

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
)

// TestIdempotencyAcrossReplicas: the key lives in the control plane (the run's name and
// labels), so two webhook replicas sharing it give one run for one key, and a conflict for
// the key with other inputs, whichever replica is asked.
func TestIdempotencyAcrossReplicas(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{})
	one, two := open(t, s, nil), open(t, s, nil)
	ctx := callerCtx(t)
	req := controlplane.RunTaskRequest{Task: ref("echo", ""), Inputs: map[string]any{"name": "Ada"}, IdempotencyKey: "release-7"}

	const n = 8
	names := make([]string, 2*n)
	errs := make([]error, 2*n)
	var wg sync.WaitGroup
	for i := range 2 * n {
		b := one
		if i%2 == 1 {
			b = two
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := b.RunTask(ctx, req)
			names[i], errs[i] = r.Name, err
		}()
	}
	wg.Wait()
	for i := range names {
		if errs[i] != nil || names[i] != names[0] {
			t.Fatalf("request %d: %s %v; request 0 got %s: one key, one run", i, names[i], errs[i], names[0])
		}
	}

	other := req
	other.Inputs = map[string]any{"name": "Bo"}
	for _, b := range []*flyte.Backend{one, two} {
		if _, err := b.RunTask(ctx, other); controlplane.CodeOf(err) != controlplane.CodeConflict {
			t.Errorf("other inputs with the key: %v, want conflict", err)
		}
	}
	// The same inputs spelled with the default: the same request.
	same := req
	same.Inputs = map[string]any{"name": "Ada", "times": json.Number("1")}
	if r, err := two.RunTask(ctx, same); err != nil || r.Name != names[0] {
		t.Errorf("default spelled out: %s %v, want %s", r.Name, err, names[0])
	}
	// Another version of the task is another request.
	pinned := req
	pinned.Task = ref("echo", "v2")
	if _, err := one.RunTask(ctx, pinned); controlplane.CodeOf(err) != controlplane.CodeConflict {
		t.Errorf("the key for echo@v2 after echo@latest: %v, want conflict", err)
	}
}

// TestReplayIsReadBack: a replay (CreateRun answering a run created before the call) costs one
// GetRunDetails to compare the request; a new run costs nothing more. A control plane that
// puts the labels in CreateRun's answer saves that call.
func TestReplayIsReadBack(t *testing.T) {
	t.Parallel()
	for _, echo := range []bool{false, true} {
		s := startFake(t, flytetest.Options{EchoRunLabels: echo})
		b := open(t, s, nil)
		ctx := callerCtx(t)
		req := controlplane.RunTaskRequest{Task: ref("echo", ""), Inputs: map[string]any{"name": "Ada"}, IdempotencyKey: "k"}
		first, err := b.RunTask(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(s.CallsTo(pGetRun)); n != 0 {
			t.Errorf("labels echoed %v: a new run was read back %d times", echo, n)
		}
		again, err := b.RunTask(ctx, req)
		if err != nil || again.Name != first.Name {
			t.Fatalf("replay: %s %v", again.Name, err)
		}
		wantReads := 1
		if echo {
			wantReads = 0
		}
		if n := len(s.CallsTo(pGetRun)); n != wantReads {
			t.Errorf("labels echoed %v: a replay was read back %d times, want %d", echo, n, wantReads)
		}
		req.Inputs = map[string]any{"name": "Bo"}
		if _, err := b.RunTask(ctx, req); controlplane.CodeOf(err) != controlplane.CodeConflict {
			t.Errorf("labels echoed %v: other inputs: %v, want conflict", echo, err)
		}
	}
}

// TestKeyedRunWithoutLabelIsAConflict: a run that has the key's name but was not made by
// this backend for that request (no fingerprint label) is never handed out as the caller's.
func TestKeyedRunWithoutLabelIsAConflict(t *testing.T) {
	t.Parallel()
	req := controlplane.RunTaskRequest{Task: ref("echo", ""), Inputs: map[string]any{"name": "Ada"}, IdempotencyKey: "k"}
	// The name depends on the caller and the key only: learn it on another control plane.
	r, err := open(t, startFake(t, flytetest.Options{}), nil).RunTask(callerCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	s := startFake(t, flytetest.Options{})
	directCall(t, s.URL+pCreateRun, `{"runId":{"project":"`+project+`","domain":"`+domain+`","name":"`+r.Name+`"},`+
		`"taskId":{"project":"`+project+`","domain":"`+domain+`","name":"echo","version":"v2"},`+
		`"inputs":{"literals":[{"name":"name","value":{"scalar":{"primitive":{"stringValue":"Ada"}}}}]}}`)
	_, err = open(t, s, nil).RunTask(callerCtx(t), req)
	if controlplane.CodeOf(err) != controlplane.CodeConflict {
		t.Fatalf("a run of the key's name made by someone else: %v, want conflict", err)
	}
}
