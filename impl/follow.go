package impl

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/gen"
)

// maxLogBytes bounds get_run_logs' text answer (openapi.yaml says 1 MiB).
const maxLogBytes = 1 << 20

// acquireStream takes one of the MaxStreams slots of open event streams; the returned func
// gives it back. Beyond the bound: 503 with Retry-After.
func (s *Server) acquireStream() (func(), error) {
	if s.streams.Add(1) > int64(s.cfg.MaxStreams) {
		s.streams.Add(-1)
		return nil, &controlplane.Error{Code: controlplane.CodeUnavailable, RetryAfter: time.Second,
			Message: "too many event streams are open on this server; try again later"}
	}
	return func() { s.streams.Add(-1) }, nil
}

// WatchRun streams a run's events (Server-Sent Events).
func (s *Server) WatchRun(ctx context.Context, r gen.WatchRunRequestObject) (gen.WatchRunResponseObject, error) {
	release, err := s.acquireStream()
	if err != nil {
		return nil, err
	}
	rctx := requestContext(ctx)
	ref := controlplane.RunRef{Name: r.Name, Project: deref(r.Params.Project), Domain: deref(r.Params.Domain)}
	w, err := s.backend.WatchRun(rctx, controlplane.WatchRunRequest{
		Run: ref, After: deref(r.Params.LastEventID), Logs: orDefaultBool(r.Params.Logs, s.def.watchLogs)})
	switch {
	case errors.Is(err, controlplane.ErrEnded):
		release()
		return gen.WatchRun204Response{}, nil
	case err != nil:
		release()
		return nil, err
	}
	return &eventStream{s: s, ctx: rctx, run: r.Name, watch: w, release: release}, nil
}

// GetRunLogs answers the tail of an attempt's log as text, or follows the log as a stream.
func (s *Server) GetRunLogs(ctx context.Context, r gen.GetRunLogsRequestObject) (gen.GetRunLogsResponseObject, error) {
	rctx := requestContext(ctx)
	p := r.Params
	req := controlplane.RunLogsRequest{
		Run:      controlplane.RunRef{Name: r.Name, Project: deref(p.Project), Domain: deref(p.Domain)},
		Streams:  streamsOf(s.def.logsStream, p.Stream),
		Tail:     s.def.logsTail,
		MaxBytes: maxLogBytes,
	}
	if p.Attempt != nil {
		req.Attempt = *p.Attempt
	}
	if p.Tail != nil {
		req.Tail = *p.Tail
	}
	if orDefaultBool(p.Follow, s.def.logsFollow) {
		return s.followLogs(rctx, req, deref(p.LastEventID))
	}
	logs, err := s.backend.RunLogs(rctx, req)
	if err != nil {
		return nil, err
	}
	return logText(logs), nil
}

// followLogs streams the tail of the log as log events, then the watch's log and attempt
// events from where the tail ends, to the run's end.
func (s *Server) followLogs(ctx context.Context, req controlplane.RunLogsRequest, after string) (gen.GetRunLogsResponseObject, error) {
	release, err := s.acquireStream()
	if err != nil {
		return nil, err
	}
	var first []controlplane.RunEvent
	if after == "" {
		logs, err := s.backend.RunLogs(ctx, req)
		if err != nil {
			release()
			return nil, err
		}
		for _, l := range logs.Lines {
			first = append(first, controlplane.RunEvent{ID: l.ID, Type: controlplane.EventLog, Run: req.Run.Name,
				Attempt: logs.Attempt, Stream: l.Stream, Line: l.Text, Time: l.Time})
		}
		after = logs.Resume
	}
	w, err := s.backend.WatchRun(ctx, controlplane.WatchRunRequest{Run: req.Run, After: after, Logs: true, Streams: req.Streams})
	switch {
	case errors.Is(err, controlplane.ErrEnded) && len(first) == 0:
		release()
		return gen.GetRunLogs204Response{}, nil
	case errors.Is(err, controlplane.ErrEnded):
		w = endedWatch{}
	case err != nil:
		release()
		return nil, err
	}
	return &eventStream{s: s, ctx: ctx, run: req.Run.Name, first: first, watch: w, release: release, keep: logEvent}, nil
}

// logEvent keeps what a followed log shows: its lines, where attempts begin and end, and
// the end.
func logEvent(ev controlplane.RunEvent) bool {
	return ev.Type != controlplane.EventPhase
}

// endedWatch is a watch with nothing more to tell.
type endedWatch struct{}

func (endedWatch) Next(context.Context) (controlplane.RunEvent, error) {
	return controlplane.RunEvent{}, io.EOF
}
func (endedWatch) Close() error { return nil }

func streamsOf(def string, p *gen.GetRunLogsParamsStream) controlplane.LogStreams {
	v := def
	if p != nil {
		v = string(*p)
	}
	switch v {
	case "stdout":
		return controlplane.LogStreams{Stdout: true}
	case "stderr":
		return controlplane.LogStreams{Stderr: true}
	}
	return controlplane.LogStreams{Stdout: true, Stderr: true}
}

// logText is get_run_logs' text answer: the lines, each ended by a newline.
type logText controlplane.RunLogs

func (l logText) VisitGetRunLogsResponse(w http.ResponseWriter) error {
	var b strings.Builder
	n := 0
	for _, line := range l.Lines {
		n += len(line.Text) + 1
	}
	b.Grow(n)
	for _, line := range l.Lines {
		b.WriteString(line.Text)
		b.WriteByte('\n')
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err := io.WriteString(w, b.String())
	return err
}
