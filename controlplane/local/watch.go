package local

import (
	"context"
	"io"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// A watch tells a run's history (history) from its stored state: every event's position is
// derived from the runs and attempts tables and the offsets of the attempt's lines file, so
// the same position means the same event to every watch, after a reconnect and after a
// restart. A watch keeps only its last position: on each Next it reads the run's state (from
// its topic, which reads the database once per change for all its watches) and returns the
// first event after that position, or waits for the hub to say something changed.

// WatchRun opens a watch of a run.
func (b *Backend) WatchRun(ctx context.Context, req controlplane.WatchRunRequest) (controlplane.RunWatch, error) {
	if _, err := b.caller(ctx); err != nil {
		return nil, err
	}
	after, err := controlplane.ParseEventPosition(req.After)
	if err != nil {
		return nil, err
	}
	t := b.hub.subscribe(req.Run.Name)
	st, err := t.get(ctx, b.hub, req.Run.Name)
	if err != nil {
		b.hub.unsubscribe(req.Run.Name, t)
		return nil, err
	}
	if req.After != "" && st.Run.Phase.Done() && !endPosition(st).After(after) {
		b.hub.unsubscribe(req.Run.Name, t)
		return nil, controlplane.ErrEnded
	}
	return &watch{b: b, t: t, req: req, last: after}, nil
}

type watch struct {
	b      *Backend
	t      *topic
	req    controlplane.WatchRunRequest
	last   controlplane.EventPosition
	lines  []logRecord // read ahead from the lines file of attempt linesOf
	linesA int
	closed bool
}

func (w *watch) Close() error {
	if !w.closed {
		w.closed = true
		w.b.hub.unsubscribe(w.req.Run.Name, w.t)
	}
	return nil
}

func (w *watch) Next(ctx context.Context) (controlplane.RunEvent, error) {
	name := w.req.Run.Name
	for {
		if w.closed {
			return controlplane.RunEvent{}, io.EOF
		}
		state, lines := w.t.channels(w.req.Logs)
		st, err := w.t.get(ctx, w.b.hub, name)
		if err != nil {
			return controlplane.RunEvent{}, err
		}
		ev, wait, err := w.next(st)
		switch {
		case err != nil:
			return controlplane.RunEvent{}, err
		case !wait && ev.Type == "":
			return controlplane.RunEvent{}, io.EOF
		case !wait:
			return ev, nil
		}
		select {
		case <-state:
		case <-lines:
		case <-ctx.Done():
			return controlplane.RunEvent{}, ctx.Err()
		case <-w.b.draining.Done():
			return controlplane.RunEvent{}, errClosed
		}
	}
}

// next finds the first event after w.last in the run's history: the event, or wait true when
// there is none yet, or neither when the history has been told whole.
func (w *watch) next(st *runState) (controlplane.RunEvent, bool, error) {
	for _, it := range st.history() {
		p, ev := it.pos, it.ev
		if ev.Type != controlplane.EventLog {
			if p.After(w.last) {
				w.last = p
				return ev, false, nil
			}
			continue
		}
		// The log of attempt p.Attempt, between its start and its end.
		if !w.req.Logs || w.last.Attempt > p.Attempt || w.last.Attempt == p.Attempt && w.last.Stage > controlplane.StageLog {
			continue
		}
		line, ok, err := w.nextLine(p.Attempt)
		if err != nil {
			return controlplane.RunEvent{}, false, err
		}
		if ok {
			return line, false, nil
		}
		if !attemptEnded(st, p.Attempt) {
			return controlplane.RunEvent{}, true, nil // more lines may come
		}
		// The attempt has ended, so its file is whole: go on to its end.
	}
	if st.Run.Phase.Done() {
		return controlplane.RunEvent{}, false, nil
	}
	return controlplane.RunEvent{}, true, nil
}

// nextLine returns the next line of attempt a after w.last that the watch's streams select,
// reading ahead a chunk of the lines file at a time.
func (w *watch) nextLine(a int) (controlplane.RunEvent, bool, error) {
	if w.linesA != a {
		w.lines, w.linesA = nil, a
	}
	for {
		for len(w.lines) > 0 {
			r := w.lines[0]
			w.lines = w.lines[1:]
			w.last = controlplane.EventPosition{Attempt: a, Stage: controlplane.StageLog, Seq: r.end}
			if w.req.Streams.Has(r.stream()) {
				return controlplane.RunEvent{ID: w.last.String(), Type: controlplane.EventLog, Run: w.req.Run.Name,
					Attempt: a, Stream: r.stream(), Line: r.text}, true, nil
			}
		}
		from := int64(0)
		if w.last.Attempt == a && w.last.Stage == controlplane.StageLog {
			from = w.last.Seq
		}
		var batch []logRecord
		_, err := readRecords(w.b.linesPath(w.req.Run.Name, a), from, 64<<10, func(r logRecord) bool {
			batch = append(batch, r)
			return true
		})
		if err != nil {
			return controlplane.RunEvent{}, false, err
		}
		if len(batch) == 0 {
			return controlplane.RunEvent{}, false, nil
		}
		w.lines = batch
	}
}

func (b *Backend) linesPath(run string, attempt int) string {
	return b.logPath(run, attempt, "lines")
}

func attemptEnded(st *runState, a int) bool {
	for _, r := range st.Attempts {
		if r.Attempt == a {
			return r.EndedAt != 0 || r.Outcome != outcomeNone
		}
	}
	// No record of an attempt the run counts: a database from before attempt records, or
	// the run has ended (nothing more will be written either way).
	return st.Run.Phase.Done() || st.Run.Attempts > a
}

// lastAttempt is the number of the run's latest attempt, 0 for none.
func lastAttempt(st *runState) int {
	n := st.Run.Attempts
	for _, a := range st.Attempts {
		n = max(n, a.Attempt)
	}
	return n
}

func endPosition(st *runState) controlplane.EventPosition {
	return controlplane.EventPosition{Attempt: lastAttempt(st), Stage: controlplane.StageEnd}
}

// history is the run's life as events, in position order, from its stored state. Where an
// attempt's log lines belong it has a placeholder EventLog (its position's Seq is 0); the
// watch reads the lines themselves from the attempt's lines file.
//
//	queued                    0.5.1    every run begins queued
//	attempt_started #a        a.1.0
//	running                   a.2.4    when the phase before was not running
//	log lines of #a           a.3.<offset after the line>
//	attempt_ended #a          a.4.0
//	queued                    a.5.1    interrupted (or a retry held for the next start): queued again
//	<final phase>             n.6.6    n: the last attempt, 0 for none
//	end                       n.7.0
//
// It is worked out once per state read, and shared by the watches of the run.
func (st *runState) history() []historyItem {
	st.once.Do(func() {
		evs := st.events()
		st.hist = make([]historyItem, len(evs))
		for i, ev := range evs {
			p, _ := controlplane.ParseEventPosition(ev.ID)
			st.hist[i] = historyItem{pos: p, ev: ev}
		}
	})
	return st.hist
}

type historyItem struct {
	pos controlplane.EventPosition
	ev  controlplane.RunEvent
}

func (st *runState) events() []controlplane.RunEvent {
	r := &st.Run
	name := r.Name
	pos := func(a int, s controlplane.EventStage, seq int64) string {
		return controlplane.EventPosition{Attempt: a, Stage: s, Seq: seq}.String()
	}
	rank := controlplane.PhaseRank
	out := make([]controlplane.RunEvent, 0, 4+4*len(st.Attempts))
	out = append(out, controlplane.RunEvent{ID: pos(0, controlplane.StageBetween, rank(controlplane.PhaseQueued)),
		Type: controlplane.EventPhase, Run: name, Phase: controlplane.PhaseQueued, Time: unixTime(r.CreatedAt)})
	phase := controlplane.PhaseQueued
	for i, a := range st.Attempts {
		n := a.Attempt
		out = append(out, controlplane.RunEvent{ID: pos(n, controlplane.StageAttemptStarted, 0), Type: controlplane.EventAttemptStarted,
			Run: name, Attempt: n, Time: unixTime(a.StartedAt)})
		if phase != controlplane.PhaseRunning {
			phase = controlplane.PhaseRunning
			out = append(out, controlplane.RunEvent{ID: pos(n, controlplane.StagePhase, rank(phase)), Type: controlplane.EventPhase,
				Run: name, Phase: phase, Time: unixTime(a.StartedAt)})
		}
		out = append(out, controlplane.RunEvent{ID: pos(n, controlplane.StageLog, 0), Type: controlplane.EventLog, Run: name, Attempt: n})
		if a.EndedAt == 0 && a.Outcome == outcomeNone {
			break // running
		}
		out = append(out, controlplane.RunEvent{ID: pos(n, controlplane.StageAttemptEnded, 0), Type: controlplane.EventAttemptEnded,
			Run: name, Attempt: n, Outcome: string(a.Outcome), Error: a.Error, Time: unixTime(a.EndedAt)})
		last := i == len(st.Attempts)-1
		if a.Outcome == outcomeInterrupted && (!last || !r.Phase.Done()) || last && r.Phase == controlplane.PhaseQueued {
			phase = controlplane.PhaseQueued
			out = append(out, controlplane.RunEvent{ID: pos(n, controlplane.StageBetween, rank(phase)), Type: controlplane.EventPhase,
				Run: name, Phase: phase, Time: unixTime(a.EndedAt)})
		}
	}
	if r.Phase.Done() {
		n := lastAttempt(st)
		out = append(out,
			controlplane.RunEvent{ID: pos(n, controlplane.StageFinal, rank(r.Phase)), Type: controlplane.EventPhase, Run: name,
				Phase: r.Phase, Error: r.Error, Time: unixTime(r.EndedAt)},
			controlplane.RunEvent{ID: pos(n, controlplane.StageEnd, 0), Type: controlplane.EventEnd, Run: name,
				Phase: r.Phase, Error: r.Error, Outputs: outputsOf(r), Time: unixTime(r.EndedAt)})
	}
	return out
}

// outputsOf is a succeeded run's outputs, nil otherwise (or when they cannot be read, which
// the run's io answer reports).
func outputsOf(r *runRow) map[string]any {
	if r.Phase != controlplane.PhaseSucceeded || !r.Outputs.Valid {
		return nil
	}
	m, err := decodeObject(r.Outputs.String)
	if err != nil {
		return nil
	}
	return m
}
