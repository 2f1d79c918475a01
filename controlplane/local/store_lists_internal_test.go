package local

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// TestListPlans: every list filter is an index range scan in the list order, on the page
// after a token and within time bounds alike: SQLite's own query plan names the index and
// has no sorting step (no "TEMP B-TREE"), so a page costs the same at any depth and any
// number of runs. The task allowlist and the other filters ride along on the rows read.
func TestListPlans(t *testing.T) {
	t.Parallel()
	st, err := openStore(filepath.Join(t.TempDir(), "plans.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.close)
	greet, err := controlplane.ParseTaskAllowlist([]string{"development/examples/greet", "examples/sum", "slow"})
	if err != nil {
		t.Fatal(err)
	}
	after := &listKey{CreatedAt: 1e18, Seq: 10}
	task := controlplane.TaskRef{Domain: "d", Project: "p", Name: "n"}
	cases := []struct {
		name  string
		q     listQuery
		index []string // what the plan must use, in order
	}{
		{"newest", listQuery{}, []string{"USING INDEX runs_list"}},
		{"newest, a later page, time bounds", listQuery{After: after, Since: 1, Until: 2e18}, []string{"USING INDEX runs_list (created_at>? AND (created_at,seq)<(?,?))"}},
		{"newest until", listQuery{Until: 2e18}, []string{"USING INDEX runs_list ((created_at,seq)<(?,?))"}},
		{"task", listQuery{Task: task, After: after}, []string{"USING INDEX runs_list_task (domain=? AND project=? AND task=? AND "}},
		{"task and version", listQuery{Task: controlplane.TaskRef{Domain: "d", Project: "p", Name: "n", Version: "v1"}}, []string{"USING INDEX runs_list_task (domain=? AND project=? AND task=?)"}},
		{"one phase", listQuery{Phases: []string{"failed"}, After: after}, []string{"USING INDEX runs_list_phase (phase=? AND "}},
		{"three phases", listQuery{Phases: []string{"failed", "aborted", "timed_out"}, After: after}, []string{"runs_list_phase (phase=? AND", "runs_list_phase (phase=? AND", "runs_list_phase (phase=? AND"}},
		{"trigger", listQuery{Trigger: "nightly"}, []string{"USING INDEX runs_list_trigger (trigger_name=?)"}},
		{"caller", listQuery{Caller: "ci", After: after}, []string{"USING INDEX runs_list_caller (caller=? AND "}},
		{"label", listQuery{Labels: [][2]string{{"ci-job", "1"}}, After: after}, []string{"SEARCH l USING PRIMARY KEY (key=? AND value=? AND (created_at,seq)<(?,?))", "SEARCH r USING INDEX sqlite_autoindex_runs_1 (name=?)"}},
		{"two labels and a phase", listQuery{Labels: [][2]string{{"a", "1"}, {"b", "2"}}, Phases: []string{"failed"}}, []string{"USING PRIMARY KEY (key=? AND value=?)", "(name=?)", "USING PRIMARY KEY (key=? AND value=? AND created_at=? AND seq=?)"}},
		{"newest, allowlist", listQuery{Visible: controlplane.Visibility{TaskAllowlists: []*controlplane.TaskAllowlist{greet}, HideKinds: true}}, []string{"USING INDEX runs_list"}},
		{"task and caller: the caller drives", listQuery{Task: task, Caller: "ci"}, []string{"USING INDEX runs_list_caller (caller=?)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.q.Limit = 51
			query, args := listSQL(c.q)
			rows, err := st.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, query)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			text := strings.Join(plan, "\n")
			// Several phases are merged: each range is read in order and LIMITed, and the
			// merge sorts at most the page size of rows per phase; that is the only sort.
			if strings.Contains(text, "TEMP B-TREE") && !strings.Contains(c.name, "phases") {
				t.Errorf("the plan sorts:\n%s", text)
			}
			rest := text
			for _, want := range c.index {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Fatalf("the plan does not use %q (in order):\n%s\n%s", want, text, query)
				}
				rest = rest[i+len(want):]
			}
		})
	}
}

// TestStoreMigratesForLists: a database made before lists (runs without caller and labels,
// the runs_by_phase index) opens with the list indexes and the label table; its runs are
// listed, with no caller and no labels, and match no caller filter; new runs with labels are
// found by them; opening it again changes nothing.
func TestStoreMigratesForLists(t *testing.T) {
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
			interruptions INTEGER NOT NULL DEFAULT 0, trigger_name TEXT NOT NULL DEFAULT '', scheduled_at INTEGER NOT NULL DEFAULT 0)`,
		`CREATE INDEX runs_by_phase ON runs (phase, seq)`,
		`INSERT INTO runs (name, seq, kind, domain, project, task, version, phase, inputs, created_at, ended_at) VALUES ('rold1', 1, 'task', 'd', 'p', 'echo', 'v1', 'succeeded', '{}', 10, 11)`,
		`INSERT INTO runs (name, seq, kind, domain, project, task, version, phase, inputs, created_at) VALUES ('rold2', 2, 'task', 'd', 'p', 'echo', 'v1', 'queued', '{}', 20)`,
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
	var n int
	if err := s.r.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN ('runs_list', 'runs_list_task', 'runs_list_phase', 'runs_list_caller', 'runs_list_trigger')`).Scan(&n); err != nil || n != 5 {
		t.Fatalf("%d list indexes (%v), want 5", n, err)
	}
	if err := s.r.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name = 'runs_by_phase'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("runs_by_phase is still there (%v)", err)
	}
	list := func(q listQuery) []string {
		t.Helper()
		q.Limit = 10
		rows, err := s.listRuns(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rows {
			out = append(out, r.Name)
		}
		return out
	}
	if got := list(listQuery{}); strings.Join(got, ",") != "rold2,rold1" {
		t.Errorf("old runs listed %v, want rold2,rold1", got)
	}
	if r := mustRun(t, s, "rold1"); r.Caller != "" || r.Labels != "" {
		t.Errorf("an old run: caller %q labels %q", r.Caller, r.Labels)
	}
	if got := list(listQuery{Caller: "ci"}); len(got) != 0 {
		t.Errorf("old runs listed for a caller: %v", got)
	}
	name := newRunName()
	if _, err := s.insertRun(ctx, newRun{Row: runRow{Name: name, Kind: "task", Domain: "d", Project: "p", Task: "echo", Version: "v1",
		Phase: controlplane.PhaseQueued, Inputs: `{}`, CreatedAt: 30, Caller: "ci", Labels: `{"ci-job":"7"}`}}); err != nil {
		t.Fatal(err)
	}
	if got := list(listQuery{Labels: [][2]string{{"ci-job", "7"}}, Caller: "ci"}); strings.Join(got, ",") != name {
		t.Errorf("by label and caller: %v, want %s", got, name)
	}
	if got := list(listQuery{Phases: []string{"queued"}}); strings.Join(got, ",") != name+",rold2" {
		t.Errorf("queued: %v", got)
	}
	if rows, err := s.runsIn(ctx, controlplane.PhaseQueued); err != nil || len(rows) != 2 || rows[0].Name != "rold2" {
		t.Errorf("recovery's queued runs: %+v %v, want rold2 first", rows, err)
	}
	s.close()
	s2, err := openStore(path)
	if err != nil {
		t.Fatal(err)
	}
	s2.close()
}
