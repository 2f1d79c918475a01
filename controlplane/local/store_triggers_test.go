package local

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

func triggerRun(task, trigger string, scheduled int64) runRow {
	return runRow{Name: newRunName(), Kind: "task", Domain: "d", Project: "p", Task: task, Version: "v1",
		Phase: controlplane.PhaseQueued, Inputs: `{}`, CreatedAt: 1, Trigger: trigger, ScheduledAt: scheduled}
}

// TestStoreTriggerRunKey: (task, trigger, schedule time) is the fire's key: a second run
// for the same key is not stored; other keys, and runs no trigger started, are unaffected.
func TestStoreTriggerRunKey(t *testing.T) {
	t.Parallel()
	s := testStore(t)
	ctx := context.Background()
	first := triggerRun("echo", "nightly", 100)
	for _, c := range []struct {
		name string
		row  runRow
		want bool
	}{
		{"first fire", first, true},
		{"same key, another run", triggerRun("echo", "nightly", 100), false},
		{"next schedule time", triggerRun("echo", "nightly", 160), true},
		{"another trigger of the task", triggerRun("echo", "hourly", 100), true},
		{"a trigger of the same name on another task", triggerRun("sum", "nightly", 100), true},
	} {
		ok, err := s.insertTriggerRun(ctx, c.row)
		if err != nil || ok != c.want {
			t.Fatalf("%s: inserted %v (%v), want %v", c.name, ok, err, c.want)
		}
	}
	for range 2 {
		queuedRun(t, s) // no trigger: no key
	}
	if r := mustRun(t, s, first.Name); r.Trigger != "nightly" || r.ScheduledAt != 100 {
		t.Fatalf("%+v", r)
	}
	runs, err := s.triggerRuns(ctx, triggerKey{"echo", "nightly"})
	if err != nil || len(runs) != 2 || runs[0].Name != first.Name || runs[1].ScheduledAt != 160 {
		t.Fatalf("runs of echo/nightly: %+v %v", runs, err)
	}
}

// TestStoreTriggerState: the stored state follows the declaration until it is switched
// through the API; the switch holds while the declaration is unchanged and is dropped when
// it changes or the trigger goes away.
func TestStoreTriggerState(t *testing.T) {
	t.Parallel()
	s := testStore(t)
	ctx := context.Background()
	k := triggerKey{"echo", "nightly"}
	reconcile := func(decls ...triggerDecl) map[triggerKey]reconciled {
		t.Helper()
		st, err := s.reconcileTriggers(ctx, decls, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := reconcile(triggerDecl{k, "d1", false}); st[k] != (reconciled{triggerState: triggerState{Active: false, ActiveSince: 1000}}) {
		t.Fatalf("first seen: %+v", st[k])
	}
	st, ok, err := s.setTriggerActive(ctx, triggerSwitch{Key: k, Declaration: "d1", Active: true, At: 2000})
	if err != nil || !ok || st != (triggerState{Active: true, Overridden: true, ActiveSince: 2000}) {
		t.Fatalf("switched on: %+v %v %v", st, ok, err)
	}
	if st, _, _ = s.setTriggerActive(ctx, triggerSwitch{Key: k, Declaration: "d1", Active: true, At: 3000}); st.ActiveSince != 2000 {
		t.Fatalf("switched on again: active since %d, want 2000 (it was on already)", st.ActiveSince)
	}
	if _, ok, _ := s.setTriggerActive(ctx, triggerSwitch{Key: k, Declaration: "d0", Active: false, At: 3000}); ok {
		t.Fatal("a switch against another declaration was written")
	}
	if got := reconcile(triggerDecl{k, "d1", false}); got[k] != (reconciled{triggerState: triggerState{Active: true, Overridden: true, ActiveSince: 2000}}) {
		t.Fatalf("unchanged declaration: %+v, want the switched state", got[k])
	}
	if got := reconcile(triggerDecl{k, "d2", false}); got[k] != (reconciled{triggerState: triggerState{Active: false, ActiveSince: 1000}, Reset: true}) {
		t.Fatalf("changed declaration: %+v, want the declared state", got[k])
	}
	if _, _, err := s.setTriggerActive(ctx, triggerSwitch{Key: k, Declaration: "d2", Active: true, At: 4000}); err != nil {
		t.Fatal(err)
	}
	reconcile() // the trigger is gone
	if got := reconcile(triggerDecl{k, "d2", false}); got[k].Active {
		t.Fatalf("a trigger removed and declared again: %+v, want the declared state", got[k])
	}
}

// TestStoreMigratesForTriggers: a database made before triggers gets the runs' trigger
// columns and the fire key; its runs read as started by no trigger.
func TestStoreMigratesForTriggers(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "flyte-webhook.db")
	old, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE runs (name TEXT PRIMARY KEY, seq INTEGER NOT NULL, kind TEXT NOT NULL, domain TEXT NOT NULL, project TEXT NOT NULL,
			task TEXT NOT NULL, version TEXT NOT NULL, phase TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '',
			abort_reason TEXT NOT NULL DEFAULT '', inputs TEXT NOT NULL, outputs TEXT, created_at INTEGER NOT NULL,
			started_at INTEGER NOT NULL DEFAULT 0, ended_at INTEGER NOT NULL DEFAULT 0, cache_key TEXT NOT NULL DEFAULT '',
			interruptions INTEGER NOT NULL DEFAULT 0)`,
		`INSERT INTO runs (name, seq, kind, domain, project, task, version, phase, inputs, created_at) VALUES ('rold', 1, 'task', 'd', 'p', 'echo', 'v1', 'succeeded', '{}', 1)`,
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
	if r := mustRun(t, s, "rold"); r.Trigger != "" || r.ScheduledAt != 0 {
		t.Fatalf("%+v", r)
	}
	ctx := context.Background()
	for i, want := range []bool{true, false} {
		if ok, err := s.insertTriggerRun(ctx, triggerRun("echo", "nightly", 100)); err != nil || ok != want {
			t.Fatalf("fire %d: %v %v, want %v", i, ok, err, want)
		}
	}
	if _, err := s.reconcileTriggers(ctx, []triggerDecl{{triggerKey{"echo", "nightly"}, "d", true}}, 1); err != nil {
		t.Fatal(err)
	}
}
