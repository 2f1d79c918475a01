package local

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/internal/boundedcache"
)

// Backend is the local control plane. Open it, Close it.
type Backend struct {
	// Unimplemented answers 501 for what this backend does not serve, after checking the
	// caller's credentials (today every method is served; kept so a new method is a 501
	// until it is).
	controlplane.Unimplemented

	cfg  Config
	log  *slog.Logger
	st   *store
	lock *os.File // holds data_dir (see lockDataDir)

	wsMu       sync.RWMutex
	ws         *workspace
	registered map[taskVersionKey]int64
	known      map[taskVersionKey]*task // every version loaded since Open (see remember)

	finished   *boundedcache.Cache[runRow] // finished runs read lately (see finishedCacheSize)
	cacheLocks keyLocks

	queue   *runQueue
	running sync.Map // run name → context.CancelCauseFunc of its current execution
	// root ends when the server stops its work (Close, once its ctx has ended): attempts
	// still running are stopped and retried writes give up. draining ends when Close starts:
	// no attempt starts after it.
	root     context.Context
	stop     context.CancelCauseFunc
	draining context.Context
	drain    context.CancelFunc
	workers  sync.WaitGroup
	busy     atomic.Int64   // workers executing a run
	inFlight atomic.Int64   // attempts whose process is running
	chores   sync.WaitGroup // housekeeping, stopped by Close after the workers
	scratch  *scratch       // attempts' inputs and outputs folders (see scratch.go)
	sched    *scheduler     // fires the triggers (see scheduler.go)
	apps     *appSet        // the apps' supervisors (see apps.go)
	hub      *hub           // wakes the watches of runs (see hub.go)

	closeOnce sync.Once
	closeErr  error
}

var (
	_ controlplane.Backend = (*Backend)(nil)
	_ controlplane.Closer  = (*Backend)(nil)
)

// Open loads the workspace, opens (or creates) the database in cfg.DataDir, recovers the runs
// a previous process left unfinished, and starts the workers.
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ws, err := loadWorkspace(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "logs"), 0o700); err != nil {
		return nil, fmt.Errorf("local: data_dir: %w", err)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	shm := ""
	if roomyShm(cfg.Concurrency) {
		shm = "/dev/shm"
	}
	scratch, err := openScratch(cfg, shm, cfg.Logger)
	if err != nil {
		_ = unlockDataDir(lock)
		return nil, err
	}
	fail := func(err error) (*Backend, error) {
		scratch.remove()
		_ = unlockDataDir(lock)
		return nil, err
	}
	st, err := openStore(filepath.Join(cfg.DataDir, "flyte-webhook.db"))
	if err != nil {
		return fail(err)
	}
	b := &Backend{cfg: cfg, log: cfg.Logger, st: st, lock: lock, ws: ws, queue: newRunQueue(), scratch: scratch,
		finished: boundedcache.New[runRow](finishedCacheSize), hub: newHub(st.runState)}
	st.onRunChange = b.hub.stateChanged
	b.Unimplemented = controlplane.Unimplemented{Backend: "the local backend", Authenticate: func(ctx context.Context) error {
		_, err := b.caller(ctx)
		return err
	}}
	b.remember(ws)
	if b.registered, err = st.registerVersions(ctx, ws.order); err != nil {
		st.close()
		return fail(err)
	}
	b.sched = newScheduler(b, cfg.Clock, cfg.Logger)
	if err := b.sched.reload(ctx, ws, nil); err != nil {
		st.close()
		return fail(err)
	}
	b.root, b.stop = context.WithCancelCause(context.Background())
	b.draining, b.drain = context.WithCancel(b.root)
	if err := b.recover(ctx); err != nil {
		b.stop(errShutdown)
		st.close()
		return fail(err)
	}
	if err := b.openApps(ctx, ws); err != nil {
		b.stop(errShutdown)
		b.stopApps()
		b.waitApps()
		st.close()
		return fail(err)
	}
	b.log.Info("local control plane open", "workspace", cfg.Workspace, "data_dir", cfg.DataDir,
		"scratch", scratch.dir, "concurrency", cfg.Concurrency, "task_versions", len(ws.order), "triggers", len(ws.triggers), "apps", len(ws.apps))
	for i := 0; i < cfg.Concurrency; i++ {
		b.workers.Add(1)
		go b.worker()
	}
	b.sched.start()
	b.chores.Add(1)
	go b.housekeeping()
	return b, nil
}

// recover requeues what a previous process left: queued runs in order, and runs it left
// running, whose attempts were cut short by a crash (or by a stop that could not record
// them): each counts as interrupted and is queued again, or fails when it was interrupted
// more than MaxInterruptions times (see store.interruptAttempt).
func (b *Backend) recover(ctx context.Context) error {
	running, err := b.st.runsIn(ctx, controlplane.PhaseRunning)
	if err != nil {
		return err
	}
	interrupted := map[string]bool{}
	for _, r := range running {
		interrupted[r.Name] = true
	}
	if n := killLeftovers(interrupted); n > 0 {
		b.log.Warn("killed processes a previous server left behind", "processes", n)
	}
	rows, err := b.st.requeueInterrupted(ctx, interruption{Error: "interrupted: server restarted", At: time.Now().UnixNano(), MaxInterruptions: b.cfg.MaxInterruptions})
	if err != nil {
		return err
	}
	for _, r := range rows {
		if r.Phase.Done() {
			b.log.Warn("run interrupted by the server too often", "run", r.Name, "interruptions", r.Interruptions)
			b.logEnd(r)
			continue
		}
		b.log.Info("run interrupted by the server; queued again", "run", r.Name, "attempts", r.Attempts, "interruptions", r.Interruptions)
	}
	queued, err := b.st.runsIn(ctx, controlplane.PhaseQueued)
	if err != nil {
		return err
	}
	for _, r := range queued {
		b.queue.push(r.Name)
	}
	if len(running)+len(queued) > 0 {
		b.log.Info("recovered runs", "queued", len(queued), "interrupted", len(running))
	}
	return nil
}

// Close stops the triggers (a fire in progress is stored first) and the apps, stops taking
// runs (RunTask answers CodeUnavailable; queued runs stay queued for the next start) and lets
// the attempts running finish until ctx ends. Then it stops them
// (SIGTERM to each process group, SIGKILL after AbortGrace), records each as interrupted
// (its run is queued again for the next start, the interruption counted), and returns
// ctx's error, as net/http's Server.Shutdown does. A state write that cannot land (a full
// disk) holds Close up only until ctx ends; the next start recovers what it did not write.
// A second call waits for the first to finish and returns its result.
func (b *Backend) Close(ctx context.Context) error {
	b.closeOnce.Do(func() { b.closeErr = b.shutdown(ctx) })
	return b.closeErr
}

func (b *Backend) shutdown(ctx context.Context) error {
	b.sched.stop() // no fire after this: a fire in progress is stored first
	b.drain()
	b.stopApps() // in parallel with the draining attempts; waited for below
	b.queue.close()
	n := b.inFlight.Load()
	b.log.Info(fmt.Sprintf("draining %d attempts", n), "attempts", n)
	done := make(chan struct{})
	go func() { b.workers.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		if b.busy.Load() > 0 {
			err = ctx.Err()
			b.log.Warn("stopping the attempts still running; their runs are queued again for the next start",
				"attempts", b.inFlight.Load(), "error", err.Error())
		}
		b.stop(errShutdown)
		<-done
	}
	b.stop(errShutdown)
	b.chores.Wait()
	b.waitApps()
	b.st.close()
	// The scratch directory is ours alone and the workers are done: leave nothing behind in
	// /dev/shm.
	b.scratch.remove()
	if cerr := unlockDataDir(b.lock); err == nil {
		err = cerr
	}
	return err
}

// housekeeping forgets expired Idempotency-Keys and deletes the runs the retention expired
// (see sweep), at Open and hourly after, until Close.
func (b *Backend) housekeeping() {
	defer b.chores.Done()
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		if n, err := b.st.forgetExpiredKeys(b.root, time.Now().Add(-b.cfg.IdempotencyTTL).UnixNano()); err != nil {
			if b.root.Err() == nil {
				b.log.Error("cannot forget expired idempotency keys", "error", err.Error())
			}
		} else if n > 0 {
			b.log.Info("forgot expired idempotency keys", "keys", n)
		}
		if n, err := b.sweep(b.root); err != nil {
			if b.root.Err() == nil {
				b.log.Error("cannot delete the runs the retention expired", "error", err.Error(), "deleted", n)
			}
		} else if n > 0 {
			b.log.Info("deleted the finished runs older than the retention", "runs", n, "retention", b.cfg.EffectiveRetention().String())
		}
		select {
		case <-b.root.Done():
			return
		case <-tick.C:
		}
	}
}

// Reload re-reads the workspace file (cmd calls it on SIGHUP). A file that does not load
// keeps the current workspace; Reload logs and returns why. Runs are never dropped: a queued
// or running run whose task version the new file no longer declares still runs with the
// definition it was accepted under (until the next restart; then it fails saying so). A
// version redefined in place applies to the attempts that start after the reload.
func (b *Backend) Reload() error {
	ws, err := reloadWorkspace(b.cfg)
	if err != nil {
		b.log.Error("workspace reload failed; keeping the current one", "workspace", b.cfg.Workspace, "error", err.Error())
		return err
	}
	reg, err := b.st.registerVersions(b.root, ws.order)
	if err != nil {
		b.log.Error("workspace reload failed; keeping the current one", "workspace", b.cfg.Workspace, "error", err.Error())
		return err
	}
	appRows, err := b.st.registerApps(b.root, ws.apps)
	if err != nil {
		b.log.Error("workspace reload failed; keeping the current one", "workspace", b.cfg.Workspace, "error", err.Error())
		return err
	}
	// The triggers' state is stored first; the workspace is swapped only when that lands.
	if err := b.sched.reload(b.root, ws, func() {
		b.wsMu.Lock()
		b.ws, b.registered = ws, reg
		b.remember(ws)
		b.wsMu.Unlock()
	}); err != nil {
		b.log.Error("workspace reload failed; keeping the current one", "workspace", b.cfg.Workspace, "error", err.Error())
		return err
	}
	b.applyApps(ws.apps, appRows)
	b.log.Info("workspace reloaded", "workspace", b.cfg.Workspace, "task_versions", len(ws.order), "triggers", len(ws.triggers), "apps", len(ws.apps))
	return nil
}

// remember keeps every task version loaded since Open, so runs of a version a reload removed
// can still execute. Called with wsMu held.
func (b *Backend) remember(ws *workspace) {
	if b.known == nil {
		b.known = map[taskVersionKey]*task{}
	}
	for _, byVersion := range ws.versions {
		for _, t := range byVersion {
			b.known[taskVersionKey{t.Ref.Domain, t.Ref.Project, t.Ref.Name, t.Ref.Version}] = t
		}
	}
}

func (b *Backend) workspace() (*workspace, map[taskVersionKey]int64) {
	b.wsMu.RLock()
	defer b.wsMu.RUnlock()
	return b.ws, b.registered
}

// caller verifies the credentials in ctx and reports the caller for the access log.
func (b *Backend) caller(ctx context.Context) (controlplane.Identity, error) {
	id := controlplane.Identity{Subject: "anonymous", Name: "anonymous"}
	if b.cfg.Verifier != nil {
		var err error
		if id, err = b.cfg.Verifier.Verify(ctx, controlplane.CredentialsFrom(ctx)); err != nil {
			return id, err
		}
	}
	controlplane.ReportCaller(ctx, id)
	return id, nil
}

// Me returns the verified caller.
func (b *Backend) Me(ctx context.Context) (controlplane.Identity, error) {
	return b.caller(ctx)
}

// GetTask returns a task version from the workspace.
func (b *Backend) GetTask(ctx context.Context, ref controlplane.TaskRef) (controlplane.Task, error) {
	if _, err := b.caller(ctx); err != nil {
		return controlplane.Task{}, err
	}
	ws, reg := b.workspace()
	t, err := ws.lookup(ref, reg)
	if err != nil {
		return controlplane.Task{}, err
	}
	return t.Task, nil
}

// RunTask checks the inputs, stores the run durably and queues it.
func (b *Backend) RunTask(ctx context.Context, req controlplane.RunTaskRequest) (controlplane.Run, error) {
	who, err := b.caller(ctx)
	if err != nil {
		return controlplane.Run{}, err
	}
	if b.draining.Err() != nil {
		return controlplane.Run{}, errClosed
	}
	ws, reg := b.workspace()
	t, err := ws.lookup(req.Task, reg)
	if err != nil {
		return controlplane.Run{}, err
	}
	inputs, err := bindInputs(t, req.Inputs)
	if err != nil {
		return controlplane.Run{}, err
	}
	js, err := json.Marshal(inputs)
	if err != nil { // only a direct caller can pass values JSON cannot hold, e.g. in a list
		return controlplane.Run{}, controlplane.Errorf(controlplane.CodeInvalidInput, "inputs cannot be encoded as JSON: %v", err)
	}
	if err := controlplane.CheckLabels(req.Labels); err != nil {
		return controlplane.Run{}, err
	}
	labels, err := encodeLabels(req.Labels)
	if err != nil {
		return controlplane.Run{}, err
	}
	row := runRow{
		Name: newRunName(), Kind: string(controlplane.KindTask),
		Domain: t.Ref.Domain, Project: t.Ref.Project, Task: t.Ref.Name, Version: t.Ref.Version,
		Phase: controlplane.PhaseQueued, Inputs: string(js), CreatedAt: time.Now().UnixNano(),
		Caller: who.Subject, Labels: labels,
	}
	var fingerprint string
	if req.IdempotencyKey != "" {
		parts := []string{req.Task.Domain, req.Task.Project, req.Task.Name, req.Task.Version, string(js)}
		if labels != "" { // runs without labels keep the fingerprints they had before labels
			parts = append(parts, "labels", labels)
		}
		sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
		fingerprint = hex.EncodeToString(sum[:])
	}
	name, err := b.st.insertRun(ctx, newRun{Row: row, Subject: who.Subject, IdempotencyKey: req.IdempotencyKey, Fingerprint: fingerprint, TTL: b.cfg.IdempotencyTTL})
	if err != nil {
		return controlplane.Run{}, err
	}
	if name != row.Name { // an earlier request of this caller with the same Idempotency-Key
		existing, err := b.st.getRun(ctx, name)
		if err != nil {
			return controlplane.Run{}, err
		}
		b.log.Debug("idempotency key matched an earlier run", "run", name, "caller", who.Subject, "request_id", controlplane.RequestIDFrom(ctx))
		return b.toRun(existing), nil
	}
	b.logAccepted(ctx, row, who, req.IdempotencyKey != "", "")
	b.queue.push(row.Name)
	return b.toRun(row), nil
}

// GetRun returns a run.
func (b *Backend) GetRun(ctx context.Context, ref controlplane.RunRef) (controlplane.Run, error) {
	if _, err := b.caller(ctx); err != nil {
		return controlplane.Run{}, err
	}
	row, err := b.getRun(ctx, ref.Name)
	if err == nil {
		err = inScope(row, ref)
	}
	if err != nil {
		return controlplane.Run{}, err
	}
	return b.toRun(row), nil
}

// getRun reads a run, from the cache when it has finished (a finished run never changes).
func (b *Backend) getRun(ctx context.Context, name string) (runRow, error) {
	if row, ok := b.finished.Get(name); ok {
		return row, nil
	}
	row, err := b.st.getRun(ctx, name)
	if err == nil && row.Phase.Done() {
		b.finished.Put(row.Name, row)
	}
	return row, err
}

// GetRunIO returns a run's inputs, and its outputs once it has succeeded (for a run the
// server executes itself, once it has ended, when it kept any).
func (b *Backend) GetRunIO(ctx context.Context, ref controlplane.RunRef) (controlplane.RunIO, error) {
	if _, err := b.caller(ctx); err != nil {
		return controlplane.RunIO{}, err
	}
	name := ref.Name
	row, err := b.getRun(ctx, name)
	if err == nil {
		err = inScope(row, ref)
	}
	if err != nil {
		return controlplane.RunIO{}, err
	}
	io := controlplane.RunIO{Run: b.toRun(row)}
	if io.Inputs, err = decodeObject(row.Inputs); err != nil {
		return io, fmt.Errorf("local: run %s inputs: %w", name, err)
	}
	// A task's outputs once it has succeeded; a run the server executes itself (jobs.go) may
	// keep outputs when it fails too (an image build's Containerfile), shown once it ended.
	showOutputs := row.Phase == controlplane.PhaseSucceeded ||
		(row.Phase.Done() && controlplane.Kind(row.Kind) != controlplane.KindTask)
	if showOutputs && row.Outputs.Valid {
		if io.Outputs, err = decodeObject(row.Outputs.String); err != nil {
			return io, fmt.Errorf("local: run %s outputs: %w", name, err)
		}
	}
	return io, nil
}

// AbortRun aborts a queued run at once, and a running one by signalling its process group.
func (b *Backend) AbortRun(ctx context.Context, req controlplane.AbortRunRequest) (controlplane.Run, error) {
	if _, err := b.caller(ctx); err != nil {
		return controlplane.Run{}, err
	}
	name, reason := req.Run.Name, req.Reason
	row, err := b.st.getRun(ctx, name)
	if err == nil {
		err = inScope(row, req.Run)
	}
	if err != nil {
		return controlplane.Run{}, err
	}
	if row.Phase.Done() {
		return controlplane.Run{}, controlplane.Errorf(controlplane.CodeConflict, "run %q has already finished (%s)", name, row.Phase)
	}
	abort := queuedAbort{Run: name, Reason: reason, Error: abortError{reason: reason}.Error(), At: time.Now().UnixNano()}
	aborted, err := b.st.abortQueued(ctx, abort)
	if err != nil {
		return controlplane.Run{}, err
	}
	if aborted {
		row.Phase, row.Error, row.EndedAt = controlplane.PhaseAborted, abort.Error, abort.At
		b.logEnd(row)
	}
	cancel, executing := b.running.Load(name)
	switch {
	case aborted && executing:
		// Queued, but a worker holds it: it waits for an identical run (cache.serialize). End
		// the wait, so the worker serves other runs.
		cancel.(context.CancelCauseFunc)(abortError{reason: reason})
	case !aborted && executing:
		if err := b.st.setAbortReason(ctx, name, reason); err != nil {
			return controlplane.Run{}, err
		}
		cancel.(context.CancelCauseFunc)(abortError{reason: reason})
	}
	if row, err = b.st.getRun(ctx, name); err != nil {
		return controlplane.Run{}, err
	}
	if row.Phase.Done() && row.Phase != controlplane.PhaseAborted {
		return controlplane.Run{}, controlplane.Errorf(controlplane.CodeConflict, "run %q has already finished (%s)", name, row.Phase)
	}
	return b.toRun(row), nil
}

func (b *Backend) toRun(r runRow) controlplane.Run {
	return controlplane.Run{
		Name:      r.Name,
		Kind:      controlplane.Kind(r.Kind),
		Task:      controlplane.TaskRef{Domain: r.Domain, Project: r.Project, Name: r.Task, Version: r.Version},
		Phase:     r.Phase,
		URL:       strings.TrimRight(b.cfg.BaseURL, "/") + "/run/" + r.Name,
		Error:     r.Error,
		Attempts:  r.Attempts,
		CreatedAt: unixTime(r.CreatedAt),
		StartedAt: unixTime(r.StartedAt),
		EndedAt:   unixTime(r.EndedAt),

		Trigger:     r.Trigger,
		ScheduledAt: unixTime(r.ScheduledAt),
		Caller:      r.Caller,
		Labels:      runLabels(r.Labels),
	}
}

// runLabels decodes the labels column; labels this package wrote always decode.
func runLabels(s string) map[string]string {
	labels, _ := decodeLabels(s)
	return labels
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func decodeObject(s string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

var runNameEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newRunName returns "r" and 20 random base32 characters: it matches
// [a-z]([-a-z0-9]*[a-z0-9])? and collides with negligible probability (100 bits).
func newRunName() string {
	var b [13]byte
	_, _ = rand.Read(b[:])
	return "r" + runNameEncoding.EncodeToString(b[:])[:20]
}
