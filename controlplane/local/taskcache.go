package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sync"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// The task cache (a task's cache: {behavior, version_override, serialize}):
//
//   - disable (the default): every run executes.
//   - auto: a run whose task and inputs match an earlier succeeded run's succeeds at once
//     with that run's outputs, without an attempt (attempts 0). Otherwise it executes and,
//     when it succeeds, serves later runs.
//   - override: the run always executes and, when it succeeds, serves later auto runs.
//
// Runs match when domain, project, name, cache version (version_override, else the task's
// version) and inputs (after defaults) are equal. With serialize, runs that match execute one
// at a time, so the second is served by the first instead of duplicating its work (while
// it waits it holds a worker slot; aborting it, or the server stopping, ends the wait).
// Cached outputs are checked against the task's declared outputs again; outputs that no
// longer fit are not served.

// cacheKey is the key under which a run's outputs serve later runs; "" when the task's cache
// is disabled.
func cacheKey(t *task, inputs string) string {
	if t.Cache.Behavior == "disable" {
		return ""
	}
	version := t.Cache.VersionOverride
	if version == "" {
		version = t.Ref.Version
	}
	sum := sha256.Sum256([]byte(t.Ref.Domain + "\x00" + t.Ref.Project + "\x00" + t.Ref.Name + "\x00" + version + "\x00" + inputs))
	return hex.EncodeToString(sum[:])
}

// serveFromCache finishes the run with cached outputs when the task's cache has them.
func (b *Backend) serveFromCache(ctx context.Context, log *slog.Logger, t *task, row runRow, key string) bool {
	if key == "" || t.Cache.Behavior != "auto" {
		return false
	}
	from, raw, ok, err := b.st.cachedOutputs(ctx, key)
	if err != nil {
		log.Error("task cache lookup failed; running the task", "error", err.Error())
		return false
	}
	if !ok {
		return false
	}
	decoded, err := decodeObject(raw)
	if err != nil {
		return false
	}
	outputs, err := checkOutputs(t, decoded)
	if err != nil {
		return false
	}
	log.Info("served from the task cache", "cached_from", from)
	b.finish(log, row, 0, key, controlplane.PhaseSucceeded, "", outputs)
	return true
}

// keyLocks serializes runs by cache key (cache.serialize).
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	ch   chan struct{} // holds a token while the key is locked
	refs int
}

// lock waits for key, or for ctx to end (ok false). unlock must be called when ok.
func (k *keyLocks) lock(ctx context.Context, key string) (unlock func(), ok bool) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{ch: make(chan struct{}, 1)}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	release := func() {
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; release() }, true
	case <-ctx.Done():
		release()
		return nil, false
	}
}
