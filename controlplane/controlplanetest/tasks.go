package controlplanetest

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// tasks: GetTask and RunTask's checks of inputs and Idempotency-Keys.
func (s *suite) tasks(t *testing.T) {
	t.Run("GetTask", s.getTask)
	t.Run("Inputs", s.runTaskInputs)
	t.Run("Idempotency", s.idempotency)
	t.Run("IdempotencyPerCaller", s.idempotencyPerCaller)
	t.Run("IdempotencyConcurrent", s.idempotencyConcurrent)
	t.Run("IdempotencyLifetime", s.idempotencyLifetime)
}

// idempotencyLifetime: a key outlives its run's end (a CI job retrying after the run finished
// gets that run, not a second one) for as long as the harness says the backend keeps keys.
func (s *suite) idempotencyLifetime(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	req := controlplane.RunTaskRequest{Task: s.ref("echo", ""), Inputs: map[string]any{"name": "Ada"}, IdempotencyKey: "lifetime-1"}
	first, err := b.RunTask(s.ctx(), req)
	if err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, b, first.Name, done)
	again, err := b.RunTask(s.ctx(), req)
	if err != nil || again.Name != first.Name {
		t.Fatalf("the key after its run ended: %v %v, want run %s", again.Name, err, first.Name)
	}
	if s.h.KeyTTL <= 0 || s.h.KeyTTL > 5*time.Second {
		return
	}
	time.Sleep(s.h.KeyTTL - time.Since(first.CreatedAt) + 100*time.Millisecond)
	later, err := b.RunTask(s.ctx(), req)
	if err != nil || later.Name == first.Name {
		t.Fatalf("the key after KeyTTL (%s): %v %v, want a new run", s.h.KeyTTL, later.Name, err)
	}
}

func (s *suite) getTask(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	ctx := s.ctx()
	latest, err := b.GetTask(ctx, s.ref("echo", ""))
	if err != nil {
		t.Fatal(err)
	}
	if latest.Ref.Version != "v2" {
		t.Errorf("latest echo is %q, want v2 (registered last)", latest.Ref.Version)
	}
	if got := strings.Join(latest.RequiredArgs(), ","); got != "name" {
		t.Errorf("required args %q, want name", got)
	}
	if d := latest.DefaultInputs(); len(d) != 1 || numberString(d["times"]) != "1" {
		t.Errorf("defaults %v, want times=1", d)
	}
	if len(latest.Inputs) != 2 || latest.Inputs[0].Name != "name" || latest.Inputs[0].Type != "string" ||
		latest.Inputs[1].Name != "times" || latest.Inputs[1].Type != "integer" {
		t.Errorf("inputs %+v, want name string, times integer", latest.Inputs)
	}
	if len(latest.Outputs) != 1 || latest.Outputs[0].Name != "greeting" || latest.Outputs[0].Type != "string" {
		t.Errorf("outputs %+v, want greeting string", latest.Outputs)
	}
	v1, err := b.GetTask(ctx, s.ref("echo", "v1"))
	if err != nil || v1.Ref.Version != "v1" {
		t.Errorf("echo v1: %v %v", v1.Ref, err)
	}
	for _, c := range []struct{ name, task, version string }{
		{"unknown version", "echo", "v9"},
		{"unknown task", "no-such-task", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := b.GetTask(ctx, s.ref(c.task, c.version))
			wantCode(t, err, controlplane.CodeNotFound, "")
		})
	}
}

func (s *suite) runTaskInputs(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	cases := []struct {
		name    string
		task    controlplane.TaskRef
		inputs  map[string]any
		code    controlplane.Code
		mention string
	}{
		{"unknown input", s.ref("echo", ""), map[string]any{"name": "x", "nmae": "y"}, controlplane.CodeInvalidInput, "nmae"},
		{"missing required", s.ref("echo", ""), map[string]any{"times": json.Number("2")}, controlplane.CodeInvalidInput, "name"},
		{"string for integer", s.ref("echo", ""), map[string]any{"name": "x", "times": "2"}, controlplane.CodeInvalidInput, "times"},
		{"fraction for integer", s.ref("echo", ""), map[string]any{"name": "x", "times": json.Number("2.5")}, controlplane.CodeInvalidInput, "times"},
		{"number for string", s.ref("echo", ""), map[string]any{"name": json.Number("3")}, controlplane.CodeInvalidInput, "name"},
		{"integer out of range", s.ref("echo", ""), map[string]any{"name": "x", "times": json.Number("99999999999999999999")}, controlplane.CodeInvalidInput, "times"},
		{"Go fraction for integer", s.ref("echo", ""), map[string]any{"name": "x", "times": 3.5}, controlplane.CodeInvalidInput, "times"},
		{"unknown task", s.ref("no-such-task", ""), map[string]any{}, controlplane.CodeNotFound, ""},
		{"unknown version", s.ref("echo", "v9"), map[string]any{"name": "x"}, controlplane.CodeNotFound, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := b.RunTask(s.ctx(), controlplane.RunTaskRequest{Task: c.task, Inputs: c.inputs})
			wantCode(t, err, c.code, c.mention)
		})
	}
	// Direct callers may pass Go numbers: 3 and 3.0 are integers.
	for _, times := range []any{3, int64(3), 3.0} {
		if _, err := b.RunTask(s.ctx(), controlplane.RunTaskRequest{Task: s.ref("echo", ""), Inputs: map[string]any{"name": "x", "times": times}}); err != nil {
			t.Errorf("times %T(%v): %v", times, times, err)
		}
	}
}

func (s *suite) idempotency(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	ctx := s.ctx()
	req := controlplane.RunTaskRequest{Task: s.ref("echo", ""), Inputs: map[string]any{"name": "Ada"}, IdempotencyKey: "deploy-42"}
	first, err := b.RunTask(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.RunTask(ctx, req)
	if err != nil || again.Name != first.Name {
		t.Fatalf("retry with the same key: %v, %v (first %s)", again.Name, err, first.Name)
	}
	req.Inputs = map[string]any{"name": "Bo"}
	_, err = b.RunTask(ctx, req)
	wantCode(t, err, controlplane.CodeConflict, "")
	_, err = b.RunTask(ctx, controlplane.RunTaskRequest{Task: s.ref("sum", ""), Inputs: map[string]any{"a": json.Number("1"), "b": json.Number("2")}, IdempotencyKey: "deploy-42"})
	wantCode(t, err, controlplane.CodeConflict, "")
	// Defaults count as given: leaving out times is the same request as times=1.
	again, err = b.RunTask(ctx, controlplane.RunTaskRequest{Task: s.ref("echo", ""), Inputs: map[string]any{"name": "Ada", "times": json.Number("1")}, IdempotencyKey: "deploy-42"})
	if err != nil || again.Name != first.Name {
		t.Errorf("same inputs with the default spelled out: %v, %v (first %s)", again.Name, err, first.Name)
	}
	req.IdempotencyKey = "deploy-43"
	other, err := b.RunTask(ctx, req)
	if err != nil || other.Name == first.Name {
		t.Fatalf("a new key must start a new run: %v %v", other.Name, err)
	}
}

// idempotencyPerCaller: keys belong to the caller who sent them. Another caller who sends
// (or guesses) the same key starts a run of their own and never gets the first caller's run
// back, nor a conflict that would tell them the key is in use.
func (s *suite) idempotencyPerCaller(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	req := controlplane.RunTaskRequest{Task: s.ref("echo", ""), Inputs: map[string]any{"name": "Ada"}, IdempotencyKey: "shared-key"}
	mine, err := b.RunTask(s.as(s.h.Caller), req)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := b.RunTask(s.as(s.h.OtherCaller), req)
	if err != nil {
		t.Fatalf("the same key from another caller: %v", err)
	}
	if theirs.Name == mine.Name {
		t.Fatalf("another caller with the same key got the first caller's run %s", mine.Name)
	}
	if _, err := b.RunTask(s.as(s.h.OtherCaller), controlplane.RunTaskRequest{Task: s.ref("sum", ""), Inputs: map[string]any{"a": json.Number("1"), "b": json.Number("2")}, IdempotencyKey: "another-key"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.RunTask(s.as(s.h.Caller), controlplane.RunTaskRequest{Task: s.ref("echo", ""), Inputs: map[string]any{"name": "Cy"}, IdempotencyKey: "another-key"}); err != nil {
		t.Errorf("a key another caller used for other inputs: %v, want a new run", err)
	}
	again, err := b.RunTask(s.as(s.h.Caller), controlplane.RunTaskRequest{Task: s.ref("echo", ""), Inputs: map[string]any{"name": "Ada"}, IdempotencyKey: "shared-key"})
	if err != nil || again.Name != mine.Name {
		t.Errorf("the first caller's retry: %v %v, want %s", again.Name, err, mine.Name)
	}
}

// idempotencyConcurrent: retries that race (a client timing out and sending again while the
// first request is still being stored) all get the one run.
func (s *suite) idempotencyConcurrent(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	const n = 16
	names := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := b.RunTask(s.ctx(), controlplane.RunTaskRequest{Task: s.ref("echo", ""), Inputs: map[string]any{"name": "Ada"}, IdempotencyKey: "race-1"})
			names[i], errs[i] = r.Name, err
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if names[i] != names[0] {
			t.Fatalf("request %d got run %s, request 0 got %s: one key, one run", i, names[i], names[0])
		}
	}
}
