package local_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
)

// The local backend's watches beyond the conformance suite: attempts that fail and are
// retried, an attempt the server interrupts and a watch resumed after a restart, the two
// log streams.

// watchAll reads a watch from after until io.EOF, or until stop says so (then the watch is
// left at that event).
func watchAll(t *testing.T, b controlplane.Backend, req controlplane.WatchRunRequest, stop func(controlplane.RunEvent) bool) []controlplane.RunEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w, err := b.WatchRun(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var out []controlplane.RunEvent
	for {
		ev, err := w.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("after %v: %v", out, err)
		}
		out = append(out, ev)
		if stop != nil && stop(ev) {
			return out
		}
	}
}

func describeEvents(evs []controlplane.RunEvent) string {
	var out []string
	for _, ev := range evs {
		s := string(ev.Type)
		switch ev.Type {
		case controlplane.EventPhase, controlplane.EventEnd:
			s += ":" + string(ev.Phase)
		case controlplane.EventAttemptStarted:
			s += ":" + strconv.Itoa(ev.Attempt)
		case controlplane.EventAttemptEnded:
			s += ":" + strconv.Itoa(ev.Attempt) + ":" + ev.Outcome
		case controlplane.EventLog:
			s += ":" + ev.Stream + ":" + ev.Line
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func TestWatchRetries(t *testing.T) {
	t.Parallel()
	b, _ := open(t, []helperTask{{name: "flaky", kind: "flaky", outputs: "[{name: attempt, type: integer}]", extra: "    retries: 1\n"}}, nil)
	name := start(t, b, "flaky", nil)
	evs := watchAll(t, b, controlplane.WatchRunRequest{Run: controlplane.RunRef{Name: name}, Logs: true}, nil)
	want := "phase:queued attempt_started:1 phase:running log:stderr:first attempt fails attempt_ended:1:failed " +
		"attempt_started:2 attempt_ended:2:succeeded phase:succeeded end:succeeded"
	if got := describeEvents(evs); got != want {
		t.Errorf("events\n got %s\nwant %s", got, want)
	}
	if end := evs[len(evs)-1]; end.Outputs["attempt"] == nil || end.Time.IsZero() {
		t.Errorf("end %+v: want the outputs and when it ended", end)
	}
}

// TestWatchAcrossRestart: the server stops while an attempt runs; the watch ends saying the
// server is shutting down; after the next start a watch resumed after its last event tells
// the interruption, the run queued again and its second attempt.
func TestWatchAcrossRestart(t *testing.T) {
	t.Parallel()
	marks := t.TempDir()
	b, cfg := open(t, []helperTask{{name: "gate", kind: "gate", outputs: "[{name: attempt, type: integer}]", env: "FWH_DIR: " + strconv.Quote(marks)}}, nil)
	name := start(t, b, "gate", nil)
	ref := controlplane.RunRef{Name: name}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w, err := b.WatchRun(ctx, controlplane.WatchRunRequest{Run: ref})
	if err != nil {
		t.Fatal(err)
	}
	var seen []controlplane.RunEvent
	for len(seen) == 0 || seen[len(seen)-1].Phase != controlplane.PhaseRunning {
		ev, err := w.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, ev)
	}
	stopCtx, stop := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_ = b.Close(stopCtx) // the attempt outlasts the stop: interrupted
	stop()
	if _, err := w.Next(ctx); controlplane.CodeOf(err) != controlplane.CodeUnavailable {
		t.Errorf("a watch of a backend that closed: %v, want unavailable", err)
	}
	w.Close()

	b2, err := local.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b2.Close(ctx)
	}()
	rest := watchAll(t, b2, controlplane.WatchRunRequest{Run: ref, After: seen[len(seen)-1].ID}, nil)
	want := "attempt_ended:1:interrupted phase:queued attempt_started:2 phase:running attempt_ended:2:succeeded phase:succeeded end:succeeded"
	if got := describeEvents(rest); got != want {
		t.Errorf("after the restart\n got %s\nwant %s", got, want)
	}
	// The whole history, told again from the start, is what was seen then the rest.
	all := watchAll(t, b2, controlplane.WatchRunRequest{Run: ref}, nil)
	if got, want := describeEvents(all), describeEvents(append(seen, rest...)); got != want {
		t.Errorf("from the start\n got %s\nwant %s", got, want)
	}
}

func TestWatchLogStreams(t *testing.T) {
	t.Parallel()
	b, cfg := open(t, []helperTask{{name: "mixed", kind: "mixed"}}, nil)
	name := start(t, b, "mixed", nil)
	waitDone(t, b, name)
	ref := controlplane.RunRef{Name: name}
	lines := func(s controlplane.LogStreams) string {
		var out []string
		for _, ev := range watchAll(t, b, controlplane.WatchRunRequest{Run: ref, Logs: true, Streams: s}, nil) {
			if ev.Type == controlplane.EventLog {
				out = append(out, ev.Stream+":"+ev.Line)
			}
		}
		return strings.Join(out, " | ")
	}
	if got := lines(controlplane.LogStreams{Stdout: true}); got != "stdout:out 1 | stdout:out 2 | stdout:tail" {
		t.Errorf("stdout: %s", got)
	}
	if got := lines(controlplane.LogStreams{Stderr: true}); got != "stderr:err 1" {
		t.Errorf("stderr: %s", got)
	}
	if got := lines(controlplane.LogStreams{}); !strings.Contains(got, "stderr:err 1") || strings.Count(got, "stdout:") != 3 {
		t.Errorf("both: %s", got)
	}
	logs, err := b.RunLogs(context.Background(), controlplane.RunLogsRequest{Run: ref, Streams: controlplane.LogStreams{Stdout: true}})
	if err != nil || len(logs.Lines) != 3 || logs.Lines[2].Text != "tail" {
		t.Errorf("RunLogs stdout: %+v, %v", logs, err)
	}
	// The stream files are kept as they came, beside the lines file.
	if raw, err := os.ReadFile(filepath.Join(cfg.DataDir, "logs", name+".1.stdout.log")); err != nil || string(raw) != "out 1\nout 2\r\ntail" {
		t.Errorf("stdout.log %q, %v", raw, err)
	}
}

// TestRunLogsOfALegacyAttempt: an attempt from before lines files were kept is read from its
// stdout and stderr files.
func TestRunLogsOfALegacyAttempt(t *testing.T) {
	t.Parallel()
	b, cfg := open(t, []helperTask{{name: "mixed", kind: "mixed"}}, nil)
	name := start(t, b, "mixed", nil)
	waitDone(t, b, name)
	if err := os.Remove(filepath.Join(cfg.DataDir, "logs", name+".1.lines")); err != nil {
		t.Fatal(err)
	}
	logs, err := b.RunLogs(context.Background(), controlplane.RunLogsRequest{Run: controlplane.RunRef{Name: name}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range logs.Lines {
		got = append(got, l.Stream+":"+l.Text)
	}
	if strings.Join(got, " | ") != "stdout:out 1 | stdout:out 2 | stdout:tail | stderr:err 1" {
		t.Errorf("legacy lines: %q", got)
	}
}
