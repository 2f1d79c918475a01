package local

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// Lists of runs, newest first, one keyset page at a time.
//
// The order is (created_at, seq) descending: seq breaks ties of creation times, so the order
// is total and a run's place in it never changes. A page token holds the key of the page's
// last run; the next page is the runs below it. A run added later sorts above any page
// already read (or, if its clock was behind, below, but then it is simply new), so paging
// never lists a run twice and never skips one that was there at the first page.
//
// Every filter is an index range scan in that order (TestListPlans checks each plan): one
// index per filter, each ending in (created_at, seq), so the first page and the tenth cost
// the same, and the creation-time bounds narrow the same range. The filter that picks the
// index is, in this order: a label (run_labels), the caller, the trigger, the task, the
// phase; the others are checked on the rows the scan reads. Several phases are one range
// each, merged (UNION ALL, each LIMITed). The task allowlists (Visibility) are checked on
// the rows as well, in the same query, so a page is full whenever enough visible runs exist
// and never says anything about the others.
//
// Labels are kept twice: as a JSON object in runs.labels, which is what a run answers, and
// one row each in run_labels, keyed by (key, value, created_at, seq), which is what a list by
// label scans.

const schemaLists = `
CREATE TABLE IF NOT EXISTS run_labels (
	key        TEXT NOT NULL,
	value      TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	seq        INTEGER NOT NULL,
	run        TEXT NOT NULL,
	PRIMARY KEY (key, value, created_at, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS runs_list ON runs (created_at, seq);
CREATE INDEX IF NOT EXISTS runs_list_task ON runs (domain, project, task, created_at, seq);
CREATE INDEX IF NOT EXISTS runs_list_phase ON runs (phase, created_at, seq);
CREATE INDEX IF NOT EXISTS runs_list_caller ON runs (caller, created_at, seq);
CREATE INDEX IF NOT EXISTS runs_list_trigger ON runs (trigger_name, created_at, seq) WHERE trigger_name != '';
DROP INDEX IF EXISTS runs_by_phase;
`

// migrateLists brings a database made before lists up to date: the runs' caller and labels
// columns (runs stored before have no caller and no labels), the label table and the list
// indexes. runs_by_phase (phase, seq), which recovery used, gives way to runs_list_phase:
// recovery reads few rows and sorts them itself. Building the indexes reads every run once,
// at the first start after the upgrade.
func migrateLists(w *sql.DB) error {
	for _, col := range []struct{ name, def string }{
		{"caller", `TEXT NOT NULL DEFAULT ''`},
		{"labels", `TEXT NOT NULL DEFAULT ''`},
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
	_, err := w.Exec(schemaLists)
	return err
}

const sqlInsertLabel = `INSERT INTO run_labels (key, value, created_at, seq, run) VALUES (?, ?, ?, ?, ?)`

// insertLabels stores the labels of a new run (in the transaction of its insert).
func (s *store) insertLabels(tx *sql.Tx, r runRow, seq int64) error {
	if r.Labels == "" {
		return nil
	}
	labels, err := decodeLabels(r.Labels)
	if err != nil {
		return err
	}
	for k, v := range labels {
		if _, err := s.exec(tx, sqlInsertLabel, k, v, r.CreatedAt, seq, r.Name); err != nil {
			return err
		}
	}
	return nil
}

// encodeLabels is the runs.labels column of labels: "" for none.
func encodeLabels(labels map[string]string) (string, error) {
	if len(labels) == 0 {
		return "", nil
	}
	js, err := json.Marshal(labels) // keys sorted
	return string(js), err
}

func decodeLabels(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	var out map[string]string
	err := json.Unmarshal([]byte(s), &out)
	return out, err
}

// listKey is a run's place in the list order.
type listKey struct {
	CreatedAt, Seq int64
}

// listQuery is a list of runs as the store runs it.
type listQuery struct {
	// Task, when Name is set, is the task (any version when Version is "").
	Task            controlplane.TaskRef
	Phases          []string
	Trigger, Caller string
	Labels          [][2]string // sorted by key
	Since, Until    int64       // unix nanoseconds; 0 unbounded
	After           *listKey    // the last run of the page before
	Limit           int         // rows to read (the page size and one, to know whether more follow)
	Empty           bool        // the time bounds leave nothing: no query needed
	Visible         controlplane.Visibility
}

// upper is the key every run of the page sorts below: the page token's, or (Until, min)
// when that is lower, nil for none.
func (q listQuery) upper() *listKey {
	u := q.After
	if q.Until != 0 && (u == nil || q.Until <= u.CreatedAt) {
		u = &listKey{CreatedAt: q.Until, Seq: math.MinInt64}
	}
	return u
}

// listedRun is a run of a list with its place in the order.
type listedRun struct {
	runRow
	Key listKey
}

// listColumns are the columns a list reads: a run without its inputs and outputs, which can
// be large and which a list does not show.
const listColumns = `r.name, r.kind, r.domain, r.project, r.task, r.version, r.phase, r.attempts, r.error, r.created_at, r.started_at, r.ended_at, r.trigger_name, r.scheduled_at, r.caller, r.labels, r.seq`

func scanListed(sc interface{ Scan(...any) error }) (listedRun, error) {
	var r listedRun
	err := sc.Scan(&r.Name, &r.Kind, &r.Domain, &r.Project, &r.Task, &r.Version, &r.Phase, &r.Attempts, &r.Error,
		&r.CreatedAt, &r.StartedAt, &r.EndedAt, &r.Trigger, &r.ScheduledAt, &r.Caller, &r.Labels, &r.Key.Seq)
	r.Key.CreatedAt = r.CreatedAt
	return r, err
}

// listSQL builds the query of q: its SQL and arguments.
func listSQL(q listQuery) (string, []any) {
	var args []any
	arg := func(v ...any) { args = append(args, v...) }
	// conds are the conditions every row must meet besides the driving filter's.
	var conds []string
	cond := func(c string, v ...any) {
		conds = append(conds, c)
		arg(v...)
	}
	// The page and time bounds on the driving table's (created_at, seq): one upper bound
	// (the page token's key or the creation time bound, whichever is lower), so that the
	// index range starts there.
	bounds := func(t string) {
		if upper := q.upper(); upper != nil {
			cond("("+t+".created_at, "+t+".seq) < (?, ?)", upper.CreatedAt, upper.Seq)
		}
		if q.Since != 0 {
			cond(t+".created_at >= ?", q.Since)
		}
	}
	residual := func(skip string) {
		if q.Task.Name != "" && skip != "task" {
			cond("r.domain = ? AND r.project = ? AND r.task = ?", q.Task.Domain, q.Task.Project, q.Task.Name)
		}
		if q.Task.Version != "" {
			cond("r.version = ?", q.Task.Version)
		}
		if len(q.Phases) > 0 && skip != "phase" {
			cond("r.phase IN ("+placeholders(len(q.Phases))+")", anys(q.Phases)...)
		}
		if q.Trigger != "" && skip != "trigger" {
			cond("r.trigger_name = ?", q.Trigger)
		}
		if q.Caller != "" && skip != "caller" {
			cond("r.caller = ?", q.Caller)
		}
		for i, l := range q.Labels {
			if i == 0 && skip == "label" {
				continue
			}
			cond("EXISTS (SELECT 1 FROM run_labels x WHERE x.key = ? AND x.value = ? AND x.created_at = r.created_at AND x.seq = r.seq)", l[0], l[1])
		}
		if c, v := visibleSQL(q.Visible); c != "" {
			cond(c, v...)
		}
	}
	where := func() string {
		if len(conds) == 0 {
			return ""
		}
		return " WHERE " + strings.Join(conds, " AND ")
	}
	const order = ` ORDER BY created_at DESC, seq DESC LIMIT ?`
	switch {
	case len(q.Labels) > 0:
		// run_labels drives: CROSS JOIN keeps it the outer loop.
		cond("l.key = ? AND l.value = ?", q.Labels[0][0], q.Labels[0][1])
		bounds("l")
		residual("label")
		arg(q.Limit)
		return `SELECT ` + listColumns + ` FROM run_labels l CROSS JOIN runs r ON r.name = l.run` + where() +
			` ORDER BY l.created_at DESC, l.seq DESC LIMIT ?`, args
	case q.Caller != "":
		cond("r.caller = ?", q.Caller)
		bounds("r")
		residual("caller")
		arg(q.Limit)
		return `SELECT ` + listColumns + ` FROM runs r INDEXED BY runs_list_caller` + where() + order, args
	case q.Trigger != "":
		cond("r.trigger_name = ? AND r.trigger_name != ''", q.Trigger)
		bounds("r")
		residual("trigger")
		arg(q.Limit)
		return `SELECT ` + listColumns + ` FROM runs r INDEXED BY runs_list_trigger` + where() + order, args
	case q.Task.Name != "":
		cond("r.domain = ? AND r.project = ? AND r.task = ?", q.Task.Domain, q.Task.Project, q.Task.Name)
		bounds("r")
		residual("task")
		arg(q.Limit)
		return `SELECT ` + listColumns + ` FROM runs r INDEXED BY runs_list_task` + where() + order, args
	case len(q.Phases) > 0:
		// One range per phase, each in order and LIMITed, merged.
		bounds("r")
		residual("phase")
		rest, restArgs := where(), args
		var parts []string
		args = nil
		for _, p := range q.Phases {
			c := " WHERE r.phase = ?"
			if rest != "" {
				c += " AND " + strings.TrimPrefix(rest, " WHERE ")
			}
			parts = append(parts, `SELECT * FROM (SELECT `+listColumns+` FROM runs r INDEXED BY runs_list_phase`+c+order+`)`)
			arg(p)
			arg(restArgs...)
			arg(q.Limit)
		}
		arg(q.Limit)
		return strings.Join(parts, ` UNION ALL `) + order, args
	default:
		bounds("r")
		residual("")
		arg(q.Limit)
		return `SELECT ` + listColumns + ` FROM runs r INDEXED BY runs_list` + where() + order, args
	}
}

// visibleSQL is the condition that a row is a run the caller may see (see
// controlplane.Visibility), "" when every run is.
func visibleSQL(v controlplane.Visibility) (string, []any) {
	if !v.RestrictsTasks() && !v.HideKinds {
		return "", nil
	}
	var args []any
	task := []string{"r.kind = 'task'"}
	for _, a := range v.TaskAllowlists {
		full, projectName, names := a.Entries()
		var alts []string
		if len(names) > 0 {
			alts = append(alts, "r.task IN ("+placeholders(len(names))+")")
			args = append(args, anys(names)...)
		}
		if len(projectName) > 0 {
			alts = append(alts, "(r.project, r.task) IN (VALUES "+strings.Repeat("(?, ?), ", len(projectName)-1)+"(?, ?))")
			for _, e := range projectName {
				args = append(args, e[0], e[1])
			}
		}
		if len(full) > 0 {
			alts = append(alts, "(r.domain, r.project, r.task) IN (VALUES "+strings.Repeat("(?, ?, ?), ", len(full)-1)+"(?, ?, ?))")
			for _, e := range full {
				args = append(args, e[0], e[1], e[2])
			}
		}
		if len(alts) == 0 {
			alts = []string{"0"} // an empty allowlist allows nothing
		}
		task = append(task, "("+strings.Join(alts, " OR ")+")")
	}
	other := "r.kind != 'task'"
	if v.HideKinds {
		other = "0"
		if len(v.Kinds) > 0 {
			other = "r.kind IN (" + placeholders(len(v.Kinds)) + ")"
			for _, k := range v.Kinds {
				args = append(args, string(k))
			}
		}
	}
	return "((" + strings.Join(task, " AND ") + ") OR " + other + ")", args
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func anys[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// listRuns reads the runs of q, in the list order.
func (s *store) listRuns(ctx context.Context, q listQuery) ([]listedRun, error) {
	if q.Empty {
		return nil, nil
	}
	query, args := listSQL(q)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.readErr(err, "list runs")
	}
	defer rows.Close()
	var out []listedRun
	for rows.Next() {
		r, err := scanListed(rows)
		if err != nil {
			return nil, fmt.Errorf("local: list runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr(err, "list runs")
	}
	return out, nil
}

// A page token is base64url of "l1.<created_at>.<seq>.<filter key>".
const tokenPrefix = "l1"

func encodePageToken(k listKey, filterKey string) string {
	raw := tokenPrefix + "." + strconv.FormatInt(k.CreatedAt, 10) + "." + strconv.FormatInt(k.Seq, 10) + "." + filterKey
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

var errBadToken = controlplane.Errorf(controlplane.CodeInvalidInput, "page_token: not a page token of this server")

func decodePageToken(token, filterKey string) (listKey, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return listKey{}, errBadToken
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 4 || parts[0] != tokenPrefix {
		return listKey{}, errBadToken
	}
	var k listKey
	if k.CreatedAt, err = strconv.ParseInt(parts[1], 10, 64); err != nil {
		return listKey{}, errBadToken
	}
	if k.Seq, err = strconv.ParseInt(parts[2], 10, 64); err != nil {
		return listKey{}, errBadToken
	}
	if parts[3] != filterKey {
		return listKey{}, controlplane.Errorf(controlplane.CodeInvalidInput, "page_token: made for other filters; send the filters of the first page with it")
	}
	return k, nil
}

// newListQuery translates a list request (whose labels are checked) into a query reading
// one row more than the page holds.
func newListQuery(req controlplane.ListRunsRequest) (listQuery, error) {
	q := listQuery{Trigger: req.Trigger, Caller: req.Caller, Limit: req.PageSize() + 1, Visible: req.Visible}
	if t := req.Task; t != nil {
		q.Task = *t
	}
	for _, p := range req.Phases {
		if !slices.Contains(q.Phases, string(p)) {
			q.Phases = append(q.Phases, string(p))
		}
	}
	for k, v := range req.Labels {
		q.Labels = append(q.Labels, [2]string{k, v})
	}
	slices.SortFunc(q.Labels, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	// Times are stored as unix nanoseconds, which hold the years 1678 to 2262: a bound
	// beyond them bounds nothing, or everything.
	minTime, maxTime := time.Unix(0, math.MinInt64+1), time.Unix(0, math.MaxInt64)
	if t := req.CreatedSince; !t.IsZero() && t.After(minTime) {
		q.Since = t.UnixNano()
		if t.After(maxTime) {
			q.Empty = true
		}
	}
	if t := req.CreatedUntil; !t.IsZero() && t.Before(maxTime) {
		q.Until = t.UnixNano()
		if !t.After(minTime) {
			q.Empty = true
		}
	}
	if req.PageToken != "" {
		k, err := decodePageToken(req.PageToken, req.FilterKey())
		if err != nil {
			return q, err
		}
		q.After = &k
	}
	return q, nil
}
