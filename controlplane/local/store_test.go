package local

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// The store's methods, each against a real SQLite database in a temporary directory.

func testStore(t *testing.T) *store {
	t.Helper()
	s, err := openStore(filepath.Join(t.TempDir(), "flyte-webhook.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	return s
}

// queuedRun stores a queued run and returns its name.
func queuedRun(t *testing.T, s *store) string {
	t.Helper()
	name := newRunName()
	_, err := s.insertRun(context.Background(), newRun{Row: runRow{Name: name, Kind: "task", Domain: "d", Project: "p", Task: "t", Version: "v1",
		Phase: controlplane.PhaseQueued, Inputs: `{}`, CreatedAt: time.Now().UnixNano()}})
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// runningRun stores a run and marks it running for its first attempt.
func runningRun(t *testing.T, s *store) string {
	t.Helper()
	name := queuedRun(t, s)
	if ok, err := s.markRunning(context.Background(), attemptStart{Run: name, Attempt: 1, At: 100}); err != nil || !ok {
		t.Fatalf("markRunning: %v %v", ok, err)
	}
	return name
}

func mustRun(t *testing.T, s *store, name string) runRow {
	t.Helper()
	r, err := s.getRun(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustAttempts(t *testing.T, s *store, name string) []attemptRow {
	t.Helper()
	a, err := s.attemptsOf(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestStoreInsertAndGet(t *testing.T) {
	t.Parallel()
	s := testStore(t)
	ctx := context.Background()
	name := queuedRun(t, s)
	r := mustRun(t, s, name)
	if r.Phase != controlplane.PhaseQueued || r.Attempts != 0 || r.Inputs != `{}` || r.Task != "t" {
		t.Fatalf("%+v", r)
	}
	if _, err := s.getRun(ctx, "rnope"); controlplane.CodeOf(err) != controlplane.CodeNotFound {
		t.Fatalf("unknown run: %v", err)
	}
	queued, err := s.runsIn(ctx, controlplane.PhaseQueued)
	if err != nil || len(queued) != 1 || queued[0].Name != name {
		t.Fatalf("runsIn: %v %v", queued, err)
	}
}

func TestStoreIdempotencyKeys(t *testing.T) {
	t.Parallel()
	s := testStore(t)
	ctx := context.Background()
	insert := func(subject, key, fingerprint string, ttl time.Duration) (string, string, error) {
		name := newRunName()
		got, err := s.insertRun(ctx, newRun{Row: runRow{Name: name, Kind: "task", Phase: controlplane.PhaseQueued, Inputs: `{}`, CreatedAt: time.Now().UnixNano()},
			Subject: subject, IdempotencyKey: key, Fingerprint: fingerprint, TTL: ttl})
		return name, got, err
	}
	first, got, err := insert("ada", "k", "fp1", time.Hour)
	if err != nil || got != first {
		t.Fatalf("first: %s %v", got, err)
	}
	if _, got, err := insert("ada", "k", "fp1", time.Hour); err != nil || got != first {
		t.Fatalf("the same key, caller and fingerprint: %s %v, want %s", got, err, first)
	}
	if _, _, err := insert("ada", "k", "fp2", time.Hour); controlplane.CodeOf(err) != controlplane.CodeConflict {
		t.Fatalf("the same key with other inputs: %v, want conflict", err)
	}
	if other, got, err := insert("bo", "k", "fp1", time.Hour); err != nil || got != other {
		t.Fatalf("another caller's key is theirs alone: %s %v, want a new run %s", got, err, other)
	}
	if fresh, got, err := insert("ada", "k", "fp2", time.Nanosecond); err != nil || got != fresh {
		t.Fatalf("an expired key: %s %v, want a new run", got, err)
	}
	n, err := s.forgetExpiredKeys(ctx, time.Now().Add(time.Hour).UnixNano())
	if err != nil || n != 2 {
		t.Fatalf("forgetExpiredKeys: %d %v, want the 2 keys (ada's and bo's)", n, err)
	}
}

func TestStoreMarkRunning(t *testing.T) {
	t.Parallel()
	s := testStore(t)
	ctx := context.Background()
	name := runningRun(t, s)
	r := mustRun(t, s, name)
	if r.Phase != controlplane.PhaseRunning || r.Attempts != 1 || r.StartedAt != 100 {
		t.Fatalf("%+v", r)
	}
	if a := mustAttempts(t, s, name); len(a) != 1 || a[0].Attempt != 1 || a[0].StartedAt != 100 || a[0].Outcome != outcomeNone {
		t.Fatalf("attempts %+v", a)
	}
	// A second attempt keeps the run's first start.
	if ok, err := s.markRunning(ctx, attemptStart{Run: name, Attempt: 2, At: 200}); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if r := mustRun(t, s, name); r.Attempts != 2 || r.StartedAt != 100 {
		t.Fatalf("%+v", r)
	}
	// An aborted run is not started.
	aborted := queuedRun(t, s)
	if ok, err := s.abortQueued(ctx, queuedAbort{Run: aborted, Reason: "r", Error: "aborted: r", At: 1}); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if ok, err := s.markRunning(ctx, attemptStart{Run: aborted, Attempt: 1, At: 2}); err != nil || ok {
		t.Fatalf("markRunning an aborted run: %v %v", ok, err)
	}
	if a := mustAttempts(t, s, aborted); len(a) != 0 {
		t.Fatalf("an aborted run got an attempt record: %+v", a)
	}
}

func TestStoreEndAttempt(t *testing.T) {
	t.Parallel()
	s := testStore(t)
	ctx := context.Background()
	name := runningRun(t, s)
	if err := s.endAttempt(ctx, attemptEnd{Run: name, Attempt: 1, Outcome: outcomeFailed, Error: "exit code 1", At: 150}); err != nil {
		t.Fatal(err)
	}
	if r := mustRun(t, s, name); r.Phase != controlplane.PhaseRunning {
		t.Fatalf("a retried run stays running: %s", r.Phase)
	}
	if a := mustAttempts(t, s, name); a[0].Outcome != outcomeFailed || a[0].EndedAt != 150 || a[0].Error != "exit code 1" {
		t.Fatalf("%+v", a)
	}
	if _, err := s.markRunning(ctx, attemptStart{Run: name, Attempt: 2, At: 160}); err != nil {
		t.Fatal(err)
	}
	if err := s.endAttempt(ctx, attemptEnd{Run: name, Attempt: 2, Outcome: outcomeFailed, Error: "exit code 1", At: 170, Requeue: true}); err != nil {
		t.Fatal(err)
	}
	if r := mustRun(t, s, name); r.Phase != controlplane.PhaseQueued || r.Attempts != 2 {
		t.Fatalf("requeued: %+v", r)
	}
}

func TestStoreFinishRun(t *testing.T) {
	t.Parallel()
	s := testStore(t)
	ctx := context.Background()
	name := runningRun(t, s)
	out := `{"x":1}`
	end := runEnd{Run: name, Attempt: 1, Phase: controlplane.PhaseSucceeded, Outputs: &out, CacheKey: "ck", At: 300}
	if ok, err := s.finishRun(ctx, end); err != nil || !ok {
		t.Fatal(ok, err)
	}
	r := mustRun(t, s, name)
	if r.Phase != controlplane.PhaseSucceeded || r.Outputs.String != out || r.EndedAt != 300 {
		t.Fatalf("%+v", r)
	}
	if a := mustAttempts(t, s, name); a[0].Outcome != outcomeSucceeded || a[0].EndedAt != 300 {
		t.Fatalf("%+v", a)
	}
	// A finished run never changes again: a repeated write (a retry) changes nothing.
	end.Phase, end.Error = controlplane.PhaseFailed, "late"
	if ok, err := s.finishRun(ctx, end); err != nil || ok {
		t.Fatalf("finishing a finished run: %v %v", ok, err)
	}
	if r := mustRun(t, s, name); r.Phase != controlplane.PhaseSucceeded || r.Error != "" {
		t.Fatalf("%+v", r)
	}
	if from, outputs, ok, err := s.cachedOutputs(ctx, "ck"); err != nil || !ok || from != name || outputs != out {
		t.Fatalf("cachedOutputs: %s %s %v %v", from, outputs, ok, err)
	}
	if _, _, ok, err := s.cachedOutputs(ctx, "other"); err != nil || ok {
		t.Fatalf("cachedOutputs of an unknown key: %v %v", ok, err)
	}
	// Without an attempt (refused before one started).
	never := queuedRun(t, s)
	if ok, err := s.finishRun(ctx, runEnd{Run: never, Phase: controlplane.PhaseFailed, Error: "gone", At: 1}); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if a := mustAttempts(t, s, never); len(a) != 0 {
		t.Fatalf("%+v", a)
	}
}

func TestStoreAbort(t *testing.T) {
	t.Parallel()
	s := testStore(t)
	ctx := context.Background()
	queued := queuedRun(t, s)
	if ok, err := s.abortQueued(ctx, queuedAbort{Run: queued, Reason: "why", Error: "aborted: why", At: 5}); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if r := mustRun(t, s, queued); r.Phase != controlplane.PhaseAborted || r.AbortReason != "why" || r.Error != "aborted: why" || r.EndedAt != 5 {
		t.Fatalf("%+v", r)
	}
	running := runningRun(t, s)
	if ok, err := s.abortQueued(ctx, queuedAbort{Run: running, Reason: "why"}); err != nil || ok {
		t.Fatalf("abortQueued of a running run: %v %v", ok, err)
	}
	if err := s.setAbortReason(ctx, running, "stop"); err != nil {
		t.Fatal(err)
	}
	if r := mustRun(t, s, running); r.Phase != controlplane.PhaseRunning || r.AbortReason != "stop" {
		t.Fatalf("%+v", r)
	}
	if err := s.setAbortReason(ctx, queued, "later"); err != nil {
		t.Fatal(err)
	}
	if r := mustRun(t, s, queued); r.AbortReason != "why" {
		t.Fatalf("the reason of a finished run changed: %q", r.AbortReason)
	}
}

func TestStoreInterruptAttempt(t *testing.T) {
	t.Parallel()
	s := testStore(t)
	ctx := context.Background()
	name := runningRun(t, s)
	p := interruption{Run: name, Attempt: 1, Error: "interrupted: server stopped", At: 400, MaxInterruptions: 1}
	row, ok, err := s.interruptAttempt(ctx, p)
	if err != nil || !ok || row.Phase != controlplane.PhaseQueued || row.Interruptions != 1 {
		t.Fatalf("first interruption: %+v %v %v", row, ok, err)
	}
	if r := mustRun(t, s, name); r.Phase != controlplane.PhaseQueued || r.Interruptions != 1 || r.Attempts != 1 {
		t.Fatalf("%+v", r)
	}
	if a := mustAttempts(t, s, name); a[0].Outcome != outcomeInterrupted || a[0].EndedAt != 400 || a[0].Error != p.Error {
		t.Fatalf("%+v", a)
	}
	// Not running: nothing happens.
	if _, ok, err := s.interruptAttempt(ctx, p); err != nil || ok {
		t.Fatalf("interrupting a queued run: %v %v", ok, err)
	}
	// Beyond the budget the run fails, saying how often.
	if _, err := s.markRunning(ctx, attemptStart{Run: name, Attempt: 2, At: 500}); err != nil {
		t.Fatal(err)
	}
	p.Attempt = 2
	row, ok, err = s.interruptAttempt(ctx, p)
	if err != nil || !ok || row.Phase != controlplane.PhaseFailed || !strings.Contains(row.Error, "interrupted by the server 2 times") {
		t.Fatalf("over budget: %+v %v %v", row, ok, err)
	}
	if r := mustRun(t, s, name); r.Phase != controlplane.PhaseFailed || r.Error != row.Error || r.EndedAt != 400 {
		t.Fatalf("%+v", r)
	}
	// Between attempts (the failed one recorded, the retry not started) no attempt was cut
	// short: requeued, not counted.
	between := runningRun(t, s)
	if err := s.endAttempt(ctx, attemptEnd{Run: between, Attempt: 1, Outcome: outcomeFailed, At: 1}); err != nil {
		t.Fatal(err)
	}
	row, ok, err = s.interruptAttempt(ctx, interruption{Run: between, MaxInterruptions: 0, At: 2})
	if err != nil || !ok || row.Phase != controlplane.PhaseQueued || row.Interruptions != 0 {
		t.Fatalf("between attempts: %+v %v %v", row, ok, err)
	}
	if a := mustAttempts(t, s, between); len(a) != 1 || a[0].Outcome != outcomeFailed {
		t.Fatalf("%+v", a)
	}
}

func TestStoreRequeueInterrupted(t *testing.T) {
	t.Parallel()
	s := testStore(t)
	ctx := context.Background()
	a, b := runningRun(t, s), runningRun(t, s)
	queued := queuedRun(t, s)
	rows, err := s.requeueInterrupted(ctx, interruption{Error: "interrupted: server restarted", At: 9, MaxInterruptions: 3})
	if err != nil || len(rows) != 2 || rows[0].Name != a || rows[1].Name != b {
		t.Fatalf("requeueInterrupted: %+v %v", rows, err)
	}
	for _, n := range []string{a, b} {
		if r := mustRun(t, s, n); r.Phase != controlplane.PhaseQueued || r.Interruptions != 1 {
			t.Fatalf("%+v", r)
		}
		if at := mustAttempts(t, s, n); at[0].Outcome != outcomeInterrupted || at[0].Error != "interrupted: server restarted" {
			t.Fatalf("%+v", at)
		}
	}
	if r := mustRun(t, s, queued); r.Phase != controlplane.PhaseQueued || r.Interruptions != 0 {
		t.Fatalf("a queued run was touched: %+v", r)
	}
}

// TestStoreFailingWrites: with failWrites set every write fails and nothing lands; once it is
// cleared the same write lands.
func TestStoreFailingWrites(t *testing.T) {
	t.Parallel()
	s := testStore(t)
	ctx := context.Background()
	name := runningRun(t, s)
	full := errors.New("database or disk is full")
	f := func(string) error { return full }
	s.failWrites.Store(&f)
	end := runEnd{Run: name, Attempt: 1, Phase: controlplane.PhaseSucceeded, At: 1}
	if _, err := s.finishRun(ctx, end); !errors.Is(err, full) {
		t.Fatalf("finishRun with failing writes: %v", err)
	}
	if r := mustRun(t, s, name); r.Phase != controlplane.PhaseRunning {
		t.Fatalf("a failed write landed: %s", r.Phase)
	}
	s.failWrites.Store(nil)
	if ok, err := s.finishRun(ctx, end); err != nil || !ok {
		t.Fatalf("finishRun after: %v %v", ok, err)
	}
}

// TestStoreMigratesOldDatabases: a database made before cache keys, attempt records,
// interruptions and scoped idempotency keys opens; its runs and keys are kept, and its keys
// stay unscoped (any caller's matches) until they expire.
func TestStoreMigratesOldDatabases(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "flyte-webhook.db")
	old, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixNano()
	for _, q := range []string{
		`CREATE TABLE runs (name TEXT PRIMARY KEY, seq INTEGER NOT NULL, kind TEXT NOT NULL, domain TEXT NOT NULL, project TEXT NOT NULL,
			task TEXT NOT NULL, version TEXT NOT NULL, phase TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '',
			abort_reason TEXT NOT NULL DEFAULT '', inputs TEXT NOT NULL, outputs TEXT, created_at INTEGER NOT NULL,
			started_at INTEGER NOT NULL DEFAULT 0, ended_at INTEGER NOT NULL DEFAULT 0)`,
		`CREATE TABLE idempotency (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, run TEXT NOT NULL, created_at INTEGER NOT NULL)`,
		`CREATE TABLE task_versions (domain TEXT NOT NULL, project TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL, seq INTEGER NOT NULL,
			PRIMARY KEY (domain, project, name, version))`,
		`INSERT INTO runs (name, seq, kind, domain, project, task, version, phase, attempts, inputs, created_at, started_at)
			VALUES ('rold', 1, 'task', 'd', 'p', 't', 'v1', 'running', 1, '{}', 1, 2)`,
		`INSERT INTO idempotency (key, fingerprint, run, created_at) VALUES ('k', 'fp', 'rold', ` + strconv.FormatInt(now, 10) + `)`,
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	old.Close()

	s, err := openStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	ctx := context.Background()
	if r := mustRun(t, s, "rold"); r.Phase != controlplane.PhaseRunning || r.Interruptions != 0 {
		t.Fatalf("%+v", r)
	}
	got, err := s.insertRun(ctx, newRun{Row: runRow{Name: newRunName(), Kind: "task", Phase: controlplane.PhaseQueued, Inputs: `{}`, CreatedAt: now},
		Subject: "anyone", IdempotencyKey: "k", Fingerprint: "fp", TTL: time.Hour})
	if err != nil || got != "rold" {
		t.Fatalf("an unscoped key from before: %s %v, want rold", got, err)
	}
	// The old run has no attempt record; an interruption makes one.
	rows, err := s.requeueInterrupted(ctx, interruption{Error: "interrupted: server restarted", At: 3, MaxInterruptions: 3})
	if err != nil || len(rows) != 1 {
		t.Fatalf("%+v %v", rows, err)
	}
	if a := mustAttempts(t, s, "rold"); len(a) != 1 || a[0].Outcome != outcomeInterrupted || a[0].StartedAt != 2 {
		t.Fatalf("%+v", a)
	}
	s.close()
	// Opening a migrated database again changes nothing.
	s2, err := openStore(path)
	if err != nil {
		t.Fatal(err)
	}
	s2.close()
}
