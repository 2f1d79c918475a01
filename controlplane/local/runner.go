package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
		b.execute(name)
	}
}

// execute takes a queued run through its attempts to a final phase. When the server shuts
// down mid-attempt, the run is left "running" on disk; Open recovers it.
func (b *Backend) execute(name string) {
	ctx := b.root
	log := b.log.With("run", name)
	row, err := b.st.getRun(ctx, name)
	if err != nil {
		log.Error("cannot read queued run", "error", err.Error())
		return
	}
	if row.Phase != controlplane.PhaseQueued {
		return // aborted while queued
	}
	t, err := b.taskVersion(row)
	if err != nil {
		b.finish(name, 0, "", controlplane.PhaseFailed, err.Error(), nil)
		return
	}
	runCtx, cancel := context.WithCancelCause(b.root)
	defer cancel(nil)
	b.running.Store(name, cancel)
	defer b.running.Delete(name)

	key := cacheKey(t, row.Inputs)
	if key != "" && t.Cache.Serialize {
		unlock, ok := b.cacheLocks.lock(runCtx, key)
		if !ok {
			return // shutting down: the run is still queued on disk
		}
		defer unlock()
		if row, err = b.st.getRun(ctx, name); err != nil || row.Phase != controlplane.PhaseQueued {
			return // aborted while it waited
		}
	}
	if row.Attempts == 0 && b.serveFromCache(ctx, t, name, key) {
		return
	}
	for attempt := row.Attempts + 1; ; attempt++ {
		ok, err := b.st.markRunning(ctx, attemptStart{Run: name, Attempt: attempt, At: time.Now().UnixNano()})
		if err != nil || !ok {
			return // aborted meanwhile, or the store is gone
		}
		res := b.attempt(runCtx, t, name, attempt, row.Inputs)
		switch {
		case res.shutdown:
			log.Info("attempt stopped by shutdown; the run is recovered at the next start", "attempt", attempt)
			return
		case res.phase == controlplane.PhaseFailed && !res.final && attempt <= t.Retries:
			log.Info("attempt failed; retrying", "attempt", attempt, "error", res.msg)
			if err := b.st.endAttempt(ctx, attemptEnd{Run: name, Attempt: attempt, Outcome: outcomeFailed, Error: res.msg, At: time.Now().UnixNano()}); err != nil {
				log.Error("cannot record the end of an attempt", "attempt", attempt, "error", err.Error())
			}
			continue
		}
		b.finish(name, attempt, key, res.phase, res.msg, res.outputs)
		return
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

// finish records a run's final phase. attempt is the attempt that ended it (0 for none); key
// is its task-cache key ("" for none): a succeeded run with a key serves later runs (see
// taskcache.go).
func (b *Backend) finish(name string, attempt int, key string, phase controlplane.Phase, msg string, outputs map[string]any) {
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
	_, err := b.st.finishRun(b.root, runEnd{Run: name, Attempt: attempt, Phase: phase, Error: msg, Outputs: out, CacheKey: key, At: time.Now().UnixNano()})
	if err != nil {
		b.log.Error("cannot record the end of a run", "run", name, "error", err.Error())
	}
}
