package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	_ "modernc.org/sqlite" // pure Go SQLite driver, registered as "sqlite"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

const schema = `
CREATE TABLE IF NOT EXISTS runs (
	name         TEXT PRIMARY KEY,
	seq          INTEGER NOT NULL,
	kind         TEXT NOT NULL,
	domain       TEXT NOT NULL,
	project      TEXT NOT NULL,
	task         TEXT NOT NULL,
	version      TEXT NOT NULL,
	phase        TEXT NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	error        TEXT NOT NULL DEFAULT '',
	abort_reason TEXT NOT NULL DEFAULT '',
	inputs       TEXT NOT NULL,
	outputs      TEXT,
	created_at   INTEGER NOT NULL,
	started_at   INTEGER NOT NULL DEFAULT 0,
	ended_at     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_by_phase ON runs (phase, seq);
CREATE TABLE IF NOT EXISTS idempotency (
	key        TEXT PRIMARY KEY,
	fingerprint TEXT NOT NULL,
	run        TEXT NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS task_versions (
	domain  TEXT NOT NULL,
	project TEXT NOT NULL,
	name    TEXT NOT NULL,
	version TEXT NOT NULL,
	seq     INTEGER NOT NULL,
	PRIMARY KEY (domain, project, name, version)
);
`

// migrate adds what databases made by earlier versions lack: runs.cache_key (the task cache).
func migrate(w *sql.DB) error {
	var n int
	if err := w.QueryRow(`SELECT COUNT(*) FROM pragma_table_info('runs') WHERE name = 'cache_key'`).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		if _, err := w.Exec(`ALTER TABLE runs ADD COLUMN cache_key TEXT NOT NULL DEFAULT ''`); err != nil {
			return err
		}
	}
	_, err := w.Exec(`CREATE INDEX IF NOT EXISTS runs_by_cache_key ON runs (cache_key, seq) WHERE cache_key != ''`)
	return err
}

// The writer's statements, prepared once on its connection (see prepareWriter): parsing the
// SQL again for every run was the largest part of a commit, and the writer's time per run
// bounds how many runs per second can be accepted.
const (
	sqlSavepoint      = `SAVEPOINT op`
	sqlRollbackTo     = `ROLLBACK TO op`
	sqlRelease        = `RELEASE op`
	sqlInsertRun      = `INSERT INTO runs (name, seq, kind, domain, project, task, version, phase, inputs, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlIdempotencyGet = `SELECT fingerprint, run, created_at FROM idempotency WHERE key = ?`
	sqlIdempotencyPut = `INSERT OR REPLACE INTO idempotency (key, fingerprint, run, created_at) VALUES (?, ?, ?, ?)`
	sqlMarkRunning    = `UPDATE runs SET phase = 'running', attempts = ?, started_at = CASE started_at WHEN 0 THEN ? ELSE started_at END WHERE name = ? AND phase IN ('queued', 'running')`
	sqlFinishRun      = `UPDATE runs SET phase = ?, error = ?, outputs = ?, ended_at = ?, cache_key = ? WHERE name = ? AND phase IN ('queued', 'running')`
	sqlAbortQueued    = `UPDATE runs SET phase = 'aborted', error = ?, abort_reason = ?, ended_at = ? WHERE name = ? AND phase = 'queued'`
	sqlSetAbortReason = `UPDATE runs SET abort_reason = ? WHERE name = ?`
)

var writerStatements = []string{sqlSavepoint, sqlRollbackTo, sqlRelease, sqlInsertRun, sqlIdempotencyGet,
	sqlIdempotencyPut, sqlMarkRunning, sqlFinishRun, sqlAbortQueued, sqlSetAbortReason}

// store is the SQLite state. Writes go through one goroutine that commits whatever has
// queued up in one transaction (group commit): each caller gets its answer after the commit
// that holds its write, so "returned" means "on disk".
type store struct {
	w, r    *sql.DB
	getStmt *sql.Stmt // the hot read (GetRun polling), prepared once per connection
	// prepared holds writerStatements prepared on w's only connection; a transaction uses
	// them through tx.Stmt, which reuses the connection's statement instead of parsing again.
	prepared map[string]*sql.Stmt
	writes   chan *writeOp
	done     chan struct{}
	seq      int64 // next run seq; only the writer goroutine touches it

	// mu guards closed: write holds it shared while it queues an op, close exclusively, so
	// no op is ever sent on a closed channel (RunTask racing Close).
	mu     sync.RWMutex
	closed bool
}

// errClosed is what a write after close gets: the server is shutting down.
var errClosed = controlplane.Errorf(controlplane.CodeUnavailable, "the server is shutting down")

type writeOp struct {
	fn   func(tx *sql.Tx) error
	errc chan error
}

// errLogical marks an op's own refusal (e.g. an idempotency conflict): its savepoint is
// rolled back, the batch commits.
type logicalError struct{ error }

func openStore(path string) (*store, error) {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(10000)")
	dsn := "file:" + path + "?" + q.Encode()
	w, err := sql.Open("sqlite", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("local: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	if _, err := w.Exec(schema); err != nil {
		w.Close()
		return nil, fmt.Errorf("local: create schema in %s: %w", path, err)
	}
	if err := migrate(w); err != nil {
		w.Close()
		return nil, fmt.Errorf("local: upgrade schema in %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn+"&mode=ro")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("local: open %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	s := &store{w: w, r: r, writes: make(chan *writeOp, 1024), done: make(chan struct{})}
	if err := w.QueryRow(`SELECT COALESCE(MAX(seq), 0) + 1 FROM runs`).Scan(&s.seq); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("local: read %s: %w", path, err)
	}
	if s.getStmt, err = r.Prepare(`SELECT ` + runColumns + ` FROM runs WHERE name = ?`); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("local: prepare reads of %s: %w", path, err)
	}
	if err := s.prepareWriter(); err != nil {
		s.getStmt.Close()
		r.Close()
		w.Close()
		return nil, fmt.Errorf("local: prepare writes to %s: %w", path, err)
	}
	go s.writer()
	return s, nil
}

func (s *store) prepareWriter() error {
	s.prepared = make(map[string]*sql.Stmt, len(writerStatements))
	for _, q := range writerStatements {
		st, err := s.w.Prepare(q)
		if err != nil {
			for _, p := range s.prepared {
				p.Close()
			}
			return err
		}
		s.prepared[q] = st
	}
	return nil
}

// exec runs query in tx, through its prepared statement when it has one. Only the writer
// goroutine calls it (it runs inside write ops).
func (s *store) exec(tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st, ok := s.prepared[query]; ok {
		return tx.Stmt(st).Exec(args...)
	}
	return tx.Exec(query, args...)
}

// queryRow is exec for a query answering one row.
func (s *store) queryRow(tx *sql.Tx, query string, args ...any) *sql.Row {
	if st, ok := s.prepared[query]; ok {
		return tx.Stmt(st).QueryRow(args...)
	}
	return tx.QueryRow(query, args...)
}

// close waits for queued writes to commit, then closes the database. Safe to call twice.
func (s *store) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.writes)
	s.mu.Unlock()
	<-s.done
	for _, st := range s.prepared {
		st.Close()
	}
	s.getStmt.Close()
	s.r.Close()
	s.w.Close()
}

// write runs fn in the next group commit and waits for that commit.
func (s *store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	op := &writeOp{fn: fn, errc: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	select {
	case s.writes <- op:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	// Once queued, the op will be committed or refused; wait for that even if ctx ends, so a
	// caller never reports failure for a write that landed.
	err := <-op.errc
	var le logicalError
	if errors.As(err, &le) {
		return le.error
	}
	return err
}

const maxBatch = 512

// Under load a batch waits up to lingerMax for more writes before it commits: each commit
// costs about half a millisecond of CPU and an fsync whatever its size, and the callers the
// previous commit answered are on their way back with their next writes. Without load (the
// previous batch was small) a write commits at once.
const (
	lingerMax      = time.Millisecond
	lingerFromSize = 16
)

func (s *store) writer() {
	defer close(s.done)
	batch := make([]*writeOp, 0, maxBatch)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	prev := 0
	for op := range s.writes {
		batch = append(batch[:0], op)
		s.drain(&batch)
		if prev >= lingerFromSize && len(batch) < prev {
			linger.Reset(lingerMax)
		wait:
			for len(batch) < prev { // prev <= maxBatch: it was a batch
				select {
				case more, ok := <-s.writes:
					if !ok {
						break wait
					}
					batch = append(batch, more)
					s.drain(&batch)
				case <-linger.C:
					break wait
				}
			}
			linger.Stop()
		}
		prev = len(batch)
		s.commit(batch)
	}
}

// drain adds the writes already queued, without waiting.
func (s *store) drain(batch *[]*writeOp) {
	for len(*batch) < maxBatch {
		select {
		case more, ok := <-s.writes:
			if !ok {
				return
			}
			*batch = append(*batch, more)
		default:
			return
		}
	}
}

// commit applies a batch in one transaction. It first runs the ops back to back; almost
// always all succeed and that is the whole cost. When one fails (an idempotency conflict, a
// constraint), it rolls back and runs the batch again with a savepoint around each op, so
// the others commit and only that op gets its error. Ops may run twice: they only write to
// the transaction and to their own variables, and s.seq is restored here.
func (s *store) commit(batch []*writeOp) {
	errs := make([]error, len(batch))
	seq := s.seq
	err := s.commitFast(batch)
	if err != nil {
		s.seq = seq
		err = s.commitIsolated(batch, errs)
	}
	for i, op := range batch {
		if err != nil {
			op.errc <- fmt.Errorf("local: commit: %w", err)
		} else {
			op.errc <- errs[i]
		}
	}
}

// commitFast runs every op in one transaction and commits, or rolls back at the first error.
func (s *store) commitFast(batch []*writeOp) error {
	tx, err := s.w.Begin()
	if err != nil {
		return err
	}
	for _, op := range batch {
		if err := op.fn(tx); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// commitIsolated runs each op inside its own savepoint: an op's error (in errs) rolls back
// only that op. The returned error is the transaction's own, which fails the whole batch.
func (s *store) commitIsolated(batch []*writeOp, errs []error) error {
	tx, err := s.w.Begin()
	if err != nil {
		return err
	}
	for i, op := range batch {
		if _, err = s.exec(tx, sqlSavepoint); err != nil {
			break
		}
		if errs[i] = op.fn(tx); errs[i] != nil {
			if _, err = s.exec(tx, sqlRollbackTo); err != nil {
				break
			}
		}
		if _, err = s.exec(tx, sqlRelease); err != nil {
			break
		}
	}
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// runRow is a run as stored.
type runRow struct {
	Name, Kind                     string
	Domain, Project, Task, Version string
	Phase                          controlplane.Phase
	Attempts                       int
	Error, AbortReason             string
	Inputs                         string
	Outputs                        sql.NullString
	CreatedAt, StartedAt, EndedAt  int64
}

const runColumns = `name, kind, domain, project, task, version, phase, attempts, error, abort_reason, inputs, outputs, created_at, started_at, ended_at`

func scanRun(sc interface{ Scan(...any) error }) (runRow, error) {
	var r runRow
	err := sc.Scan(&r.Name, &r.Kind, &r.Domain, &r.Project, &r.Task, &r.Version, &r.Phase, &r.Attempts,
		&r.Error, &r.AbortReason, &r.Inputs, &r.Outputs, &r.CreatedAt, &r.StartedAt, &r.EndedAt)
	return r, err
}

func (s *store) getRun(ctx context.Context, name string) (runRow, error) {
	r, err := scanRun(s.getStmt.QueryRowContext(ctx, name))
	if errors.Is(err, sql.ErrNoRows) {
		return r, controlplane.Errorf(controlplane.CodeNotFound, "run %q not found", name)
	}
	if err != nil {
		s.mu.RLock()
		closed := s.closed
		s.mu.RUnlock()
		if closed {
			return r, errClosed
		}
		return r, fmt.Errorf("local: read run %s: %w", name, err)
	}
	return r, nil
}

// insertRun stores a new run. With an idempotency key, a key seen within ttl for the same
// fingerprint returns the earlier run's name instead; for another fingerprint, a conflict.
func (s *store) insertRun(ctx context.Context, r runRow, key, fingerprint string, ttl time.Duration) (string, error) {
	var name string
	err := s.write(ctx, func(tx *sql.Tx) error {
		name = r.Name // set here: an op may run twice (see commit)
		if key != "" {
			var fp, run string
			var at int64
			err := s.queryRow(tx, sqlIdempotencyGet, key).Scan(&fp, &run, &at)
			switch {
			case err == nil && time.Since(time.Unix(0, at)) < ttl:
				if fp != fingerprint {
					return logicalError{controlplane.Errorf(controlplane.CodeConflict, "Idempotency-Key %q was used within %s for another task or other inputs", key, ttl)}
				}
				name = run
				return nil
			case err != nil && !errors.Is(err, sql.ErrNoRows):
				return err
			}
			if _, err := s.exec(tx, sqlIdempotencyPut, key, fingerprint, r.Name, r.CreatedAt); err != nil {
				return err
			}
		}
		seq := s.seq
		s.seq++
		_, err := s.exec(tx, sqlInsertRun, r.Name, seq, r.Kind, r.Domain, r.Project, r.Task, r.Version, r.Phase, r.Inputs, r.CreatedAt)
		if err != nil {
			s.seq--
		}
		return err
	})
	return name, err
}

// update applies one UPDATE in the next group commit and returns how many rows it changed.
func (s *store) update(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(tx, query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// runsIn lists runs in a phase, oldest first.
func (s *store) runsIn(ctx context.Context, phase controlplane.Phase) ([]runRow, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE phase = ? ORDER BY seq`, phase)
	if err != nil {
		return nil, fmt.Errorf("local: list %s runs: %w", phase, err)
	}
	defer rows.Close()
	var out []runRow
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("local: list %s runs: %w", phase, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// registerVersions records versions not seen before, in order, and returns every registered
// version's registration number (higher is newer).
func (s *store) registerVersions(ctx context.Context, order []taskVersionKey) (map[taskVersionKey]int64, error) {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var next int64
		if err := tx.QueryRow(`SELECT COALESCE(MAX(seq), 0) + 1 FROM task_versions`).Scan(&next); err != nil {
			return err
		}
		for _, v := range order {
			res, err := tx.Exec(`INSERT OR IGNORE INTO task_versions (domain, project, name, version, seq) VALUES (?, ?, ?, ?, ?)`, v.Domain, v.Project, v.Name, v.Version, next)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				next++
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("local: register task versions: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT domain, project, name, version, seq FROM task_versions`)
	if err != nil {
		return nil, fmt.Errorf("local: read task versions: %w", err)
	}
	defer rows.Close()
	out := map[taskVersionKey]int64{}
	for rows.Next() {
		var v taskVersionKey
		var seq int64
		if err := rows.Scan(&v.Domain, &v.Project, &v.Name, &v.Version, &seq); err != nil {
			return nil, err
		}
		out[v] = seq
	}
	return out, rows.Err()
}
