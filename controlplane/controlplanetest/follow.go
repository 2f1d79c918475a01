package controlplanetest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// follow: watching a run's events (WatchRun) and reading its logs (RunLogs). The fixture
// tasks write to their log: echo a line "hello <name>" per greeting, fail a line containing
// "boom".
func (s *suite) follow(t *testing.T) {
	t.Run("WatchToEnd", s.watchToEnd)
	t.Run("Resume", s.watchResume)
	t.Run("Live", s.watchLive)
	t.Run("Failure", s.watchFailure)
	t.Run("Logs", s.runLogs)
	t.Run("NotFound", s.followNotFound)
}

// collect reads a watch to its end (io.EOF after the end event), bounded by the harness's
// wait.
func (s *suite) collect(t *testing.T, b controlplane.Backend, req controlplane.WatchRunRequest) []controlplane.RunEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx(), s.h.Wait)
	defer cancel()
	w, err := b.WatchRun(ctx, req)
	if err != nil {
		t.Fatalf("WatchRun %s after %q: %v", req.Run.Name, req.After, err)
	}
	defer w.Close()
	var out []controlplane.RunEvent
	for {
		ev, err := w.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Next after %v: %v", out, err)
		}
		out = append(out, ev)
	}
}

// checkHistory holds a run's events to what every backend tells: positions in order, a
// phase event first, each attempt's start before its lines and its end, the end last.
func checkHistory(t *testing.T, run string, evs []controlplane.RunEvent) {
	t.Helper()
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	if evs[0].Type != controlplane.EventPhase {
		t.Errorf("the first event is %s, want a phase", evs[0])
	}
	var last controlplane.EventPosition
	started, ended := map[int]bool{}, map[int]bool{}
	for i, ev := range evs {
		p, err := controlplane.ParseEventPosition(ev.ID)
		if err != nil || (i > 0 && !p.After(last)) {
			t.Errorf("event %d %s: id not after %s (%v)", i, ev, last, err)
		}
		last = p
		if ev.Run != run {
			t.Errorf("event %s names run %q", ev, ev.Run)
		}
		switch ev.Type {
		case controlplane.EventAttemptStarted:
			started[ev.Attempt] = true
		case controlplane.EventLog:
			if !started[ev.Attempt] || ended[ev.Attempt] {
				t.Errorf("%s outside its attempt", ev)
			}
		case controlplane.EventAttemptEnded:
			if !started[ev.Attempt] {
				t.Errorf("%s before the attempt started", ev)
			}
			ended[ev.Attempt] = true
		}
		if ev.Type == controlplane.EventEnd && i != len(evs)-1 {
			t.Errorf("events after the end: %v", evs[i+1:])
		}
	}
	if end := evs[len(evs)-1]; end.Type != controlplane.EventEnd || !end.Phase.Done() {
		t.Errorf("the last event is %s, want the end with a final phase", end)
	}
}

func (s *suite) watchToEnd(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	r := s.start(t, b, "echo", map[string]any{"name": "Ada", "times": json.Number("2")})
	evs := s.collect(t, b, controlplane.WatchRunRequest{Run: run(r.Name), Logs: true})
	checkHistory(t, r.Name, evs)
	var lines []string
	var attempts int
	for _, ev := range evs {
		switch ev.Type {
		case controlplane.EventLog:
			lines = append(lines, ev.Line)
		case controlplane.EventAttemptStarted:
			attempts++
		case controlplane.EventAttemptEnded:
			if ev.Outcome != "succeeded" {
				t.Errorf("%s: outcome %q", ev, ev.Outcome)
			}
		}
	}
	if attempts != 1 || strings.Count(strings.Join(lines, "\n"), "hello Ada") != 2 {
		t.Errorf("%d attempts, log lines %q; want 1 attempt writing hello Ada twice", attempts, lines)
	}
	end := evs[len(evs)-1]
	if end.Phase != controlplane.PhaseSucceeded || end.Outputs["greeting"] != "hello Ada hello Ada" {
		t.Errorf("end %s, outputs %v", end, end.Outputs)
	}
	// Without logs: the same events, no lines.
	quiet := s.collect(t, b, controlplane.WatchRunRequest{Run: run(r.Name)})
	for _, ev := range quiet {
		if ev.Type == controlplane.EventLog {
			t.Errorf("a watch without logs told %s", ev)
		}
	}
	if len(quiet) != len(evs)-len(lines) {
		t.Errorf("without logs %d events, with %d of which %d lines", len(quiet), len(evs), len(lines))
	}
}

// watchResume: a watch started after any event's id tells exactly the events after it;
// after the end's id there is nothing to watch (ErrEnded).
func (s *suite) watchResume(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	r := s.start(t, b, "echo", map[string]any{"name": "Bo", "times": json.Number("3")})
	for _, logs := range []bool{false, true} {
		all := s.collect(t, b, controlplane.WatchRunRequest{Run: run(r.Name), Logs: logs})
		for i, ev := range all[:len(all)-1] {
			rest := s.collect(t, b, controlplane.WatchRunRequest{Run: run(r.Name), Logs: logs, After: ev.ID})
			if got, want := ids(rest), ids(all[i+1:]); got != want {
				t.Errorf("logs %v, after %s: %s, want %s", logs, ev, got, want)
			}
		}
		_, err := b.WatchRun(s.ctx(), controlplane.WatchRunRequest{Run: run(r.Name), Logs: logs, After: all[len(all)-1].ID})
		if !errors.Is(err, controlplane.ErrEnded) {
			t.Errorf("after the end: %v, want ErrEnded", err)
		}
	}
	_, err := b.WatchRun(s.ctx(), controlplane.WatchRunRequest{Run: run(r.Name), After: "not an id"})
	wantCode(t, err, controlplane.CodeInvalidInput, "")
}

func ids(evs []controlplane.RunEvent) string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.ID+" "+string(ev.Type))
	}
	return strings.Join(out, ", ")
}

// watchLive: a watch tells what happens while it waits (the run starts, is aborted), and
// ends with its context.
func (s *suite) watchLive(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	r := s.start(t, b, "sleep", map[string]any{"seconds": json.Number("60")})
	ctx, cancel := context.WithTimeout(s.ctx(), s.h.Wait)
	defer cancel()
	w, err := b.WatchRun(ctx, controlplane.WatchRunRequest{Run: run(r.Name)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var evs []controlplane.RunEvent
	for len(evs) == 0 || evs[len(evs)-1].Phase != controlplane.PhaseRunning {
		ev, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for running, after %v: %v", evs, err)
		}
		evs = append(evs, ev)
	}
	// Nothing happens for a while: Next waits, and ends with its context.
	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	ev, err := w.Next(short)
	stop()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an idle watch told %s (%v), want the context's end", ev, err)
	}
	if _, err := b.AbortRun(s.ctx(), controlplane.AbortRunRequest{Run: run(r.Name), Reason: "watched"}); err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("after the abort, after %v: %v", evs, err)
		}
		evs = append(evs, ev)
		if ev.Type == controlplane.EventEnd {
			break
		}
	}
	checkHistory(t, r.Name, evs)
	if end := evs[len(evs)-1]; end.Phase != controlplane.PhaseAborted || end.Outputs != nil {
		t.Errorf("end %s outputs %v, want aborted without outputs", end, end.Outputs)
	}
	if _, err := w.Next(ctx); !errors.Is(err, io.EOF) {
		t.Errorf("after the end: %v, want io.EOF", err)
	}
}

func (s *suite) watchFailure(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	r := s.start(t, b, "fail", map[string]any{})
	evs := s.collect(t, b, controlplane.WatchRunRequest{Run: run(r.Name), Logs: true})
	checkHistory(t, r.Name, evs)
	end := evs[len(evs)-1]
	if end.Phase != controlplane.PhaseFailed || !strings.Contains(end.Error, "boom") {
		t.Errorf("end %s error %q, want failed mentioning boom", end, end.Error)
	}
	var boom bool
	for _, ev := range evs {
		boom = boom || ev.Type == controlplane.EventLog && strings.Contains(ev.Line, "boom")
	}
	if !boom {
		t.Errorf("no log line mentions boom: %v", evs)
	}
}

func (s *suite) runLogs(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	r := s.start(t, b, "echo", map[string]any{"name": "Cy", "times": json.Number("3")})
	s.waitFor(t, b, r.Name, done)
	logs, err := b.RunLogs(s.ctx(), controlplane.RunLogsRequest{Run: run(r.Name)})
	if err != nil {
		t.Fatal(err)
	}
	var hellos []controlplane.LogLine
	for _, l := range logs.Lines {
		if strings.Contains(l.Text, "hello Cy") {
			hellos = append(hellos, l)
		}
	}
	if logs.Attempt != 1 || len(hellos) != 3 {
		t.Fatalf("attempt %d, lines %+v; want attempt 1 with hello Cy three times", logs.Attempt, logs.Lines)
	}
	// The lines' ids are the positions of their log events.
	evs := s.collect(t, b, controlplane.WatchRunRequest{Run: run(r.Name), Logs: true})
	byID := map[string]string{}
	for _, ev := range evs {
		byID[ev.ID] = ev.Line
	}
	for _, l := range logs.Lines {
		if byID[l.ID] != l.Text {
			t.Errorf("line %q has id %s, which the watch gives to %q", l.Text, l.ID, byID[l.ID])
		}
	}
	last, err := b.RunLogs(s.ctx(), controlplane.RunLogsRequest{Run: run(r.Name), Attempt: 1, Tail: 1})
	if err != nil || len(last.Lines) != 1 || last.Lines[0] != logs.Lines[len(logs.Lines)-1] || !last.Truncated {
		t.Errorf("tail 1: %+v, %v; want the last line, truncated", last, err)
	}
	_, err = b.RunLogs(s.ctx(), controlplane.RunLogsRequest{Run: run(r.Name), Attempt: 2})
	wantCode(t, err, controlplane.CodeNotFound, "")
}

func (s *suite) followNotFound(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	for _, m := range methods {
		if m.family != Follow {
			continue
		}
		t.Run(m.name, func(t *testing.T) {
			wantCode(t, m.call(s.ctx(), b, s), controlplane.CodeNotFound, "")
		})
	}
}
