package local

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// The apps' state: what the supervisor must restore after a restart. One row per app name
// ever declared: the declaration's fingerprint and the revision that goes with it, whether the
// app is wanted active, and the marker of the last process started for it (its
// FLYTE_WEBHOOK_APP_INSTANCE), by which the next start finds what a killed server left
// behind. Databases made before apps existed get the table at their next open (CREATE TABLE
// IF NOT EXISTS, from migrate).
const schemaApps = `
CREATE TABLE IF NOT EXISTS apps (
	name       TEXT PRIMARY KEY,
	hash       TEXT NOT NULL,
	revision   INTEGER NOT NULL,
	active     INTEGER NOT NULL DEFAULT 0,
	instance   TEXT NOT NULL DEFAULT '',
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;
`

// appRow is an app's stored state.
type appRow struct {
	Name     string
	Hash     string
	Revision int64
	Active   bool
	Instance string
}

// registerApps records the declared apps: a new one at revision 1, inactive; one whose
// declaration changed (another hash) at the next revision, keeping its wanted state. An app
// the workspace no longer declares is set inactive, so declaring it again later does not
// start it by surprise. It returns the stored state of every declared app.
func (s *store) registerApps(ctx context.Context, apps map[string]*app) (map[string]appRow, error) {
	now := time.Now().UnixNano()
	out := map[string]appRow{}
	err := s.write(ctx, "registerApps", func(tx *sql.Tx) error {
		clear(out) // ops may run twice (see store.commit)
		rows, err := tx.Query(`SELECT name, hash, revision, active, instance FROM apps`)
		if err != nil {
			return err
		}
		stored := map[string]appRow{}
		for rows.Next() {
			var r appRow
			if err := rows.Scan(&r.Name, &r.Hash, &r.Revision, &r.Active, &r.Instance); err != nil {
				rows.Close()
				return err
			}
			stored[r.Name] = r
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for name, a := range apps {
			r, ok := stored[name]
			switch {
			case !ok:
				r = appRow{Name: name, Hash: a.Hash, Revision: 1}
				if _, err := tx.Exec(`INSERT INTO apps (name, hash, revision, active, instance, updated_at) VALUES (?, ?, 1, 0, '', ?)`, name, a.Hash, now); err != nil {
					return err
				}
			case r.Hash != a.Hash:
				r.Hash, r.Revision = a.Hash, r.Revision+1
				if _, err := tx.Exec(`UPDATE apps SET hash = ?, revision = ?, updated_at = ? WHERE name = ?`, r.Hash, r.Revision, now, name); err != nil {
					return err
				}
			}
			out[name] = r
		}
		for name, r := range stored {
			if apps[name] == nil && r.Active {
				if _, err := tx.Exec(`UPDATE apps SET active = 0, updated_at = ? WHERE name = ?`, now, name); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("local: register apps: %w", err)
	}
	return out, nil
}

// setAppActive records whether an app is wanted active.
func (s *store) setAppActive(ctx context.Context, name string, active bool) error {
	err := s.write(ctx, "setAppActive", func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE apps SET active = ?, updated_at = ? WHERE name = ?`, active, time.Now().UnixNano(), name)
		return err
	})
	if err != nil {
		return fmt.Errorf("local: record app %s as wanted active=%v: %w", name, active, err)
	}
	return nil
}

// setAppInstance records the marker of the process about to start for an app, before it
// starts: a server killed at any point after leaves a marker the next start can find.
func (s *store) setAppInstance(ctx context.Context, name, instance string) error {
	err := s.write(ctx, "setAppInstance", func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE apps SET instance = ?, updated_at = ? WHERE name = ?`, instance, time.Now().UnixNano(), name)
		return err
	})
	if err != nil {
		return fmt.Errorf("local: record the start of app %s: %w", name, err)
	}
	return nil
}

// appInstances returns the markers of the last process started for each app.
func (s *store) appInstances(ctx context.Context) (map[string]bool, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT instance FROM apps WHERE instance != ''`)
	if err != nil {
		return nil, s.readErr(err, "list app instances")
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var i string
		if err := rows.Scan(&i); err != nil {
			return nil, fmt.Errorf("local: list app instances: %w", err)
		}
		out[i] = true
	}
	return out, rows.Err()
}
