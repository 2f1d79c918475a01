package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// The state changes of a run, one named method each (river's JobSetStateIfRunning and
// friends). Every change of phase is guarded by the phase it starts from, so a write that is
// retried (see Backend.persist) or that races another (an abort) changes nothing the second
// time: a finished run never changes again.

// outcome is how an attempt ended, as recorded in the attempts table.
type outcome string

// The outcomes. An attempt still running has outcomeNone.
const (
	outcomeNone        outcome = ""
	outcomeSucceeded   outcome = "succeeded"
	outcomeFailed      outcome = "failed"
	outcomeTimedOut    outcome = "timed_out"
	outcomeAborted     outcome = "aborted"
	outcomeInterrupted outcome = "interrupted" // cut short by the server: a stop or a crash
)

// outcomeOf is the outcome of an attempt that ended its run in phase.
func outcomeOf(phase controlplane.Phase) outcome {
	switch phase {
	case controlplane.PhaseSucceeded:
		return outcomeSucceeded
	case controlplane.PhaseTimedOut:
		return outcomeTimedOut
	case controlplane.PhaseAborted:
		return outcomeAborted
	}
	return outcomeFailed
}

// attemptRow is one attempt of a run, as stored.
type attemptRow struct {
	Run                string
	Attempt            int
	StartedAt, EndedAt int64
	Outcome            outcome
	Error              string
}

const (
	sqlInsertRun      = `INSERT INTO runs (name, seq, kind, domain, project, task, version, phase, inputs, created_at, caller, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlIdempotencyGet = `SELECT fingerprint, run, created_at FROM idempotency WHERE key = ? AND subject IN (?, '') ORDER BY subject DESC LIMIT 1`
	sqlIdempotencyPut = `INSERT OR REPLACE INTO idempotency (subject, key, fingerprint, run, created_at) VALUES (?, ?, ?, ?, ?)`
	sqlMarkRunning    = `UPDATE runs SET phase = 'running', attempts = ?, started_at = CASE started_at WHEN 0 THEN ? ELSE started_at END WHERE name = ? AND phase IN ('queued', 'running')`
	sqlOpenAttempt    = `INSERT OR REPLACE INTO attempts (run, attempt, started_at, ended_at, outcome, error) VALUES (?, ?, ?, 0, '', '')`
	sqlFinishRun      = `UPDATE runs SET phase = ?, error = ?, outputs = ?, ended_at = ?, cache_key = ? WHERE name = ? AND phase IN ('queued', 'running')`
	sqlCloseAttempt   = `UPDATE attempts SET ended_at = ?, outcome = ?, error = ? WHERE run = ? AND attempt = ? AND outcome = ''`
	sqlAbortQueued    = `UPDATE runs SET phase = 'aborted', error = ?, abort_reason = ?, ended_at = ? WHERE name = ? AND phase = 'queued'`
	sqlSetAbortReason = `UPDATE runs SET abort_reason = ? WHERE name = ? AND phase IN ('queued', 'running')`
)

// newRun is a run to store (insertRun).
type newRun struct {
	Row runRow
	// Subject is the verified caller's: an Idempotency-Key is theirs alone.
	Subject string
	// IdempotencyKey, when not "", is remembered for TTL with Fingerprint (the task and the
	// inputs).
	IdempotencyKey, Fingerprint string
	TTL                         time.Duration
}

// insertRun stores a new run and returns its name. With an idempotency key the same caller
// used within the TTL for the same fingerprint, it stores nothing and returns the earlier
// run's name instead; for another fingerprint, CodeConflict. Keys stored before keys were
// scoped (subject "") match any caller until they expire.
func (s *store) insertRun(ctx context.Context, p newRun) (string, error) {
	var name string
	r := p.Row
	err := s.write(ctx, "insertRun", func(tx *sql.Tx) error {
		name = r.Name // set here: an op may run twice (see commit)
		if p.IdempotencyKey != "" {
			var fp, run string
			var at int64
			err := s.queryRow(tx, sqlIdempotencyGet, p.IdempotencyKey, p.Subject).Scan(&fp, &run, &at)
			switch {
			case err == nil && time.Since(time.Unix(0, at)) < p.TTL:
				if fp != p.Fingerprint {
					return logicalError{controlplane.Errorf(controlplane.CodeConflict, "Idempotency-Key %q was used within %s for another task or other inputs", p.IdempotencyKey, p.TTL)}
				}
				name = run
				return nil
			case err != nil && !errors.Is(err, sql.ErrNoRows):
				return err
			}
			if _, err := s.exec(tx, sqlIdempotencyPut, p.Subject, p.IdempotencyKey, p.Fingerprint, r.Name, r.CreatedAt); err != nil {
				return err
			}
		}
		seq := s.seq
		s.seq++
		_, err := s.exec(tx, sqlInsertRun, r.Name, seq, r.Kind, r.Domain, r.Project, r.Task, r.Version, r.Phase, r.Inputs, r.CreatedAt, r.Caller, r.Labels)
		if err == nil {
			err = s.insertLabels(tx, r, seq)
		}
		if err != nil {
			s.seq--
		}
		return err
	})
	return name, err
}

// attemptStart marks a run running for one attempt (markRunning).
type attemptStart struct {
	Run     string
	Attempt int
	At      int64
}

// markRunning sets the run running with p.Attempt attempts (started_at is set by the first)
// and opens the attempt's record. false when the run is neither queued nor running any more
// (aborted meanwhile): then nothing is written.
func (s *store) markRunning(ctx context.Context, p attemptStart) (bool, error) {
	var ok bool
	err := s.write(ctx, "markRunning", func(tx *sql.Tx) error {
		n, err := s.execN(tx, sqlMarkRunning, p.Attempt, p.At, p.Run)
		if ok = n > 0; err != nil || !ok {
			return err
		}
		_, err = s.exec(tx, sqlOpenAttempt, p.Run, p.Attempt, p.At)
		return err
	})
	if err == nil && ok {
		s.changed(p.Run)
	}
	return ok, err
}

// attemptEnd closes an attempt that did not end its run: a failure the task's retries cover
// (endAttempt).
type attemptEnd struct {
	Run     string
	Attempt int
	Outcome outcome
	Error   string
	At      int64
	// Requeue puts the run back to queued: the server is stopping, so its next attempt waits
	// for the next start.
	Requeue bool
}

// endAttempt records how an attempt ended while its run goes on.
func (s *store) endAttempt(ctx context.Context, p attemptEnd) error {
	err := s.write(ctx, "endAttempt", func(tx *sql.Tx) error {
		if _, err := s.exec(tx, sqlCloseAttempt, p.At, string(p.Outcome), p.Error, p.Run, p.Attempt); err != nil {
			return err
		}
		if !p.Requeue {
			return nil
		}
		_, err := tx.Exec(`UPDATE runs SET phase = 'queued' WHERE name = ? AND phase = 'running'`, p.Run)
		return err
	})
	if err == nil {
		s.changed(p.Run)
	}
	return err
}

// runEnd is a run's final phase (finishRun).
type runEnd struct {
	Run string
	// Attempt is the attempt that ended the run, 0 when none did (served from the task
	// cache, or refused before an attempt).
	Attempt int
	Phase   controlplane.Phase
	Error   string
	// Outputs is the outputs object as JSON, nil for none.
	Outputs *string
	// CacheKey, when not "", lets the run serve later runs from the task cache.
	CacheKey string
	At       int64
}

// finishRun records a run's final phase and closes the attempt that ended it. false when
// the run had already ended (an abort of a queued run got there first, or this very write
// landed before): then nothing is written.
func (s *store) finishRun(ctx context.Context, p runEnd) (bool, error) {
	var ok bool
	err := s.write(ctx, "finishRun", func(tx *sql.Tx) error {
		n, err := s.execN(tx, sqlFinishRun, string(p.Phase), p.Error, p.Outputs, p.At, p.CacheKey, p.Run)
		if ok = n > 0; err != nil || !ok || p.Attempt == 0 {
			return err
		}
		_, err = s.exec(tx, sqlCloseAttempt, p.At, string(outcomeOf(p.Phase)), p.Error, p.Run, p.Attempt)
		return err
	})
	if err == nil && ok {
		s.changed(p.Run)
	}
	return ok, err
}

// queuedAbort aborts a run that has not started (abortQueued).
type queuedAbort struct {
	Run, Reason, Error string
	At                 int64
}

// abortQueued aborts the run when it is queued. false when it is not (running or finished).
func (s *store) abortQueued(ctx context.Context, p queuedAbort) (bool, error) {
	var ok bool
	err := s.write(ctx, "abortQueued", func(tx *sql.Tx) error {
		n, err := s.execN(tx, sqlAbortQueued, p.Error, p.Reason, p.At, p.Run)
		ok = n > 0
		return err
	})
	if err == nil && ok {
		s.changed(p.Run)
	}
	return ok, err
}

// setAbortReason records why a running run is being aborted, before its process is stopped.
func (s *store) setAbortReason(ctx context.Context, run, reason string) error {
	return s.write(ctx, "setAbortReason", func(tx *sql.Tx) error {
		_, err := s.exec(tx, sqlSetAbortReason, reason, run)
		return err
	})
}

// interruption is an attempt the server cut short (interruptAttempt, requeueInterrupted).
type interruption struct {
	Run string
	// Attempt is the attempt cut short; 0 means the run's latest.
	Attempt int
	Error   string
	At      int64
	// MaxInterruptions is the budget: a run interrupted more often ends failed.
	MaxInterruptions int
}

// interruptAttempt records that the server stopped an attempt: the attempt's outcome is
// interrupted, and the run goes back to queued with one more interruption, or ends failed
// when that is more than the budget. It returns the run as it is after, and false when the
// run was not running (nothing is written).
func (s *store) interruptAttempt(ctx context.Context, p interruption) (runRow, bool, error) {
	var row runRow
	var ok bool
	err := s.write(ctx, "interruptAttempt", func(tx *sql.Tx) error {
		var err error
		row, ok, err = s.interrupt(tx, p)
		return err
	})
	if err == nil && ok {
		s.changed(p.Run)
	}
	return row, ok, err
}

// requeueInterrupted treats every run left running (by a server that was killed, or whose
// stop could not record them) as interrupted: see interruptAttempt. p.Run and p.Attempt are
// ignored. It returns the runs it changed, oldest first.
func (s *store) requeueInterrupted(ctx context.Context, p interruption) ([]runRow, error) {
	var out []runRow
	err := s.write(ctx, "requeueInterrupted", func(tx *sql.Tx) error {
		out = out[:0] // an op may run twice (see commit)
		rows, err := tx.Query(`SELECT name FROM runs WHERE phase = 'running' ORDER BY seq`)
		if err != nil {
			return err
		}
		var names []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			names = append(names, n)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, n := range names {
			q := p
			q.Run, q.Attempt = n, 0
			row, ok, err := s.interrupt(tx, q)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, row)
			}
		}
		return nil
	})
	return out, err
}

// interrupt is interruptAttempt inside a transaction.
func (s *store) interrupt(tx *sql.Tx, p interruption) (runRow, bool, error) {
	row, err := scanRun(tx.QueryRow(`SELECT `+runColumns+` FROM runs WHERE name = ?`, p.Run))
	if errors.Is(err, sql.ErrNoRows) {
		return row, false, nil
	}
	if err != nil || row.Phase != controlplane.PhaseRunning {
		return row, false, err
	}
	attempt := p.Attempt
	if attempt == 0 {
		attempt = row.Attempts
	}
	// An attempt cut short counts against the budget. A run between attempts (its failed
	// attempt recorded, the retry not yet started) lost no attempt: it is requeued only.
	counted := false
	if attempt > 0 {
		n, err := s.execN(tx, sqlCloseAttempt, p.At, string(outcomeInterrupted), p.Error, p.Run, attempt)
		if err != nil {
			return row, false, err
		}
		if n == 0 { // no open record: ended already, or the database predates attempt records
			var started int64
			if attempt == 1 {
				started = row.StartedAt
			}
			res, err := tx.Exec(`INSERT OR IGNORE INTO attempts (run, attempt, started_at, ended_at, outcome, error) VALUES (?, ?, ?, ?, ?, ?)`,
				p.Run, attempt, started, p.At, string(outcomeInterrupted), p.Error)
			if err != nil {
				return row, false, err
			}
			n, _ = res.RowsAffected()
		}
		counted = n > 0
	}
	if counted {
		row.Interruptions++
	}
	if row.Interruptions > p.MaxInterruptions {
		row.Phase, row.EndedAt = controlplane.PhaseFailed, p.At
		row.Error = fmt.Sprintf("interrupted by the server %d times (max_interruptions is %d)", row.Interruptions, p.MaxInterruptions)
		_, err = tx.Exec(`UPDATE runs SET phase = 'failed', interruptions = ?, error = ?, ended_at = ? WHERE name = ?`,
			row.Interruptions, row.Error, row.EndedAt, p.Run)
	} else {
		row.Phase = controlplane.PhaseQueued
		_, err = tx.Exec(`UPDATE runs SET phase = 'queued', interruptions = ? WHERE name = ?`, row.Interruptions, p.Run)
	}
	return row, err == nil, err
}

// forgetExpiredKeys deletes the idempotency keys stored before before (unix nanoseconds) and
// returns how many.
func (s *store) forgetExpiredKeys(ctx context.Context, before int64) (int64, error) {
	var n int64
	err := s.write(ctx, "forgetExpiredKeys", func(tx *sql.Tx) error {
		var err error
		n, err = s.execN(tx, `DELETE FROM idempotency WHERE created_at < ?`, before)
		return err
	})
	return n, err
}

// cachedOutputs returns the outputs of the latest succeeded run with the task-cache key, and
// its name; ok false when there is none.
func (s *store) cachedOutputs(ctx context.Context, key string) (run, outputs string, ok bool, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT name, outputs FROM runs WHERE cache_key = ? AND cache_key != '' AND phase = 'succeeded' AND outputs IS NOT NULL ORDER BY seq DESC LIMIT 1`, key).Scan(&run, &outputs)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", "", false, nil
	case err != nil:
		return "", "", false, s.readErr(err, "read the task cache")
	}
	return run, outputs, true, nil
}

// attemptsOf lists a run's attempt records in order.
func (s *store) attemptsOf(ctx context.Context, run string) ([]attemptRow, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT run, attempt, started_at, ended_at, outcome, error FROM attempts WHERE run = ? ORDER BY attempt`, run)
	if err != nil {
		return nil, s.readErr(err, "list attempts of "+run)
	}
	defer rows.Close()
	var out []attemptRow
	for rows.Next() {
		var a attemptRow
		if err := rows.Scan(&a.Run, &a.Attempt, &a.StartedAt, &a.EndedAt, &a.Outcome, &a.Error); err != nil {
			return nil, fmt.Errorf("local: list attempts of %s: %w", run, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
