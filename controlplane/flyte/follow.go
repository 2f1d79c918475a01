package flyte

import (
	"context"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// A run's events, from the control plane's RunService/WatchActionDetails stream (the
// action's details on each change) and its log lines from DataProxyService/TailLogs. Event
// positions are derived from the details as the local backend derives them from its tables
// (see controlplane.EventPosition): attempt n's start n.1.0, running n.2.4, its k-th log line
// n.3.k, its end n.4.0, queued again n.5.1, then the final phase N.6.r and the end N.7.0. So
// a watch started After any position, on any replica, continues there: a log line is found
// again by its number within the attempt's log.
//
// A watch runs one goroutine reading WatchActionDetails (and, while it is at an attempt's log,
// one reading TailLogs, which hands over one line at a time: a slow reader holds the stream,
// not a growing buffer). Both end with the watch's context or Close.
//
// The control plane's logs do not tell stdout from stderr: lines have stream "", and a
// request for one stream only is refused (unimplemented).

// WatchRun opens a watch of a run.
func (b *Backend) WatchRun(ctx context.Context, req controlplane.WatchRunRequest) (controlplane.RunWatch, error) {
	leave, err := b.enter()
	if err != nil {
		return nil, err
	}
	defer leave()
	after, err := controlplane.ParseEventPosition(req.After)
	if err != nil {
		return nil, err
	}
	if !req.Streams.Both() {
		return nil, oneStream()
	}
	res, rid, err := b.findRun(ctx, req.Run)
	if err != nil {
		return nil, err
	}
	d := &res.Details.Action
	if req.After != "" && detailsDone(d) && !endPosition(d, after.Attempt).After(after) {
		return nil, controlplane.ErrEnded
	}
	wctx, cancel := context.WithCancel(ctx)
	w := &watch{b: b, rid: rid, req: req, last: after, maxSeen: after.Attempt, ctx: wctx, cancel: cancel,
		details: d, changed: make(chan struct{}), done: make(chan struct{})}
	go w.follow()
	return w, nil
}

func oneStream() error {
	return controlplane.Errorf(controlplane.CodeUnimplemented,
		"the Flyte control plane's logs do not tell stdout from stderr: ask for both streams")
}

type watch struct {
	b       *Backend
	rid     runID
	req     controlplane.WatchRunRequest
	last    controlplane.EventPosition
	maxSeen int // the highest attempt told, so the end comes after it (an aborted run loses its attempts)

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // follow has returned
	closed bool

	mu      sync.Mutex
	details *actionDetails
	err     error         // the details stream failed
	changed chan struct{} // closed (and replaced) on each change of the above

	final *controlplane.RunIO // the run once ended, read once
	logs  *logReader          // the log being read, of attempt logs.attempt
}

// follow reads the details stream until the run ends, the stream fails, or the watch ends.
// A stream the control plane closes before the run ended is opened again.
func (w *watch) follow() {
	defer close(w.done)
	delay := 100 * time.Millisecond
	for {
		err := openStream(w.ctx, w.b, w.b.s.watchAction, &watchActionRequest{ActionID: actionID{Run: w.rid, Name: "a0"}},
			func(m *watchActionResponse) bool {
				d := m.Details
				w.set(func() { w.details = &d })
				return true
			})
		if w.ctx.Err() != nil {
			return
		}
		if err != nil {
			w.set(func() { w.err = err })
			return
		}
		w.mu.Lock()
		over := detailsDone(w.details)
		w.mu.Unlock()
		if over {
			return
		}
		select {
		case <-w.ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func (w *watch) set(f func()) {
	w.mu.Lock()
	f()
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

func (w *watch) Close() error {
	w.closed = true
	w.cancel()
	<-w.done
	if w.logs != nil {
		w.logs.close()
		w.logs = nil
	}
	return nil
}

func (w *watch) Next(ctx context.Context) (controlplane.RunEvent, error) {
	for {
		if w.closed {
			return controlplane.RunEvent{}, io.EOF
		}
		if err := w.ctx.Err(); err != nil {
			return controlplane.RunEvent{}, err // the watch's context (WatchRun's) ended
		}
		w.mu.Lock()
		d, failed, changed := w.details, w.err, w.changed
		w.mu.Unlock()
		done := detailsDone(d)
		if done && w.final == nil {
			// The end's phase and outputs, read once the control plane's status has caught
			// up with the last attempt (GetRunIO waits for that, within the call timeout).
			io, err := w.b.GetRunIO(ctx, controlplane.RunRef{Name: w.rid.Name, Project: w.rid.Project, Domain: w.rid.Domain})
			if err != nil {
				return controlplane.RunEvent{}, err
			}
			w.final = &io
		}
		ev, lines, err := w.next(ctx, d)
		switch {
		case err != nil:
			return controlplane.RunEvent{}, err
		case ev.Type != "":
			return ev, nil
		case done && lines == nil:
			return controlplane.RunEvent{}, io.EOF
		case failed != nil:
			return controlplane.RunEvent{}, failed
		}
		select {
		case <-changed:
		case <-lines:
		case <-ctx.Done():
			return controlplane.RunEvent{}, ctx.Err()
		}
	}
}

// next finds the first event after w.last in the run's history: an event, or none and a
// channel that signals more log lines (nil when only a change of the details can tell more).
func (w *watch) next(ctx context.Context, d *actionDetails) (controlplane.RunEvent, <-chan struct{}, error) {
	for _, ev := range w.history(d) {
		p, _ := controlplane.ParseEventPosition(ev.ID)
		if ev.Type != controlplane.EventLog {
			if p.After(w.last) {
				w.last = p
				w.maxSeen = max(w.maxSeen, p.Attempt)
				return ev, nil, nil
			}
			continue
		}
		if !w.req.Logs || w.last.Attempt > p.Attempt || w.last.Attempt == p.Attempt && w.last.Stage > controlplane.StageLog {
			continue
		}
		line, more, err := w.nextLine(p.Attempt)
		if err != nil {
			return controlplane.RunEvent{}, nil, err
		}
		if line.Type != "" {
			return line, nil, nil
		}
		if more != nil {
			return controlplane.RunEvent{}, more, nil // the log goes on
		}
		if !attemptOver(d, p.Attempt) {
			// The log's stream ended (or had no log yet) while its attempt goes on: read it
			// again, after the last line told, at the next change of the details.
			w.logs.close()
			w.logs = nil
			return controlplane.RunEvent{}, nil, nil
		}
	}
	return controlplane.RunEvent{}, nil, nil
}

// nextLine returns the next line of attempt a's log when one is there; else, while the log
// goes on, a channel that signals the next.
func (w *watch) nextLine(a int) (controlplane.RunEvent, <-chan struct{}, error) {
	if w.logs == nil || w.logs.attempt != a {
		if w.logs != nil {
			w.logs.close()
		}
		skip := int64(0)
		if w.last.Attempt == a && w.last.Stage == controlplane.StageLog {
			skip = w.last.Seq
		}
		w.logs = w.b.readLog(w.ctx, w.rid, a, skip)
	}
	l, more, err := w.logs.next()
	if err != nil || l == nil {
		return controlplane.RunEvent{}, more, err
	}
	w.last = controlplane.EventPosition{Attempt: a, Stage: controlplane.StageLog, Seq: l.seq}
	return controlplane.RunEvent{ID: w.last.String(), Type: controlplane.EventLog, Run: w.rid.Name, Attempt: a,
		Line: l.text, Time: l.time}, nil, nil
}

// history is the run's life as events, in position order (see the comment atop); where an
// attempt's log lines belong it has a placeholder EventLog.
func (w *watch) history(d *actionDetails) []controlplane.RunEvent {
	name := w.rid.Name
	pos := func(a int, s controlplane.EventStage, seq int64) string {
		return controlplane.EventPosition{Attempt: a, Stage: s, Seq: seq}.String()
	}
	rank := controlplane.PhaseRank
	out := []controlplane.RunEvent{{ID: pos(0, controlplane.StageBetween, rank(controlplane.PhaseQueued)),
		Type: controlplane.EventPhase, Run: name, Phase: controlplane.PhaseQueued, Time: timeOf(d.Status.StartTime)}}
	for i, a := range d.Attempts {
		n := i + 1
		ph := phaseOf(a.Phase)
		out = append(out, controlplane.RunEvent{ID: pos(n, controlplane.StageAttemptStarted, 0), Type: controlplane.EventAttemptStarted,
			Run: name, Attempt: n, Time: timeOf(a.StartTime)})
		if ph == controlplane.PhaseRunning || ph.Done() {
			out = append(out, controlplane.RunEvent{ID: pos(n, controlplane.StagePhase, rank(controlplane.PhaseRunning)),
				Type: controlplane.EventPhase, Run: name, Phase: controlplane.PhaseRunning, Time: timeOf(a.StartTime)})
		}
		out = append(out, controlplane.RunEvent{ID: pos(n, controlplane.StageLog, 0), Type: controlplane.EventLog, Run: name, Attempt: n})
		if !ph.Done() {
			break
		}
		ev := controlplane.RunEvent{ID: pos(n, controlplane.StageAttemptEnded, 0), Type: controlplane.EventAttemptEnded,
			Run: name, Attempt: n, Outcome: string(ph), Time: timeOf(a.EndTime)}
		if a.ErrorInfo != nil {
			ev.Error = a.ErrorInfo.Message
		}
		out = append(out, ev)
		if i < len(d.Attempts)-1 { // retried
			out = append(out, controlplane.RunEvent{ID: pos(n, controlplane.StageBetween, rank(controlplane.PhaseQueued)),
				Type: controlplane.EventPhase, Run: name, Phase: controlplane.PhaseQueued, Time: timeOf(a.EndTime)})
		}
	}
	if w.final != nil {
		r := w.final.Run
		if n := len(d.Attempts); !r.Phase.Done() && n > 0 {
			// The status never caught up with the last attempt: that attempt tells the end.
			r.Phase, r.EndedAt = phaseOf(d.Attempts[n-1].Phase), timeOf(d.Attempts[n-1].EndTime)
		}
		n := endPosition(d, w.maxSeen).Attempt
		out = append(out,
			controlplane.RunEvent{ID: pos(n, controlplane.StageFinal, rank(r.Phase)), Type: controlplane.EventPhase, Run: name,
				Phase: r.Phase, Error: r.Error, Time: r.EndedAt},
			controlplane.EndedEvent(r, controlplane.EventPosition{Attempt: n, Stage: controlplane.StageEnd}, w.final.Outputs))
	}
	return out
}

// detailsDone reports whether the run has ended: its last attempt's phase is terminal (the
// status may lag it), or, without attempts (aborted before one ran, or aborted: an aborted
// run has none), its status.
func detailsDone(d *actionDetails) bool {
	if d == nil {
		return false
	}
	if n := len(d.Attempts); n > 0 && terminal(d.Attempts[n-1].Phase) {
		return true
	}
	return terminal(d.Status.Phase)
}

func attemptOver(d *actionDetails, a int) bool {
	return a <= len(d.Attempts) && terminal(d.Attempts[a-1].Phase) || detailsDone(d)
}

// endPosition is where the end of a finished run stands: after its last attempt, and after
// the attempts a watch has told (seen).
func endPosition(d *actionDetails, seen int) controlplane.EventPosition {
	return controlplane.EventPosition{Attempt: max(len(d.Attempts), seen), Stage: controlplane.StageEnd}
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// RunLogs reads the last lines of an attempt's log (TailLogs). An attempt still running is
// read until its log has been quiet for logQuiet (the control plane streams a live log
// without end), an ended one to its end; either within the call timeout.
func (b *Backend) RunLogs(ctx context.Context, req controlplane.RunLogsRequest) (controlplane.RunLogs, error) {
	leave, err := b.enter()
	if err != nil {
		return controlplane.RunLogs{}, err
	}
	defer leave()
	res, rid, err := b.findRun(ctx, req.Run)
	if err != nil {
		return controlplane.RunLogs{}, err
	}
	if !req.Streams.Both() {
		return controlplane.RunLogs{}, oneStream()
	}
	d := &res.Details.Action
	a := req.Attempt
	if a == 0 {
		a = len(d.Attempts)
	}
	if a > len(d.Attempts) {
		return controlplane.RunLogs{}, controlplane.Errorf(controlplane.CodeNotFound, "run %q has %d attempts, not %d", req.Run.Name, len(d.Attempts), a)
	}
	out := controlplane.RunLogs{Run: req.Run, Attempt: a}
	if a == 0 {
		return out, nil
	}
	limit := req.MaxBytes
	if limit <= 0 {
		limit = 1 << 20
	}
	tail := controlplane.NewLogTail(req.Tail, limit)
	cctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	live := !attemptOver(d, a)
	quiet := time.AfterFunc(logQuiet, cancel)
	defer quiet.Stop()
	if !live {
		quiet.Stop()
	}
	var seq int64
	err = openStream(cctx, b, b.s.tailLogs, &tailLogsRequest{ActionID: actionID{Run: rid, Name: "a0"}, Attempt: uint32(a)},
		func(m *tailLogsResponse) bool {
			for _, batch := range m.Logs {
				for _, l := range batch.Lines {
					seq++
					tail.Add(controlplane.LogLine{ID: controlplane.EventPosition{Attempt: a, Stage: controlplane.StageLog, Seq: seq}.String(),
						Text: trimEOL(l.Message), Time: timeOf(l.Timestamp)})
				}
			}
			if live {
				quiet.Reset(logQuiet)
			}
			return true
		})
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return controlplane.RunLogs{}, ctx.Err()
	case cctx.Err() != nil && live:
		// Read until quiet (or the call timeout): what was read is the tail so far.
	case controlplane.CodeOf(err) == controlplane.CodeNotFound:
		// No log (the attempt wrote nothing, or the control plane keeps none): no lines.
	default:
		return controlplane.RunLogs{}, err
	}
	out.Lines, out.Truncated = tail.Lines(), tail.Truncated()
	out.Resume = controlplane.EventPosition{Attempt: a, Stage: controlplane.StageLog, Seq: seq}.String()
	return out, nil
}

// logQuiet is how long a live log may be silent before RunLogs answers what it read.
const logQuiet = 300 * time.Millisecond

// trimEOL drops the line terminator the control plane keeps (LF, CRLF or CR).
func trimEOL(s string) string {
	return strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r"), "\r")
}

// logReader reads one attempt's log (TailLogs) in a goroutine of its own, handing over one
// line at a time.
type logReader struct {
	attempt int
	cancel  context.CancelFunc
	lines   chan logLineAt // one line: the stream waits for the watch to take it
	ready   chan struct{}  // signalled once a line or the end is there (a token, kept until taken)
	done    chan struct{}  // the goroutine has returned; err is set
	err     error
}

type logLineAt struct {
	seq  int64
	text string
	time time.Time
}

func (b *Backend) readLog(ctx context.Context, rid runID, a int, skip int64) *logReader {
	ctx, cancel := context.WithCancel(ctx)
	r := &logReader{attempt: a, cancel: cancel, lines: make(chan logLineAt, 1), ready: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer r.signal() // after done is closed, so a watch woken by it sees the end
		defer close(r.done)
		var seq int64
		err := openStream(ctx, b, b.s.tailLogs, &tailLogsRequest{ActionID: actionID{Run: rid, Name: "a0"}, Attempt: uint32(a)},
			func(m *tailLogsResponse) bool {
				for _, batch := range m.Logs {
					for _, l := range batch.Lines {
						if seq++; seq <= skip {
							continue
						}
						select {
						case r.lines <- logLineAt{seq: seq, text: trimEOL(l.Message), time: timeOf(l.Timestamp)}:
							r.signal() // after the line is there to take
						case <-ctx.Done():
							return false
						}
					}
				}
				return true
			})
		if ctx.Err() == nil && controlplane.CodeOf(err) != controlplane.CodeNotFound {
			r.err = err
		}
	}()
	return r
}

func (r *logReader) signal() {
	select {
	case r.ready <- struct{}{}:
	default:
	}
}

// next returns the next line when there is one; else nil and, while the log goes on, a
// channel that signals when there may be one. After the log's end: nil, nil (or the
// stream's error).
func (r *logReader) next() (*logLineAt, <-chan struct{}, error) {
	select {
	case l := <-r.lines:
		return &l, nil, nil
	default:
	}
	select {
	case <-r.done:
		select { // a line handed over as the stream ended
		case l := <-r.lines:
			return &l, nil, nil
		default:
		}
		return nil, nil, r.err
	default:
	}
	return nil, r.ready, nil
}

func (r *logReader) close() {
	r.cancel()
	<-r.done
}
