package local

import (
	"context"
	"database/sql"
	"fmt"
)

// The triggers' state, and the runs they start.
//
// A run started by a trigger records the trigger's name and the schedule time it fired for
// (runs.trigger_name, runs.scheduled_at). A unique index on (task, trigger_name,
// scheduled_at) makes that pair the fire's key: the fire is recorded by the very insert
// that creates its run, so a fire either happened with its run or did not happen, and no
// schedule time of a trigger ever starts two runs, whatever the restarts (the scheduler
// tries a schedule time again after a restart; the key turns the second try into nothing).
//
// The triggers table holds one row per trigger of the workspace: the declaration it belongs
// to (a digest), the state (the declaration's, until it is switched through the API), and
// since when the trigger has been active (schedule times at or before are never fired: a
// trigger switched on at 10:30 does not fire for 10:00).

const triggersSchema = `
CREATE TABLE IF NOT EXISTS triggers (
	task         TEXT NOT NULL,
	name         TEXT NOT NULL,
	declaration  TEXT NOT NULL,
	active       INTEGER NOT NULL,
	overridden   INTEGER NOT NULL DEFAULT 0,
	active_since INTEGER NOT NULL,
	PRIMARY KEY (task, name)
) WITHOUT ROWID;
`

// migrateTriggers brings a database made before triggers up to date: the runs' trigger
// columns, the fire key, the triggers table. A database made by this version has the
// columns already (see schema).
func migrateTriggers(w *sql.DB) error {
	for _, col := range []struct{ name, def string }{
		{"trigger_name", `TEXT NOT NULL DEFAULT ''`},
		{"scheduled_at", `INTEGER NOT NULL DEFAULT 0`},
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
	if _, err := w.Exec(`CREATE UNIQUE INDEX IF NOT EXISTS runs_by_trigger ON runs (task, trigger_name, scheduled_at) WHERE trigger_name != ''`); err != nil {
		return err
	}
	_, err := w.Exec(triggersSchema)
	return err
}

const sqlInsertTriggerRun = `INSERT INTO runs (name, seq, kind, domain, project, task, version, phase, inputs, created_at, trigger_name, scheduled_at, caller)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (task, trigger_name, scheduled_at) WHERE trigger_name != '' DO NOTHING`

// insertTriggerRun stores the run of one fire (r.Trigger and r.ScheduledAt set). false when
// that trigger already fired for that schedule time: then nothing is stored.
func (s *store) insertTriggerRun(ctx context.Context, r runRow) (bool, error) {
	var inserted bool
	err := s.write(ctx, "insertTriggerRun", func(tx *sql.Tx) error {
		seq := s.seq
		n, err := s.execN(tx, sqlInsertTriggerRun, r.Name, seq, r.Kind, r.Domain, r.Project, r.Task, r.Version, r.Phase, r.Inputs, r.CreatedAt, r.Trigger, r.ScheduledAt, r.Caller)
		if inserted = n > 0; inserted {
			s.seq++
		}
		return err
	})
	return inserted, err
}

// triggerDecl is a trigger of the workspace as reconcileTriggers sees it.
type triggerDecl struct {
	Key         triggerKey
	Declaration string
	Active      bool // declared
}

// triggerState is a trigger's stored state.
type triggerState struct {
	Active bool
	// Overridden: the state was set through the API (and the declaration has not changed
	// since).
	Overridden bool
	// ActiveSince (unix nanoseconds) is when the trigger was last switched on, or its
	// declaration first seen.
	ActiveSince int64
}

// reconciled is one trigger's state after reconcileTriggers; Reset says the state set
// through the API was dropped because the declaration changed.
type reconciled struct {
	triggerState
	Reset bool
}

// reconcileTriggers makes the triggers table match the workspace's triggers: a trigger
// seen for the first time, or whose declaration changed, gets its declared state (active
// since now); one whose declaration is unchanged keeps its state; the rows of triggers the
// workspace no longer declares are deleted. It returns the state of each declared trigger.
func (s *store) reconcileTriggers(ctx context.Context, decls []triggerDecl, now int64) (map[triggerKey]reconciled, error) {
	var out map[triggerKey]reconciled
	err := s.write(ctx, "reconcileTriggers", func(tx *sql.Tx) error {
		out = map[triggerKey]reconciled{} // an op may run twice (see commit)
		rows, err := tx.Query(`SELECT task, name, declaration, active, overridden, active_since FROM triggers`)
		if err != nil {
			return err
		}
		type stored struct {
			declaration string
			triggerState
		}
		have := map[triggerKey]stored{}
		for rows.Next() {
			var k triggerKey
			var st stored
			if err := rows.Scan(&k.Task, &k.Name, &st.declaration, &st.Active, &st.Overridden, &st.ActiveSince); err != nil {
				rows.Close()
				return err
			}
			have[k] = st
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, d := range decls {
			st, ok := have[d.Key]
			delete(have, d.Key)
			if ok && st.declaration == d.Declaration {
				out[d.Key] = reconciled{triggerState: st.triggerState}
				continue
			}
			fresh := triggerState{Active: d.Active, ActiveSince: now}
			if _, err := tx.Exec(`INSERT OR REPLACE INTO triggers (task, name, declaration, active, overridden, active_since) VALUES (?, ?, ?, ?, 0, ?)`,
				d.Key.Task, d.Key.Name, d.Declaration, d.Active, now); err != nil {
				return err
			}
			out[d.Key] = reconciled{triggerState: fresh, Reset: ok && st.Overridden && st.Active != d.Active}
		}
		for k := range have {
			if _, err := tx.Exec(`DELETE FROM triggers WHERE task = ? AND name = ?`, k.Task, k.Name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("local: record the triggers' state: %w", err)
	}
	return out, nil
}

// triggerSwitch switches a trigger on or off through the API (setTriggerActive).
type triggerSwitch struct {
	Key         triggerKey
	Declaration string // the declaration the switch was made against
	Active      bool
	At          int64
}

// setTriggerActive records a trigger's state as set through the API and returns it. A
// trigger switched on that was off is active since p.At; switching it to the state it has
// changes nothing but marks the state as set through the API. false when the trigger has no
// row for that declaration (a reload changed it meanwhile): then nothing is written.
func (s *store) setTriggerActive(ctx context.Context, p triggerSwitch) (triggerState, bool, error) {
	var st triggerState
	var ok bool
	err := s.write(ctx, "setTriggerActive", func(tx *sql.Tx) error {
		n, err := s.execN(tx, `UPDATE triggers SET active_since = CASE WHEN active = 0 AND ? THEN ? ELSE active_since END, active = ?, overridden = 1
			WHERE task = ? AND name = ? AND declaration = ?`, p.Active, p.At, p.Active, p.Key.Task, p.Key.Name, p.Declaration)
		if ok = n > 0; err != nil || !ok {
			return err
		}
		return tx.QueryRow(`SELECT active, overridden, active_since FROM triggers WHERE task = ? AND name = ?`, p.Key.Task, p.Key.Name).
			Scan(&st.Active, &st.Overridden, &st.ActiveSince)
	})
	return st, ok, err
}

// triggerRuns lists the runs a trigger started, by schedule time.
func (s *store) triggerRuns(ctx context.Context, k triggerKey) ([]runRow, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE task = ? AND trigger_name = ? ORDER BY scheduled_at`, k.Task, k.Name)
	if err != nil {
		return nil, s.readErr(err, "list the runs of trigger "+k.String())
	}
	defer rows.Close()
	var out []runRow
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("local: list the runs of trigger %s: %w", k, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
