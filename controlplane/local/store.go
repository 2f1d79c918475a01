package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"

	_ "modernc.org/sqlite" // pure Go SQLite driver, registered as "sqlite"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// The store owns every SQL statement of this backend: the rest of the package changes state
// through named methods with typed parameters (store_runs.go), as river's drivers do. Writes
// are group-committed (groupcommit.go).

const schema = `
CREATE TABLE IF NOT EXISTS runs (
	name          TEXT PRIMARY KEY,
	seq           INTEGER NOT NULL,
	kind          TEXT NOT NULL,
	domain        TEXT NOT NULL,
	project       TEXT NOT NULL,
	task          TEXT NOT NULL,
	version       TEXT NOT NULL,
	phase         TEXT NOT NULL,
	attempts      INTEGER NOT NULL DEFAULT 0,
	error         TEXT NOT NULL DEFAULT '',
	abort_reason  TEXT NOT NULL DEFAULT '',
	inputs        TEXT NOT NULL,
	outputs       TEXT,
	created_at    INTEGER NOT NULL,
	started_at    INTEGER NOT NULL DEFAULT 0,
	ended_at      INTEGER NOT NULL DEFAULT 0,
	cache_key     TEXT NOT NULL DEFAULT '',
	interruptions INTEGER NOT NULL DEFAULT 0,
	trigger_name  TEXT NOT NULL DEFAULT '',
	scheduled_at  INTEGER NOT NULL DEFAULT 0,
	caller        TEXT NOT NULL DEFAULT '',
	labels        TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS idempotency (
	subject     TEXT NOT NULL,
	key         TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	run         TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (subject, key)
);
CREATE TABLE IF NOT EXISTS task_versions (
	domain  TEXT NOT NULL,
	project TEXT NOT NULL,
	name    TEXT NOT NULL,
	version TEXT NOT NULL,
	seq     INTEGER NOT NULL,
	PRIMARY KEY (domain, project, name, version)
);
CREATE TABLE IF NOT EXISTS attempts (
	run        TEXT NOT NULL,
	attempt    INTEGER NOT NULL,
	started_at INTEGER NOT NULL DEFAULT 0,
	ended_at   INTEGER NOT NULL DEFAULT 0,
	outcome    TEXT NOT NULL DEFAULT '',
	error      TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (run, attempt)
) WITHOUT ROWID;
`

// migrate brings a database made by an earlier version up to the schema: runs.cache_key (the
// task cache), runs.interruptions (attempts cut short by the server), and idempotency keys
// scoped by the caller's subject. The attempts table is made by the schema itself (it is
// new, so CREATE TABLE IF NOT EXISTS makes it); runs of an older database have no attempt
// records for what they did before.
func migrate(w *sql.DB) error {
	if _, err := w.Exec(schemaApps); err != nil { // new tables: made in old databases too
		return err
	}
	if err := migrateTriggers(w); err != nil {
		return err
	}
	if err := migrateLists(w); err != nil {
		return err
	}
	for _, col := range []struct{ name, def string }{
		{"cache_key", `TEXT NOT NULL DEFAULT ''`},
		{"interruptions", `INTEGER NOT NULL DEFAULT 0`},
	} {
		has, err := hasColumn(w, "runs", col.name)
		if err != nil {
			return err
		}
		if !has {
			if _, err := w.Exec(`ALTER TABLE runs ADD COLUMN ` + col.name + ` ` + col.def); err != nil {
				return err
			}
		}
	}
	if _, err := w.Exec(`CREATE INDEX IF NOT EXISTS runs_by_cache_key ON runs (cache_key, seq) WHERE cache_key != ''`); err != nil {
		return err
	}
	scoped, err := hasColumn(w, "idempotency", "subject")
	if err != nil || scoped {
		return err
	}
	// Keys were global (primary key: key). SQLite cannot change a primary key in place: copy
	// the rows into a table keyed by (subject, key). Old rows get subject "": they stay
	// unscoped (any caller's key matches them, as before) until they expire with the TTL and
	// housekeeping forgets them.
	tx, err := w.Begin()
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	for _, q := range []string{
		`CREATE TABLE idempotency_scoped (
			subject     TEXT NOT NULL,
			key         TEXT NOT NULL,
			fingerprint TEXT NOT NULL,
			run         TEXT NOT NULL,
			created_at  INTEGER NOT NULL,
			PRIMARY KEY (subject, key)
		)`,
		`INSERT INTO idempotency_scoped (subject, key, fingerprint, run, created_at) SELECT '', key, fingerprint, run, created_at FROM idempotency`,
		`DROP TABLE idempotency`,
		`ALTER TABLE idempotency_scoped RENAME TO idempotency`,
	} {
		if _, err := tx.Exec(q); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func hasColumn(w *sql.DB, table, column string) (bool, error) {
	var n int
	err := w.QueryRow(`SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`, table, column).Scan(&n)
	return n > 0, err
}

// The writer's statements for the savepoints of commitIsolated.
const (
	sqlSavepoint  = `SAVEPOINT op`
	sqlRollbackTo = `ROLLBACK TO op`
	sqlRelease    = `RELEASE op`
)

// writerStatements are prepared once on the writer's connection (see prepareWriter): parsing
// the SQL again for every run was the largest part of a commit, and the writer's time per
// run bounds how many runs per second can be accepted. They are the statements every run
// goes through.
var writerStatements = []string{sqlSavepoint, sqlRollbackTo, sqlRelease, sqlInsertRun, sqlInsertLabel, sqlIdempotencyGet,
	sqlIdempotencyPut, sqlMarkRunning, sqlOpenAttempt, sqlFinishRun, sqlCloseAttempt, sqlAbortQueued, sqlSetAbortReason}

// store is the SQLite state.
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

	// failWrites, when set (by tests only), is asked about every op of a batch before the
	// commit; an error fails the whole batch, as a full disk does.
	failWrites atomic.Pointer[func(op string) error]

	// onRunChange, when set, is called with a run's name after a write that changed its
	// phase or its attempts landed (the watches' wake-up: see hub.go).
	onRunChange func(run string)
}

// errClosed is what a write after close gets: the server is shutting down.
var errClosed = controlplane.Errorf(controlplane.CodeUnavailable, "the server is shutting down")

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

// execN is exec answering how many rows changed.
func (s *store) execN(tx *sql.Tx, query string, args ...any) (int64, error) {
	res, err := s.exec(tx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// queryRow is exec for a query answering one row.
func (s *store) queryRow(tx *sql.Tx, query string, args ...any) *sql.Row {
	if st, ok := s.prepared[query]; ok {
		return tx.Stmt(st).QueryRow(args...)
	}
	return tx.QueryRow(query, args...)
}

// close waits for queued writes to commit (or fail), then closes the database. Safe to call
// twice.
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

// readErr translates a read's error: a read racing close is "shutting down", not internal.
func (s *store) readErr(err error, what string) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return errClosed
	}
	return fmt.Errorf("local: %s: %w", what, err)
}

// runRow is a run as stored.
type runRow struct {
	Name, Kind                     string
	Domain, Project, Task, Version string
	Phase                          controlplane.Phase
	Attempts                       int
	// Interruptions counts attempts the server cut short (a stop or a crash): they do not use
	// up the task's retries.
	Interruptions                 int
	Error, AbortReason            string
	Inputs                        string
	Outputs                       sql.NullString
	CreatedAt, StartedAt, EndedAt int64
	// Trigger is the name of the trigger that started the run ("" for none), ScheduledAt
	// (unix nanoseconds) the schedule time it fired for (see store_triggers.go).
	Trigger     string
	ScheduledAt int64
	// Caller is the subject that started the run ("" for runs stored before callers were);
	// Labels its labels as a JSON object, "" for none (see store_lists.go).
	Caller string
	Labels string
}

const runColumns = `name, kind, domain, project, task, version, phase, attempts, interruptions, error, abort_reason, inputs, outputs, created_at, started_at, ended_at, trigger_name, scheduled_at, caller, labels`

func scanRun(sc interface{ Scan(...any) error }) (runRow, error) {
	var r runRow
	err := sc.Scan(&r.Name, &r.Kind, &r.Domain, &r.Project, &r.Task, &r.Version, &r.Phase, &r.Attempts, &r.Interruptions,
		&r.Error, &r.AbortReason, &r.Inputs, &r.Outputs, &r.CreatedAt, &r.StartedAt, &r.EndedAt, &r.Trigger, &r.ScheduledAt, &r.Caller, &r.Labels)
	return r, err
}

// getRun reads a run. CodeNotFound for an unknown name.
func (s *store) getRun(ctx context.Context, name string) (runRow, error) {
	r, err := scanRun(s.getStmt.QueryRowContext(ctx, name))
	if errors.Is(err, sql.ErrNoRows) {
		return r, controlplane.Errorf(controlplane.CodeNotFound, "run %q not found", name)
	}
	if err != nil {
		return r, s.readErr(err, "read run "+name)
	}
	return r, nil
}

// runsIn lists runs in a phase, oldest first. Only recovery reads it, for the few runs queued
// or running (runs_list_phase finds them; they are sorted by seq here).
func (s *store) runsIn(ctx context.Context, phase controlplane.Phase) ([]runRow, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE phase = ? ORDER BY seq`, phase)
	if err != nil {
		return nil, s.readErr(err, fmt.Sprintf("list %s runs", phase))
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
	err := s.write(ctx, "registerVersions", func(tx *sql.Tx) error {
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
