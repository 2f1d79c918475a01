package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// What the watches of a run read (watch.go): the run and its attempt records, in one read
// transaction so the two agree.

// runState is a run and its attempts, oldest first.
type runState struct {
	Run      runRow
	Attempts []attemptRow

	once sync.Once
	hist []historyItem // see history
}

// runState reads a run with its attempts. CodeNotFound for an unknown name.
func (s *store) runState(ctx context.Context, name string) (*runState, error) {
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.readErr(err, "read run "+name)
	}
	defer func() { _ = tx.Rollback() }()
	row, err := scanRun(tx.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, controlplane.Errorf(controlplane.CodeNotFound, "run %q not found", name)
	}
	if err != nil {
		return nil, s.readErr(err, "read run "+name)
	}
	rows, err := tx.QueryContext(ctx, `SELECT run, attempt, started_at, ended_at, outcome, error FROM attempts WHERE run = ? ORDER BY attempt`, name)
	if err != nil {
		return nil, s.readErr(err, "list attempts of "+name)
	}
	defer rows.Close()
	st := &runState{Run: row}
	for rows.Next() {
		var a attemptRow
		if err := rows.Scan(&a.Run, &a.Attempt, &a.StartedAt, &a.EndedAt, &a.Outcome, &a.Error); err != nil {
			return nil, fmt.Errorf("local: list attempts of %s: %w", name, err)
		}
		st.Attempts = append(st.Attempts, a)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr(err, "list attempts of "+name)
	}
	return st, nil
}

// changed tells the hook that run's stored state changed (after a write landed).
func (s *store) changed(run string) {
	if f := s.onRunChange; f != nil {
		f(run)
	}
}
