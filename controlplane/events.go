package controlplane

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RunEventType is what a RunEvent tells.
type RunEventType string

// The event types, in the order a run's life produces them.
const (
	// EventPhase: the run's phase changed (Phase, Done).
	EventPhase RunEventType = "phase"
	// EventAttemptStarted: an attempt started (Attempt).
	EventAttemptStarted RunEventType = "attempt_started"
	// EventAttemptEnded: an attempt ended (Attempt, Outcome, Error).
	EventAttemptEnded RunEventType = "attempt_ended"
	// EventLog: a line the run's process wrote (Attempt, Stream, Line).
	EventLog RunEventType = "log"
	// EventEnd: the run ended (Phase, Done, Error, and Outputs once succeeded). Always the
	// last event of a watch.
	EventEnd RunEventType = "end"
)

// The streams a log line comes from. A backend that cannot tell them apart leaves
// LogLine.Stream "".
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
)

// RunEvent is one thing that happened to a run.
type RunEvent struct {
	// ID is the event's position in the run's history (see EventPosition): a watch started
	// with After set to it continues with the events after this one.
	ID   string
	Type RunEventType
	// Run is the run's name.
	Run string
	// Phase and Done: for EventPhase and EventEnd.
	Phase Phase
	// Attempt numbers attempts from 1: for the attempt events and EventLog.
	Attempt int
	// Outcome is how an attempt ended (EventAttemptEnded): succeeded, failed, timed_out,
	// aborted, or interrupted (cut short by the server, which is not the task's failure).
	Outcome string
	// Error says why an attempt or the run failed.
	Error string
	// Stream and Line: for EventLog. Line has no line terminator.
	Stream string
	Line   string
	// Outputs are a succeeded run's outputs (EventEnd only); nil otherwise.
	Outputs map[string]any
	// Time is when it happened, as the control plane recorded it; zero when unknown.
	Time time.Time
}

// WatchRunRequest asks for a run's events.
type WatchRunRequest struct {
	Run RunRef
	// After, when not "", is the ID of the last event the caller has (the Last-Event-ID of
	// an SSE client): the watch starts after it. "" starts at the run's beginning.
	After string
	// Logs includes EventLog events, of the streams Streams selects.
	Logs    bool
	Streams LogStreams
}

// LogStreams selects log streams. The zero value selects both.
type LogStreams struct {
	Stdout, Stderr bool
}

// Both reports whether both streams are selected (also true for the zero value).
func (s LogStreams) Both() bool { return s.Stdout == s.Stderr }

// Has reports whether lines of stream are selected. A line whose stream is unknown ("")
// is selected only when both are.
func (s LogStreams) Has(stream string) bool {
	switch {
	case s.Both():
		return true
	case stream == StreamStdout:
		return s.Stdout
	case stream == StreamStderr:
		return s.Stderr
	}
	return false
}

// RunWatch is an open watch of a run (Backend.WatchRun). It is not safe for concurrent use.
type RunWatch interface {
	// Next returns the next event, waiting for it until ctx ends (then ctx's error). After
	// the EventEnd event it answers io.EOF. A watch holds nothing while it waits: events are
	// read from the run's state when the caller is ready for them, so a slow caller misses
	// nothing and costs no memory. A failure of the control plane is an *Error (the caller
	// may start again After the last event it got).
	Next(ctx context.Context) (RunEvent, error)
	// Close releases the watch. Safe to call more than once.
	Close() error
}

// ErrEnded is what WatchRun answers when After is the ID of a finished run's EventEnd (or
// later): there is nothing more to watch. It is not an *Error: nothing failed (the HTTP
// layer answers 204, which tells an EventSource to stop reconnecting).
var ErrEnded = errors.New("controlplane: the run has ended and its last event was seen")

// RunLogsRequest asks for a run's log lines.
type RunLogsRequest struct {
	Run RunRef
	// Attempt numbers the attempt from 1; 0 means the latest.
	Attempt int
	Streams LogStreams
	// Tail keeps only the last Tail lines; 0 keeps every line (within MaxBytes).
	Tail int
	// MaxBytes bounds the lines' text; the oldest lines are dropped beyond it. 0 means the
	// backend's own bound.
	MaxBytes int64
}

// LogLine is one line of a run's log.
type LogLine struct {
	// ID is the line's position, as the ID of its EventLog event.
	ID string
	// Stream is StreamStdout, StreamStderr, or "" when the backend cannot tell.
	Stream string
	Text   string
	Time   time.Time
}

// RunLogs is the tail of an attempt's log (Backend.RunLogs).
type RunLogs struct {
	Run RunRef
	// Attempt is the attempt the lines are from; 0 when the run has had none yet.
	Attempt int
	Lines   []LogLine
	// Truncated is true when older lines were left out (Tail or MaxBytes).
	Truncated bool
	// Resume is the position after the lines read: a watch started After it continues the
	// log ("" when the run has had no attempt yet: from the beginning).
	Resume string
}

// EventStage orders the events of one attempt (see EventPosition).
type EventStage int

// The stages, in the order they happen within an attempt. Phase changes before the first
// attempt are StageBetween of attempt 0; those after an attempt and before the next (queued
// again) StageBetween of the attempt that ended.
const (
	StageAttemptStarted EventStage = 1
	StagePhase          EventStage = 2 // Seq: the phase's rank (PhaseRank)
	StageLog            EventStage = 3 // Seq: the backend's offset in the attempt's log
	StageAttemptEnded   EventStage = 4
	StageBetween        EventStage = 5 // Seq: the phase's rank
	StageFinal          EventStage = 6 // the final phase; Seq: its rank
	StageEnd            EventStage = 7
)

// EventPosition is where an event stands in a run's history: derived from the run's stored
// state (its attempts, the offset of a line in an attempt's log), never from a counter of a
// connection, so a watch started again After a position, on any replica and after a
// restart, continues exactly there. Positions order lexicographically.
type EventPosition struct {
	Attempt int
	Stage   EventStage
	Seq     int64
}

// String formats the position as an event ID: "attempt.stage.seq".
func (p EventPosition) String() string {
	return strconv.Itoa(p.Attempt) + "." + strconv.Itoa(int(p.Stage)) + "." + strconv.FormatInt(p.Seq, 10)
}

// After reports whether p comes after q.
func (p EventPosition) After(q EventPosition) bool {
	if p.Attempt != q.Attempt {
		return p.Attempt > q.Attempt
	}
	if p.Stage != q.Stage {
		return p.Stage > q.Stage
	}
	return p.Seq > q.Seq
}

// ParseEventPosition reads an event ID. "" is the position before every event.
func ParseEventPosition(id string) (EventPosition, error) {
	if id == "" {
		return EventPosition{}, nil
	}
	parts := strings.Split(id, ".")
	if len(parts) != 3 {
		return EventPosition{}, Errorf(CodeInvalidInput, "event id %q: want attempt.stage.seq, as the server sent it", id)
	}
	a, err1 := strconv.Atoi(parts[0])
	s, err2 := strconv.Atoi(parts[1])
	q, err3 := strconv.ParseInt(parts[2], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil || a < 0 || s < 0 || q < 0 {
		return EventPosition{}, Errorf(CodeInvalidInput, "event id %q: want attempt.stage.seq, as the server sent it", id)
	}
	return EventPosition{Attempt: a, Stage: EventStage(s), Seq: q}, nil
}

// PhaseRank orders the phases a run goes through before it ends: queued 1,
// waiting_for_resources 2, initializing 3, running 4, paused 5, a final phase 6.
func PhaseRank(p Phase) int64 {
	switch p {
	case PhaseQueued:
		return 1
	case PhaseWaitingForResources:
		return 2
	case PhaseInitializing:
		return 3
	case PhaseRunning:
		return 4
	case PhasePaused:
		return 5
	}
	return 6
}

// EndedEvent is the EventEnd of a run that has ended, at position pos.
func EndedEvent(run Run, pos EventPosition, outputs map[string]any) RunEvent {
	return RunEvent{ID: pos.String(), Type: EventEnd, Run: run.Name, Phase: run.Phase, Error: run.Error, Outputs: outputs, Time: run.EndedAt}
}

// String describes an event for logs and test failures.
func (e RunEvent) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", e.ID, e.Type)
	switch e.Type {
	case EventPhase, EventEnd:
		fmt.Fprintf(&b, " %s", e.Phase)
	case EventAttemptStarted:
		fmt.Fprintf(&b, " #%d", e.Attempt)
	case EventAttemptEnded:
		fmt.Fprintf(&b, " #%d %s", e.Attempt, e.Outcome)
	case EventLog:
		fmt.Fprintf(&b, " #%d %s %q", e.Attempt, e.Stream, e.Line)
	}
	return b.String()
}
