// Package controlplanetest is the conformance suite every controlplane.Backend runs: the
// semantics the HTTP layer relies on, checked through the Backend interface only.
//
// A backend's test provides a Harness whose backend serves the fixture tasks below, in
// Harness.Domain and Harness.Project:
//
//	echo   v1 and v2 (v2 registered last). inputs: name string (required), times integer
//	       (default 1). outputs: greeting string = "hello <name>" repeated times, joined by " ".
//	sum    inputs: a integer, b integer. outputs: sum integer (exact beyond 2^53).
//	sleep  inputs: seconds integer (default 30). Sleeps that long; outputs: slept integer.
//	fail   no inputs. Fails with a message containing "boom".
package controlplanetest

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// Harness describes the backend under test.
type Harness struct {
	// New returns a fresh backend serving the fixture tasks, closed by the test's cleanup.
	New func(t *testing.T) controlplane.Backend
	// Domain and Project hold the fixture tasks.
	Domain, Project string
	// Wait bounds how long the suite waits for a run to reach a phase. Defaults to 30s.
	Wait time.Duration
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	if h.Wait == 0 {
		h.Wait = 30 * time.Second
	}
	s := &suite{h: h}
	t.Run("GetTask", s.getTask)
	t.Run("RunTaskInputs", s.runTaskInputs)
	t.Run("Lifecycle", s.lifecycle)
	t.Run("ExactIntegers", s.exactIntegers)
	t.Run("OutputsOnlyAfterSuccess", s.outputsOnlyAfterSuccess)
	t.Run("Abort", s.abort)
	t.Run("NotFound", s.notFound)
	t.Run("Idempotency", s.idempotency)
	t.Run("Failure", s.failure)
}

type suite struct{ h Harness }

// runName is the form Flyte gives run names.
var runName = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

func (s *suite) ref(name, version string) controlplane.TaskRef {
	return controlplane.TaskRef{Domain: s.h.Domain, Project: s.h.Project, Name: name, Version: version}
}

func wantCode(t *testing.T, err error, code controlplane.Code, mention string) {
	t.Helper()
	if got := controlplane.CodeOf(err); got != code {
		t.Fatalf("error %v: code %s, want %s", err, got, code)
	}
	if mention != "" && !strings.Contains(controlplane.MessageOf(err), mention) {
		t.Fatalf("error message %q should mention %q", controlplane.MessageOf(err), mention)
	}
}

func (s *suite) start(t *testing.T, b controlplane.Backend, task string, inputs map[string]any) controlplane.Run {
	t.Helper()
	run, err := b.RunTask(context.Background(), controlplane.RunTaskRequest{Task: s.ref(task, ""), Inputs: inputs})
	if err != nil {
		t.Fatalf("RunTask %s: %v", task, err)
	}
	return run
}

// waitFor polls until cond holds for the run (liveness only, with a generous bound).
func (s *suite) waitFor(t *testing.T, b controlplane.Backend, name string, cond func(controlplane.Run) bool) controlplane.Run {
	t.Helper()
	deadline := time.Now().Add(s.h.Wait)
	for {
		run, err := b.GetRun(context.Background(), controlplane.RunRef{Name: name})
		if err != nil {
			t.Fatalf("GetRun %s: %v", name, err)
		}
		if cond(run) {
			return run
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s stuck in %s", name, run.Phase)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func done(r controlplane.Run) bool { return r.Phase.Done() }

func (s *suite) getTask(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	ctx := context.Background()
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
	_, err = b.GetTask(ctx, s.ref("echo", "v9"))
	wantCode(t, err, controlplane.CodeNotFound, "")
	_, err = b.GetTask(ctx, s.ref("no-such-task", ""))
	wantCode(t, err, controlplane.CodeNotFound, "")
}

func numberString(v any) string {
	switch n := v.(type) {
	case json.Number:
		return n.String()
	case int, int64, float64:
		b, _ := json.Marshal(n)
		return string(b)
	}
	return ""
}

func (s *suite) runTaskInputs(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	cases := []struct {
		name    string
		inputs  map[string]any
		mention string
	}{
		{"unknown input", map[string]any{"name": "x", "nmae": "y"}, "nmae"},
		{"missing required", map[string]any{"times": json.Number("2")}, "name"},
		{"string for integer", map[string]any{"name": "x", "times": "2"}, "times"},
		{"fraction for integer", map[string]any{"name": "x", "times": json.Number("2.5")}, "times"},
		{"number for string", map[string]any{"name": json.Number("3")}, "name"},
		{"integer out of range", map[string]any{"name": "x", "times": json.Number("99999999999999999999")}, "times"},
	}
	for _, c := range cases {
		_, err := b.RunTask(context.Background(), controlplane.RunTaskRequest{Task: s.ref("echo", ""), Inputs: c.inputs})
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if controlplane.CodeOf(err) != controlplane.CodeInvalidInput || !strings.Contains(controlplane.MessageOf(err), c.mention) {
			t.Errorf("%s: %v (code %s), want invalid input naming %q", c.name, err, controlplane.CodeOf(err), c.mention)
		}
	}
	_, err := b.RunTask(context.Background(), controlplane.RunTaskRequest{Task: s.ref("no-such-task", ""), Inputs: map[string]any{}})
	wantCode(t, err, controlplane.CodeNotFound, "")
	_, err = b.RunTask(context.Background(), controlplane.RunTaskRequest{Task: s.ref("echo", "v9"), Inputs: map[string]any{"name": "x"}})
	wantCode(t, err, controlplane.CodeNotFound, "")
	// Direct callers may pass Go numbers: 3 and 3.0 are integers, 3.5 is not.
	for _, times := range []any{3, int64(3), 3.0} {
		if _, err := b.RunTask(context.Background(), controlplane.RunTaskRequest{Task: s.ref("echo", ""), Inputs: map[string]any{"name": "x", "times": times}}); err != nil {
			t.Errorf("times %T(%v): %v", times, times, err)
		}
	}
	_, err = b.RunTask(context.Background(), controlplane.RunTaskRequest{Task: s.ref("echo", ""), Inputs: map[string]any{"name": "x", "times": 3.5}})
	wantCode(t, err, controlplane.CodeInvalidInput, "times")
}

func (s *suite) lifecycle(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	run := s.start(t, b, "echo", map[string]any{"name": "Ada", "times": json.Number("2")})
	if !runName.MatchString(run.Name) || run.URL == "" || run.Phase.Done() {
		t.Fatalf("new run %+v: want a name matching %s, a url, a phase not yet final", run, runName)
	}
	if run.Task.Version != "v2" {
		t.Errorf("run of the latest echo has version %q", run.Task.Version)
	}
	if run.Kind != controlplane.KindTask || !strings.HasSuffix(run.URL, run.Name) || run.CreatedAt.IsZero() {
		t.Errorf("new run %+v: want kind task, a url ending in its name, a creation time", run)
	}
	final := s.waitFor(t, b, run.Name, done)
	if final.Phase != controlplane.PhaseSucceeded {
		t.Fatalf("phase %s (%s)", final.Phase, final.Error)
	}
	if final.Attempts < 1 || final.StartedAt.IsZero() || final.EndedAt.Before(final.StartedAt) {
		t.Errorf("finished run %+v: want at least one attempt, start and end times in order", final)
	}
	io, err := b.GetRunIO(context.Background(), controlplane.RunRef{Name: run.Name})
	if err != nil {
		t.Fatal(err)
	}
	if io.Outputs["greeting"] != "hello Ada hello Ada" {
		t.Errorf("outputs %v", io.Outputs)
	}
	if io.Inputs["name"] != "Ada" || numberString(io.Inputs["times"]) != "2" {
		t.Errorf("inputs %v", io.Inputs)
	}
	// Defaults are applied and shown among the inputs.
	run = s.start(t, b, "echo", map[string]any{"name": "Bo"})
	s.waitFor(t, b, run.Name, done)
	io, _ = b.GetRunIO(context.Background(), controlplane.RunRef{Name: run.Name})
	if numberString(io.Inputs["times"]) != "1" || io.Outputs["greeting"] != "hello Bo" {
		t.Errorf("defaults not applied: %v → %v", io.Inputs, io.Outputs)
	}
}

func (s *suite) exactIntegers(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	run := s.start(t, b, "sum", map[string]any{"a": json.Number("9007199254740993"), "b": json.Number("1")})
	if final := s.waitFor(t, b, run.Name, done); final.Phase != controlplane.PhaseSucceeded {
		t.Fatalf("phase %s (%s)", final.Phase, final.Error)
	}
	io, err := b.GetRunIO(context.Background(), controlplane.RunRef{Name: run.Name})
	if err != nil {
		t.Fatal(err)
	}
	if got := numberString(io.Outputs["sum"]); got != "9007199254740994" {
		t.Errorf("sum = %s, want 9007199254740994", got)
	}
	if got := numberString(io.Inputs["a"]); got != "9007199254740993" {
		t.Errorf("input a = %s", got)
	}
}

func (s *suite) outputsOnlyAfterSuccess(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	run := s.start(t, b, "sleep", map[string]any{"seconds": json.Number("30")})
	io, err := b.GetRunIO(context.Background(), controlplane.RunRef{Name: run.Name})
	if err != nil {
		t.Fatal(err)
	}
	if io.Outputs != nil || numberString(io.Inputs["seconds"]) != "30" {
		t.Errorf("before success: inputs %v outputs %v", io.Inputs, io.Outputs)
	}
	if _, err := b.AbortRun(context.Background(), controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: run.Name}, Reason: "done with it"}); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, b, run.Name, done)
	if io, _ = b.GetRunIO(context.Background(), controlplane.RunRef{Name: run.Name}); io.Outputs != nil {
		t.Errorf("aborted run has outputs %v", io.Outputs)
	}
}

func (s *suite) abort(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	run := s.start(t, b, "sleep", map[string]any{"seconds": json.Number("60")})
	s.waitFor(t, b, run.Name, func(r controlplane.Run) bool { return r.Phase == controlplane.PhaseRunning || r.Phase.Done() })
	if _, err := b.AbortRun(context.Background(), controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: run.Name}, Reason: "changed my mind"}); err != nil {
		t.Fatal(err)
	}
	final := s.waitFor(t, b, run.Name, done)
	if final.Phase != controlplane.PhaseAborted {
		t.Fatalf("phase %s, want aborted", final.Phase)
	}
	_, err := b.AbortRun(context.Background(), controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: run.Name}, Reason: "again"})
	wantCode(t, err, controlplane.CodeConflict, "")
}

func (s *suite) notFound(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	ctx := context.Background()
	_, err := b.GetRun(ctx, controlplane.RunRef{Name: "rnosuchrun"})
	wantCode(t, err, controlplane.CodeNotFound, "")
	_, err = b.GetRunIO(ctx, controlplane.RunRef{Name: "rnosuchrun"})
	wantCode(t, err, controlplane.CodeNotFound, "")
	_, err = b.AbortRun(ctx, controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: "rnosuchrun"}, Reason: "x"})
	wantCode(t, err, controlplane.CodeNotFound, "")
}

func (s *suite) idempotency(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	ctx := context.Background()
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

func (s *suite) failure(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	run := s.start(t, b, "fail", map[string]any{})
	final := s.waitFor(t, b, run.Name, done)
	if final.Phase != controlplane.PhaseFailed || !strings.Contains(final.Error, "boom") {
		t.Fatalf("phase %s error %q, want failed mentioning boom", final.Phase, final.Error)
	}
	if final.EndedAt.IsZero() || final.CreatedAt.IsZero() {
		t.Errorf("timestamps missing: %+v", final)
	}
}
