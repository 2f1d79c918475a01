package impl_test

import (
	"context"
	"io"
	"strings"
	"sync"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// The fake backend's watches: each run has a script of events (scripts), which a test
// extends (advance) to move the run along; watches read it as the real backends read their
// runs' stored history, by position.

type fakeScript struct {
	events  []controlplane.RunEvent
	endless bool // log lines forever, as fast as they are asked for (the slow reader's run)
}

// followState is the part of fakeBackend the watches use.
type followState struct {
	fmu     sync.Mutex
	scripts map[string]*fakeScript
	changed chan struct{}
	// waiting receives a run's name each time a watch of it has nothing to tell and waits
	// (non-blocking: a test that wants to know makes it buffered).
	waiting chan string
	open    int // watches not closed yet
}

func pos(a int, stage controlplane.EventStage, seq int64) string {
	return controlplane.EventPosition{Attempt: a, Stage: stage, Seq: seq}.String()
}

// scriptOf is the life of a run that succeeds: queued, an attempt that writes two lines,
// succeeded with outputs.
func doneScript(run string) []controlplane.RunEvent {
	return append(runningScript(run), finishScript(run)...)
}

// runningScript is a run's life up to running, with two lines written.
func runningScript(run string) []controlplane.RunEvent {
	return []controlplane.RunEvent{
		{ID: pos(0, controlplane.StageBetween, 1), Type: controlplane.EventPhase, Run: run, Phase: controlplane.PhaseQueued},
		{ID: pos(1, controlplane.StageAttemptStarted, 0), Type: controlplane.EventAttemptStarted, Run: run, Attempt: 1},
		{ID: pos(1, controlplane.StagePhase, 4), Type: controlplane.EventPhase, Run: run, Phase: controlplane.PhaseRunning},
		{ID: pos(1, controlplane.StageLog, 10), Type: controlplane.EventLog, Run: run, Attempt: 1, Stream: controlplane.StreamStdout, Line: "hello Ada"},
		{ID: pos(1, controlplane.StageLog, 20), Type: controlplane.EventLog, Run: run, Attempt: 1, Stream: controlplane.StreamStderr, Line: "a warning"},
	}
}

// finishScript ends a running run: the attempt succeeds, then the run.
func finishScript(run string) []controlplane.RunEvent {
	return []controlplane.RunEvent{
		{ID: pos(1, controlplane.StageAttemptEnded, 0), Type: controlplane.EventAttemptEnded, Run: run, Attempt: 1, Outcome: "succeeded"},
		{ID: pos(1, controlplane.StageFinal, 6), Type: controlplane.EventPhase, Run: run, Phase: controlplane.PhaseSucceeded},
		{ID: pos(1, controlplane.StageEnd, 0), Type: controlplane.EventEnd, Run: run, Phase: controlplane.PhaseSucceeded, Outputs: map[string]any{"greeting": "hello Ada"}},
	}
}

func (f *fakeBackend) follow() *followState {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fs == nil {
		f.fs = &followState{changed: make(chan struct{}), scripts: map[string]*fakeScript{
			"r-done":    {events: doneScript("r-done")},
			"r-running": {events: runningScript("r-running")},
			"r-chatty":  {endless: true},
		}}
		f.runs["r-chatty"] = controlplane.Run{Name: "r-chatty", Kind: controlplane.KindTask, Task: controlplane.TaskRef{Domain: "development", Project: "flytesnacks", Name: "greet", Version: "v1"},
			Phase: controlplane.PhaseRunning, URL: "http://x/run/r-chatty", Attempts: 1}
	}
	return f.fs
}

// advance appends events to a run's script (making it when new), and moves the run to the
// phase of the last phase or end event among them.
func (f *fakeBackend) advance(run string, evs ...controlplane.RunEvent) {
	fs := f.follow()
	fs.fmu.Lock()
	sc := fs.scripts[run]
	if sc == nil {
		sc = &fakeScript{}
		fs.scripts[run] = sc
	}
	sc.events = append(sc.events, evs...)
	close(fs.changed)
	fs.changed = make(chan struct{})
	fs.fmu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.runs[run]
	if !ok {
		r = controlplane.Run{Name: run, Kind: controlplane.KindTask, Task: controlplane.TaskRef{Domain: "development", Project: "flytesnacks", Name: "greet", Version: "v1"},
			Phase: controlplane.PhaseQueued, URL: "http://x/run/" + run}
	}
	for _, ev := range evs {
		if ev.Type == controlplane.EventPhase || ev.Type == controlplane.EventEnd {
			r.Phase = ev.Phase
		}
	}
	f.runs[run] = r
}

// openWatches is how many watches were opened and not closed.
func (f *fakeBackend) openWatches() int {
	fs := f.follow()
	fs.fmu.Lock()
	defer fs.fmu.Unlock()
	return fs.open
}

func (f *fakeBackend) WatchRun(ctx context.Context, req controlplane.WatchRunRequest) (controlplane.RunWatch, error) {
	fs := f.follow()
	if err := f.record(ctx, "WatchRun"); err != nil {
		return nil, err
	}
	f.keep("WatchRun", req)
	if _, err := f.getRun(req.Run.Name); err != nil {
		return nil, err
	}
	after, err := controlplane.ParseEventPosition(req.After)
	if err != nil {
		return nil, err
	}
	fs.fmu.Lock()
	defer fs.fmu.Unlock()
	sc := fs.scripts[req.Run.Name]
	if sc == nil {
		sc = &fakeScript{}
		fs.scripts[req.Run.Name] = sc
	}
	if n := len(sc.events); n > 0 && sc.events[n-1].Type == controlplane.EventEnd {
		if end, _ := controlplane.ParseEventPosition(sc.events[n-1].ID); req.After != "" && !end.After(after) {
			return nil, controlplane.ErrEnded
		}
	}
	fs.open++
	return &fakeWatch{f: f, fs: fs, req: req, last: after}, nil
}

type fakeWatch struct {
	f      *fakeBackend
	fs     *followState
	req    controlplane.WatchRunRequest
	last   controlplane.EventPosition
	closed bool
}

func (w *fakeWatch) Next(ctx context.Context) (controlplane.RunEvent, error) {
	name := w.req.Run.Name
	for {
		w.fs.fmu.Lock()
		sc, ch := w.fs.scripts[name], w.fs.changed
		if sc.endless {
			w.fs.fmu.Unlock()
			if err := ctx.Err(); err != nil {
				return controlplane.RunEvent{}, err
			}
			w.last = controlplane.EventPosition{Attempt: 1, Stage: controlplane.StageLog, Seq: w.last.Seq + 1}
			return controlplane.RunEvent{ID: w.last.String(), Type: controlplane.EventLog, Run: name, Attempt: 1,
				Stream: controlplane.StreamStdout, Line: strings.Repeat("x", 200)}, nil
		}
		for _, ev := range sc.events {
			p, _ := controlplane.ParseEventPosition(ev.ID)
			if !p.After(w.last) || ev.Type == controlplane.EventLog && (!w.req.Logs || !w.req.Streams.Has(ev.Stream)) {
				continue
			}
			w.last = p
			w.fs.fmu.Unlock()
			return ev, nil
		}
		ended := len(sc.events) > 0 && sc.events[len(sc.events)-1].Type == controlplane.EventEnd || w.req.Run.Domain == "probe"
		w.fs.fmu.Unlock()
		if ended {
			return controlplane.RunEvent{}, io.EOF
		}
		select {
		case w.fs.waiting <- name:
		default:
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return controlplane.RunEvent{}, ctx.Err()
		}
	}
}

func (w *fakeWatch) Close() error {
	w.fs.fmu.Lock()
	defer w.fs.fmu.Unlock()
	if !w.closed {
		w.closed = true
		w.fs.open--
	}
	return nil
}

func (f *fakeBackend) RunLogs(ctx context.Context, req controlplane.RunLogsRequest) (controlplane.RunLogs, error) {
	fs := f.follow()
	if err := f.record(ctx, "RunLogs"); err != nil {
		return controlplane.RunLogs{}, err
	}
	f.keep("RunLogs", req)
	r, err := f.getRun(req.Run.Name)
	if err != nil {
		return controlplane.RunLogs{}, err
	}
	if req.Attempt > r.Attempts && req.Attempt > 1 {
		return controlplane.RunLogs{}, controlplane.Errorf(controlplane.CodeNotFound, "run %q has no attempt %d", r.Name, req.Attempt)
	}
	fs.fmu.Lock()
	defer fs.fmu.Unlock()
	out := controlplane.RunLogs{Run: req.Run, Attempt: 1, Resume: pos(1, controlplane.StageLog, 0)}
	for _, ev := range fs.scripts[r.Name].events {
		if ev.Type == controlplane.EventLog && req.Streams.Has(ev.Stream) {
			out.Lines = append(out.Lines, controlplane.LogLine{ID: ev.ID, Stream: ev.Stream, Text: ev.Line})
			out.Resume = ev.ID
		}
	}
	if req.Tail > 0 && len(out.Lines) > req.Tail {
		out.Lines, out.Truncated = out.Lines[len(out.Lines)-req.Tail:], true
	}
	return out, nil
}
