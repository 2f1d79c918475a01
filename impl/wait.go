package impl

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/flyte-webhook/flyte-webhook/api"
	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/gen"
)

// get_run and run_task take `wait`: the answer comes when the run is done or the wait ends,
// whichever is first, with the body they answer without it (run_task's with phase, done and
// outputs). A wait is a watch of the run (Backend.WatchRun: the local backend wakes it from
// the runner's state changes, the flyte backend reads the control plane's watch stream),
// polling only with a backend that cannot watch. It ends with the caller's connection, and
// at once when the server starts to stop.

// parseWait reads a validated `wait`: "" and "false" are no wait, "true" the maximum, a bare
// number seconds, else a Go duration; every wait is cut to max.
func parseWait(p *string, max time.Duration) time.Duration {
	if p == nil {
		return 0
	}
	switch v := *p; v {
	case "", "false":
		return 0
	case "true":
		return max
	default:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			if n >= int64(max/time.Second)+1 {
				return max
			}
			return min(time.Duration(n)*time.Second, max)
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			// The spec's pattern lets only durations through: one that does not fit in an
			// int64 of nanoseconds is longer than any maximum.
			return max
		}
		return min(d, max)
	}
}

// waitBudget is how long a request may wait for d: d itself when the connection's write
// deadline could be moved past it, else what fits in the server's write timeout.
func (s *Server) waitBudget(ctx context.Context, d time.Duration) time.Duration {
	margin := s.cfg.WriteTimeout
	if margin <= 0 {
		margin = time.Minute
	}
	if setWriteDeadline(ctx, time.Now().Add(d+margin)) || s.cfg.WriteTimeout <= 0 {
		return d
	}
	return min(d, s.cfg.WriteTimeout-s.cfg.WriteTimeout/4)
}

// awaitRun waits until the run is done, d has passed, the caller has gone or the server
// starts to stop, whichever is first. It reports how the wait ended, for the log; the
// caller reads the run afterwards. A wait that fails (the control plane's stream broke)
// just ends early: the answer is the run as it is then.
func (s *Server) awaitRun(ctx context.Context, ref controlplane.RunRef, d time.Duration) string {
	rctx := requestContext(ctx)
	d = s.waitBudget(ctx, d)
	wctx, cancel := context.WithTimeout(rctx, d)
	defer cancel()
	stop := context.AfterFunc(s.cfg.Stopping, cancel)
	defer stop()
	ended := func(err error) string {
		switch {
		case s.cfg.Stopping.Err() != nil:
			return "shutdown"
		case rctx.Err() != nil:
			return "caller gone"
		case errors.Is(err, context.DeadlineExceeded) || wctx.Err() != nil:
			return "timeout"
		}
		s.log.LogAttrs(rctx, slog.LevelWarn, "a wait for a run ended early",
			slog.String("request_id", api.RequestIDFrom(rctx)), slog.String("run", ref.Name), slog.String("error", err.Error()))
		return "failed"
	}
	w, err := s.backend.WatchRun(wctx, controlplane.WatchRunRequest{Run: ref})
	switch {
	case errors.Is(err, controlplane.ErrEnded):
		return "done"
	case controlplane.CodeOf(err) == controlplane.CodeUnimplemented:
		return s.pollRun(wctx, ref, ended)
	case err != nil:
		return ended(err)
	}
	defer w.Close()
	for {
		ev, err := w.Next(wctx)
		switch {
		case errors.Is(err, io.EOF):
			return "done"
		case controlplane.CodeOf(err) == controlplane.CodeUnimplemented && wctx.Err() == nil:
			// The control plane refused its watch stream once it was asked (a Flyte
			// without WatchActionDetails): poll instead.
			return s.pollRun(wctx, ref, ended)
		case err != nil:
			return ended(err)
		case ev.Type == controlplane.EventEnd:
			return "done"
		}
	}
}

// pollRun is awaitRun for a backend that cannot watch: get_run with a backoff from 100 ms to
// 2 s.
func (s *Server) pollRun(ctx context.Context, ref controlplane.RunRef, ended func(error) string) string {
	delay := 100 * time.Millisecond
	for {
		run, err := s.backend.GetRun(ctx, ref)
		switch {
		case err != nil:
			return ended(err)
		case run.Phase.Done():
			return "done"
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ended(ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// waitedRun is GetRun with `wait`: it waits while the run is not done, then reads it again
// (never the guard's copy, which is from before the wait).
func (s *Server) waitedRun(ctx context.Context, ref controlplane.RunRef, run controlplane.Run, d time.Duration) (controlplane.Run, error) {
	if run.Phase.Done() {
		return run, nil
	}
	how := s.awaitRun(ctx, ref, d)
	s.logWait(ctx, ref.Name, how)
	rctx := requestContext(ctx)
	if how == "caller gone" {
		return run, rctx.Err()
	}
	return s.backend.GetRun(rctx, ref)
}

// waitedRunTask answers run_task with `wait`: the run's phase, done and, once it has
// succeeded, its outputs. The run was accepted before the wait began, so a wait or a read
// that fails still answers 200 with the run as RunTask returned it.
func (s *Server) waitedRunTask(ctx context.Context, run controlplane.Run, d time.Duration) (gen.RunTaskResponseObject, error) {
	ref := controlplane.RunRef{Name: run.Name, Project: run.Task.Project, Domain: run.Task.Domain}
	how := "done"
	if !run.Phase.Done() {
		how = s.awaitRun(ctx, ref, d)
	}
	s.logWait(ctx, run.Name, how)
	rctx := requestContext(ctx)
	if how == "caller gone" {
		return nil, rctx.Err()
	}
	out := gen.RunTask200JSONResponse{Name: run.Name, Url: run.URL}
	var outputs map[string]any
	if io, err := s.backend.GetRunIO(rctx, ref); err != nil {
		s.log.LogAttrs(rctx, slog.LevelWarn, "cannot read a run after waiting for it; answering it as started",
			slog.String("request_id", api.RequestIDFrom(rctx)), slog.String("run", run.Name), slog.String("error", err.Error()))
	} else {
		run, outputs = io.Run, io.Outputs
	}
	phase, done := gen.Phase(run.Phase), run.Phase.Done()
	out.Phase, out.Done, out.Outputs = &phase, &done, &outputs // outputs: null unless succeeded
	return out, nil
}

func (s *Server) logWait(ctx context.Context, run, how string) {
	rctx := requestContext(ctx)
	if s.log.Enabled(rctx, slog.LevelDebug) {
		s.log.LogAttrs(rctx, slog.LevelDebug, "wait ended", slog.String("request_id", api.RequestIDFrom(rctx)),
			slog.String("run", run), slog.String("how", how))
	}
}
