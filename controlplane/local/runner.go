package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// Why an attempt stopped before its process ended by itself (context.Cause of its context).
var (
	errShutdown = errors.New("server shutting down")
	errTimeout  = errors.New("timed out")
)

type abortError struct{ reason string }

func (e abortError) Error() string {
	if e.reason == "" {
		return "aborted"
	}
	return "aborted: " + e.reason
}

// worker runs queued runs until the queue closes.
func (b *Backend) worker() {
	defer b.workers.Done()
	for {
		name, ok := b.queue.pop()
		if !ok {
			return
		}
		b.busy.Add(1)
		b.execute(name)
		b.busy.Add(-1)
	}
}

// execute takes a queued run through its attempts to a final phase. Each state change is
// written until it lands (see persist); when the server stops before one does, the run is
// left as the disk last saw it and Open recovers it.
func (b *Backend) execute(name string) {
	ctx := b.root
	log := b.log.With("run", name)
	row, ok := b.readRun(log, name)
	if !ok {
		return // the server is stopping; the run is still queued on disk
	}
	if row.Phase != controlplane.PhaseQueued {
		return // aborted while queued
	}
	t, err := b.runnable(row) // the task version, or the job of a run the server executes (jobs.go)
	if err != nil {
		b.finish(log, row, 0, "", controlplane.PhaseFailed, err.Error(), nil)
		return
	}
	runCtx, cancel := context.WithCancelCause(b.root)
	defer cancel(nil)
	b.running.Store(name, cancel)
	defer b.running.Delete(name)

	key := cacheKey(t, row.Inputs)
	if key != "" && t.Cache.Serialize {
		// The wait ends when the run is aborted (runCtx) or the server starts to stop: the
		// run is still queued, and waits for the next start.
		log.Debug("waiting for an identical run (cache.serialize)")
		waitCtx, endWait := context.WithCancel(runCtx)
		stopWaiting := context.AfterFunc(b.draining, endWait)
		unlock, ok := b.cacheLocks.lock(waitCtx, key)
		stopWaiting()
		endWait()
		if !ok {
			return // aborted (AbortRun recorded it), or the server is stopping
		}
		defer unlock()
		if row, ok = b.readRun(log, name); !ok || row.Phase != controlplane.PhaseQueued {
			return // aborted while it waited, or the server is stopping
		}
	}
	if row.Attempts == 0 && b.serveFromCache(ctx, log, t, row, key) {
		return
	}
	// Attempts the server cut short are not the task's failures: they use up no retries.
	failures := row.Attempts - row.Interruptions
	for attempt := row.Attempts + 1; ; attempt++ {
		if b.draining.Err() != nil {
			return // the server is stopping: no attempt starts, the run waits queued for the next start
		}
		// The attempt counts as in flight from before its run reads "running" on disk, so a
		// Close that sees the run running also counts (and drains) its attempt.
		b.inFlight.Add(1)
		var started bool
		if !b.persist(log, "the start of an attempt", func(ctx context.Context) (err error) {
			started, err = b.st.markRunning(ctx, attemptStart{Run: name, Attempt: attempt, At: time.Now().UnixNano()})
			return err
		}) || !started {
			b.inFlight.Add(-1)
			return // the server is stopping (the run is still queued on disk), or it was aborted meanwhile
		}
		res := b.attempt(runCtx, t, name, attempt, row.Inputs)
		b.inFlight.Add(-1)
		switch {
		case res.shutdown:
			b.interrupted(log, name, attempt)
			return
		case res.phase == controlplane.PhaseFailed && !res.final && failures < t.Retries:
			failures++
			// When the server is stopping, the retry waits for the next start.
			requeue := b.draining.Err() != nil
			log.Info("attempt failed; retrying", "attempt", attempt, "error", res.msg, "at_next_start", requeue)
			if !b.persist(log, "the end of an attempt", func(ctx context.Context) error {
				return b.st.endAttempt(ctx, attemptEnd{Run: name, Attempt: attempt, Outcome: outcomeFailed, Error: res.msg, At: time.Now().UnixNano(), Requeue: requeue})
			}) || requeue {
				return
			}
			continue
		}
		b.finish(log, row, attempt, key, res.phase, res.msg, res.outputs)
		return
	}
}

// interrupted records that the server stopped an attempt: its run is queued again for the
// next start, or fails when it was interrupted too often. One try only: the server is
// stopping, and a run whose interruption is not written is found running at the next start,
// which treats it the same way.
func (b *Backend) interrupted(log *slog.Logger, name string, attempt int) {
	row, ok, err := b.st.interruptAttempt(context.WithoutCancel(b.root), interruption{Run: name, Attempt: attempt,
		Error: "interrupted: server stopped", At: time.Now().UnixNano(), MaxInterruptions: b.cfg.MaxInterruptions})
	switch {
	case err != nil:
		log.Warn("cannot record an interrupted attempt; the next start will", "attempt", attempt, "error", err.Error())
	case !ok:
	case row.Phase.Done():
		log.Warn("attempt interrupted by the server; the run was interrupted too often", "attempt", attempt, "interruptions", row.Interruptions)
		b.logEnd(row)
	default:
		log.Info("attempt interrupted by the server; the run is queued again for the next start", "attempt", attempt, "interruptions", row.Interruptions)
	}
}

// readRun reads a run the worker holds. A read that fails is tried again, with persist's
// backoff, until it succeeds or the server stops (false): the run must not wait, queued on
// disk, for a restart because a read failed once.
func (b *Backend) readRun(log *slog.Logger, name string) (runRow, bool) {
	delay := persistFirstDelay
	for tries := 1; ; tries++ {
		row, err := b.st.getRun(b.root, name)
		if err == nil {
			if tries > 1 {
				log.Info("read the run after retrying", "tries", tries)
			}
			return row, true
		}
		if tries == 1 {
			log.Error("cannot read the run; retrying until it can", "error", err.Error())
		}
		select {
		case <-b.root.Done():
			return row, false
		case <-time.After(delay):
		}
		delay = min(2*delay, persistMaxDelay)
	}
}

// Backoff between tries of a state write that failed (see persist): doubling from
// persistFirstDelay up to persistMaxDelay. A full disk rarely clears in milliseconds, and a
// try costs one failed commit.
const (
	persistFirstDelay = 50 * time.Millisecond
	persistMaxDelay   = 2 * time.Second
)

// persist makes a state write of a run land: it tries write until it succeeds, with backoff,
// and reports true; when the server stops first (b.root ends) it gives up and reports false,
// and the next start finds the run as the disk last saw it (a run left running counts as
// interrupted). The first try runs even when the server is stopping; a failing write is
// logged once when it first fails, then about every minute, and once when it lands.
func (b *Backend) persist(log *slog.Logger, what string, write func(context.Context) error) bool {
	delay := persistFirstDelay
	var waited time.Duration
	lastLog := time.Duration(0)
	for tries := 1; ; tries++ {
		err := write(context.WithoutCancel(b.root))
		switch {
		case err == nil:
			if tries > 1 {
				log.Info("recorded "+what+" after retrying", "tries", tries)
			}
			return true
		case tries == 1:
			log.Error("cannot record "+what+"; retrying until it can", "error", err.Error())
		case waited-lastLog >= time.Minute:
			lastLog = waited
			log.Warn("still cannot record "+what+"; retrying", "tries", tries, "error", err.Error())
		}
		select {
		case <-b.root.Done():
			log.Warn("gave up recording "+what+": the server is stopping; the next start recovers the run", "tries", tries, "error", err.Error())
			return false
		case <-time.After(delay):
		}
		waited += delay
		delay = min(2*delay, persistMaxDelay)
	}
}

// taskVersion finds the exact task version a run was started with.
func (b *Backend) taskVersion(row runRow) (*task, error) {
	b.wsMu.RLock()
	defer b.wsMu.RUnlock()
	if t := b.known[taskVersionKey{row.Domain, row.Project, row.Task, row.Version}]; t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("task %s/%s/%s version %s is no longer in the workspace", row.Domain, row.Project, row.Task, row.Version)
}

// finish records a run's final phase, retrying until it lands (see persist), and logs it.
// row is the run as execute read it; attempt is the attempt that ended it (0 for none); key
// is its task-cache key ("" for none): a succeeded run with a key serves later runs (see
// taskcache.go).
func (b *Backend) finish(log *slog.Logger, row runRow, attempt int, key string, phase controlplane.Phase, msg string, outputs map[string]any) {
	var out *string
	if outputs != nil {
		js, err := json.Marshal(outputs)
		if err != nil {
			phase, msg = controlplane.PhaseFailed, "outputs cannot be stored: "+err.Error()
		} else {
			s := string(js)
			out = &s
		}
	}
	end := runEnd{Run: row.Name, Attempt: attempt, Phase: phase, Error: msg, Outputs: out, CacheKey: key, At: time.Now().UnixNano()}
	var changed bool
	if !b.persist(log, "the end of a run", func(ctx context.Context) (err error) {
		changed, err = b.st.finishRun(ctx, end)
		return err
	}) || !changed {
		return // not written (the next start recovers the run), or it had ended already
	}
	row.Phase, row.Error, row.EndedAt = phase, msg, end.At
	if attempt > 0 {
		row.Attempts = attempt
	}
	b.logEnd(row)
}

// logEnd is the one line saying how a run ended.
func (b *Backend) logEnd(r runRow) {
	b.log.Info("run ended", "run", r.Name, "phase", string(r.Phase), "attempts", r.Attempts,
		"duration_ms", time.Duration(r.EndedAt-r.CreatedAt).Milliseconds(), "error", r.Error)
}

// logAccepted is the one line tying a run to the request and the caller that created it:
// whether an Idempotency-Key was given, never the key; the trigger that started it, when one
// did ("" for a run asked for by a caller).
func (b *Backend) logAccepted(ctx context.Context, r runRow, caller controlplane.Identity, keyed bool, trigger string) {
	attrs := []any{"run", r.Name, "task", r.Domain + "/" + r.Project + "/" + r.Task, "version", r.Version,
		"caller", caller.Subject}
	if id := controlplane.RequestIDFrom(ctx); id != "" { // a trigger's run has no request
		attrs = append(attrs, "request_id", id)
	}
	attrs = append(attrs, "idempotency_key", keyed)
	if trigger != "" {
		attrs = append(attrs, "trigger", trigger)
	}
	b.log.Info("run accepted", attrs...)
}
