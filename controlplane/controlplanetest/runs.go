package controlplanetest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// runs: a run's life from accepted to a final phase, its inputs and outputs, aborts.
func (s *suite) runs(t *testing.T) {
	t.Run("Lifecycle", s.lifecycle)
	t.Run("ExactIntegers", s.exactIntegers)
	t.Run("OutputsOnlyAfterSuccess", s.outputsOnlyAfterSuccess)
	t.Run("Failure", s.failure)
	t.Run("Abort", s.abort)
	t.Run("AbortQueued", s.abortQueued)
	t.Run("NotFound", s.notFound)
}

func (s *suite) lifecycle(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	r := s.start(t, b, "echo", map[string]any{"name": "Ada", "times": json.Number("2")})
	if !runName.MatchString(r.Name) || r.URL == "" || r.Phase.Done() {
		t.Fatalf("new run %+v: want a name matching %s, a url, a phase not yet final", r, runName)
	}
	if r.Task.Version != "v2" {
		t.Errorf("run of the latest echo has version %q", r.Task.Version)
	}
	if r.Kind != controlplane.KindTask || !strings.HasSuffix(r.URL, r.Name) || r.CreatedAt.IsZero() {
		t.Errorf("new run %+v: want kind task, a url ending in its name, a creation time", r)
	}
	final := s.waitFor(t, b, r.Name, done)
	if final.Phase != controlplane.PhaseSucceeded {
		t.Fatalf("phase %s (%s)", final.Phase, final.Error)
	}
	if final.Attempts < 1 || final.StartedAt.IsZero() || final.EndedAt.Before(final.StartedAt) {
		t.Errorf("finished run %+v: want at least one attempt, start and end times in order", final)
	}
	io, err := b.GetRunIO(s.ctx(), run(r.Name))
	if err != nil {
		t.Fatal(err)
	}
	if io.Outputs["greeting"] != "hello Ada hello Ada" {
		t.Errorf("outputs %v", io.Outputs)
	}
	if io.Inputs["name"] != "Ada" || numberString(io.Inputs["times"]) != "2" {
		t.Errorf("inputs %v", io.Inputs)
	}
	// Named in its own project and domain, the run is found; named elsewhere, it is not.
	if got, err := b.GetRun(s.ctx(), controlplane.RunRef{Name: r.Name, Project: s.h.Project, Domain: s.h.Domain}); err != nil || got.Name != r.Name {
		t.Errorf("run named with its own project and domain: %+v %v", got, err)
	}
	elsewhere := controlplane.RunRef{Name: r.Name, Project: s.h.Project + "-elsewhere", Domain: s.h.Domain}
	_, err = b.GetRun(s.ctx(), elsewhere)
	wantCode(t, err, controlplane.CodeNotFound, "")
	_, err = b.GetRunIO(s.ctx(), elsewhere)
	wantCode(t, err, controlplane.CodeNotFound, "")
	_, err = b.AbortRun(s.ctx(), controlplane.AbortRunRequest{Run: elsewhere, Reason: "wrong place"})
	wantCode(t, err, controlplane.CodeNotFound, "")
	// Defaults are applied and shown among the inputs.
	r = s.start(t, b, "echo", map[string]any{"name": "Bo"})
	s.waitFor(t, b, r.Name, done)
	io, _ = b.GetRunIO(s.ctx(), run(r.Name))
	if numberString(io.Inputs["times"]) != "1" || io.Outputs["greeting"] != "hello Bo" {
		t.Errorf("defaults not applied: %v → %v", io.Inputs, io.Outputs)
	}
}

func (s *suite) exactIntegers(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	r := s.start(t, b, "sum", map[string]any{"a": json.Number("9007199254740993"), "b": json.Number("1")})
	if final := s.waitFor(t, b, r.Name, done); final.Phase != controlplane.PhaseSucceeded {
		t.Fatalf("phase %s (%s)", final.Phase, final.Error)
	}
	io, err := b.GetRunIO(s.ctx(), run(r.Name))
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
	r := s.start(t, b, "sleep", map[string]any{"seconds": json.Number("30")})
	io, err := b.GetRunIO(s.ctx(), run(r.Name))
	if err != nil {
		t.Fatal(err)
	}
	if io.Outputs != nil || numberString(io.Inputs["seconds"]) != "30" {
		t.Errorf("before success: inputs %v outputs %v", io.Inputs, io.Outputs)
	}
	if _, err := b.AbortRun(s.ctx(), controlplane.AbortRunRequest{Run: run(r.Name), Reason: "done with it"}); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, b, r.Name, done)
	if io, _ = b.GetRunIO(s.ctx(), run(r.Name)); io.Outputs != nil {
		t.Errorf("aborted run has outputs %v", io.Outputs)
	}
}

func (s *suite) failure(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	r := s.start(t, b, "fail", map[string]any{})
	final := s.waitFor(t, b, r.Name, done)
	if final.Phase != controlplane.PhaseFailed || !strings.Contains(final.Error, "boom") {
		t.Fatalf("phase %s error %q, want failed mentioning boom", final.Phase, final.Error)
	}
	if final.EndedAt.IsZero() || final.CreatedAt.IsZero() {
		t.Errorf("timestamps missing: %+v", final)
	}
	io, err := b.GetRunIO(s.ctx(), run(r.Name))
	if err != nil || io.Outputs != nil {
		t.Errorf("failed run: outputs %v, %v; want none", io.Outputs, err)
	}
}

func (s *suite) abort(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	r := s.start(t, b, "sleep", map[string]any{"seconds": json.Number("60")})
	s.waitFor(t, b, r.Name, func(r controlplane.Run) bool { return r.Phase == controlplane.PhaseRunning || r.Phase.Done() })
	if _, err := b.AbortRun(s.ctx(), controlplane.AbortRunRequest{Run: run(r.Name), Reason: "changed my mind"}); err != nil {
		t.Fatal(err)
	}
	final := s.waitFor(t, b, r.Name, done)
	if final.Phase != controlplane.PhaseAborted {
		t.Fatalf("phase %s, want aborted", final.Phase)
	}
	_, err := b.AbortRun(s.ctx(), controlplane.AbortRunRequest{Run: run(r.Name), Reason: "again"})
	wantCode(t, err, controlplane.CodeConflict, "")
}

// abortQueued: a run that never started is aborted at once, never starts later, and frees
// nothing it did not hold (the runs ahead of it keep running).
func (s *suite) abortQueued(t *testing.T) {
	t.Parallel()
	if s.h.Concurrency == 0 {
		t.Skip("the harness cannot make a run wait in a queue (Concurrency 0)")
	}
	b := s.h.New(t)
	var ahead []string
	for range s.h.Concurrency {
		ahead = append(ahead, s.start(t, b, "sleep", map[string]any{"seconds": json.Number("60")}).Name)
	}
	for _, name := range ahead {
		s.waitFor(t, b, name, func(r controlplane.Run) bool { return r.Phase == controlplane.PhaseRunning })
	}
	queued := s.start(t, b, "echo", map[string]any{"name": "never"})
	if r, err := b.GetRun(s.ctx(), run(queued.Name)); err != nil || r.Phase != controlplane.PhaseQueued {
		t.Fatalf("with %d runs ahead, the next one is %s (%v), want queued", s.h.Concurrency, r.Phase, err)
	}
	aborted, err := b.AbortRun(s.ctx(), controlplane.AbortRunRequest{Run: run(queued.Name), Reason: "not needed"})
	if err != nil {
		t.Fatal(err)
	}
	if aborted.Phase != controlplane.PhaseAborted {
		t.Errorf("a queued run right after its abort is %s, want aborted at once", aborted.Phase)
	}
	for _, name := range ahead {
		if _, err := b.AbortRun(s.ctx(), controlplane.AbortRunRequest{Run: run(name), Reason: "cleanup"}); err != nil {
			t.Fatal(err)
		}
		s.waitFor(t, b, name, done)
	}
	final, err := b.GetRun(s.ctx(), run(queued.Name))
	if err != nil || final.Phase != controlplane.PhaseAborted || final.Attempts != 0 {
		t.Errorf("the aborted queued run is %s with %d attempts (%v): want aborted, never started", final.Phase, final.Attempts, err)
	}
}

func (s *suite) notFound(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	for _, m := range methods {
		if m.family != Runs {
			continue
		}
		t.Run(m.name, func(t *testing.T) {
			wantCode(t, m.call(s.ctx(), b, s), controlplane.CodeNotFound, "")
		})
	}
}
