package impl

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/flyte-webhook/flyte-webhook/api"
	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// An event stream (watch_run, get_run_logs with follow) is Server-Sent Events written from
// the request's own goroutine: it asks the backend's watch for the next event (the watch
// holds nothing meanwhile: see controlplane.RunWatch), writes it with a deadline of its own
// and flushes. Nothing is queued per stream, so a stream costs the connection and a few
// hundred bytes; a reader that does not take a write within StreamWriteTimeout is dropped.
//
// The server's write_timeout would cut every stream after it: each write gets a deadline of
// its own instead. (Its read_timeout does not matter: net/http clears the read deadline once
// the request is read.)

// sseRetry tells an EventSource how long to wait before it reconnects (milliseconds).
const sseRetry = "retry: 2000\n\n"

// eventStream is the response object of a stream: the strict server calls its Visit method
// right after the handler returns, on the request's goroutine.
type eventStream struct {
	s       *Server
	ctx     context.Context // the request's
	run     string
	first   []controlplane.RunEvent // sent before the watch's (a followed log's tail)
	watch   controlplane.RunWatch
	keep    func(controlplane.RunEvent) bool // nil keeps every event
	release func()
}

func (e *eventStream) VisitWatchRunResponse(w http.ResponseWriter) error   { return e.serve(w) }
func (e *eventStream) VisitGetRunLogsResponse(w http.ResponseWriter) error { return e.serve(w) }

// how a stream ended, for the log.
const (
	endDone     = "done"
	endGone     = "caller gone"
	endShutdown = "shutdown"
	endSlow     = "dropped: the reader did not keep up"
	endFailed   = "failed"
)

func (e *eventStream) serve(w http.ResponseWriter) error {
	defer e.release()
	defer e.watch.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: pass each event on at once
	w.WriteHeader(http.StatusOK)
	// The events go to net/http's own writer: gin's Flush drops the error a flush that
	// timed out returns, which is how a slow reader shows.
	if g, ok := w.(interface{ WriteHeaderNow() }); ok {
		g.WriteHeaderNow()
	}
	if u, ok := w.(interface{ Unwrap() http.ResponseWriter }); ok {
		w = u.Unwrap()
	}
	rc := http.NewResponseController(w)

	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	stop := context.AfterFunc(e.s.cfg.Stopping, cancel)
	defer stop()
	write := func(b []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(e.s.cfg.StreamWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	how := e.pump(ctx, write)
	e.s.logStreamEnd(e.ctx, e.run, how)
	return nil
}

// pump writes the events until the stream ends, and says how it did.
func (e *eventStream) pump(ctx context.Context, write func([]byte) error) string {
	if write([]byte(sseRetry)) != nil {
		return endSlow
	}
	for _, ev := range e.first {
		if write(encodeEvent(ev)) != nil {
			return endSlow
		}
	}
	heartbeat := e.s.cfg.Heartbeat
	last := time.Now()
	for {
		nctx, ncancel := context.WithDeadline(ctx, last.Add(heartbeat))
		ev, err := e.watch.Next(nctx)
		beat := errors.Is(nctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
		ncancel()
		switch {
		case err == nil:
			if e.keep != nil && !e.keep(ev) {
				continue
			}
			if write(encodeEvent(ev)) != nil {
				return endSlow
			}
			last = time.Now()
			if ev.Type == controlplane.EventEnd {
				return endDone
			}
		case errors.Is(err, io.EOF):
			return endDone
		case beat:
			if write([]byte(": heartbeat\n\n")) != nil {
				return endSlow
			}
			last = time.Now()
		case e.s.cfg.Stopping.Err() != nil:
			_ = write(reconnectEvent(e.run, "the server is shutting down: reconnect with the last event's id"))
			return endShutdown
		case e.ctx.Err() != nil:
			return endGone
		default:
			detail := controlplane.MessageOf(err)
			if detail == "" {
				detail = "the stream failed"
			}
			e.s.log.LogAttrs(e.ctx, slog.LevelWarn, "an event stream failed; the client is told to reconnect",
				slog.String("request_id", api.RequestIDFrom(e.ctx)), slog.String("run", e.run), slog.String("error", err.Error()))
			_ = write(reconnectEvent(e.run, detail+": reconnect with the last event's id"))
			return endFailed
		}
	}
}

func (s *Server) logStreamEnd(ctx context.Context, run, how string) {
	level := slog.LevelDebug
	if how == endSlow {
		level = slog.LevelInfo
	}
	if s.log.Enabled(ctx, level) {
		s.log.LogAttrs(ctx, level, "event stream ended", slog.String("request_id", api.RequestIDFrom(ctx)),
			slog.String("run", run), slog.String("how", how))
	}
}

// eventData is a RunEvent (openapi.yaml) as the data line carries it.
type eventData struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Run     string          `json:"run"`
	Phase   string          `json:"phase,omitempty"`
	Done    *bool           `json:"done,omitempty"`
	Attempt int             `json:"attempt,omitempty"`
	Outcome string          `json:"outcome,omitempty"`
	Error   string          `json:"error,omitempty"`
	Stream  string          `json:"stream,omitempty"`
	Line    *string         `json:"line,omitempty"`
	Outputs *map[string]any `json:"outputs,omitempty"`
	Time    *time.Time      `json:"time,omitempty"`
	Detail  string          `json:"detail,omitempty"`
}

// encodeEvent is one SSE event: id, event (the type) and a single data line of JSON (which
// escapes every line break, so a log line cannot end the event early).
func encodeEvent(ev controlplane.RunEvent) []byte {
	d := eventData{ID: ev.ID, Type: string(ev.Type), Run: ev.Run, Time: optTime(ev.Time)}
	switch ev.Type {
	case controlplane.EventPhase, controlplane.EventEnd:
		done := ev.Phase.Done()
		d.Phase, d.Done, d.Error = string(ev.Phase), &done, ev.Error
		if ev.Type == controlplane.EventEnd && ev.Phase == controlplane.PhaseSucceeded {
			outputs := ev.Outputs
			if outputs == nil {
				outputs = map[string]any{}
			}
			d.Outputs = &outputs
		}
	case controlplane.EventAttemptStarted:
		d.Attempt = ev.Attempt
	case controlplane.EventAttemptEnded:
		d.Attempt, d.Outcome, d.Error = ev.Attempt, ev.Outcome, ev.Error
	case controlplane.EventLog:
		line := ev.Line
		d.Attempt, d.Stream, d.Line = ev.Attempt, ev.Stream, &line
	}
	return frame(ev.ID, string(ev.Type), d)
}

func reconnectEvent(run, detail string) []byte {
	return frame("", "reconnect", eventData{Type: "reconnect", Run: run, Detail: detail})
}

func frame(id, typ string, d eventData) []byte {
	js, err := json.Marshal(d)
	if err != nil { // outputs JSON cannot hold (a backend's bug): say so rather than go silent
		js, _ = json.Marshal(eventData{ID: d.ID, Type: d.Type, Run: d.Run, Error: "this event cannot be encoded"})
	}
	b := make([]byte, 0, len(id)+len(typ)+len(js)+24)
	if id != "" {
		b = append(append(append(b, "id: "...), id...), '\n')
	}
	b = append(append(append(b, "event: "...), typ...), '\n')
	return append(append(append(b, "data: "...), js...), "\n\n"...)
}
