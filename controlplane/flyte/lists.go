package flyte

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// Lists of runs go through RunService/ListRuns, which lists the runs of one project and
// domain (or of one task, or one task version), filters by phase, trigger and creation time
// and sorts by creation time. What it cannot filter by is filtered here, on the runs it
// answers with: labels (the run's labels come with each run), the caller (the run's
// executedBy, which the control plane records only when it knows who called), and the kinds
// of run the caller may not see.
//
// Pages are this backend's own keyset pages, not the control plane's (whose token is an
// offset in some versions, and an offset moves when runs are added): a page token holds the
// creation time of the last run the page read and the names of the runs read at exactly
// that time, and the next page asks for the runs created at or before it, without those.
// This relies on status.startTime of a listed run being its creation time, which is what
// the control plane sorts and filters by (created_at). A page that filters here reads at
// most maxListCalls answers of the control plane; then it ends early, its token at the last
// run the caller may see that it read, so a token never points at a run they may not see.
//
// A task allowlist cannot be sent (the filters of a ListRuns all hold together; a list of
// tasks would need several of them to be alternatives): under one, a list must name its task
// (CodeInvalidInput otherwise), which the webhook has checked against the allowlist.

// The run labels callers set go under this prefix (a valid Kubernetes label prefix), apart
// from the labels this backend sets for itself (flyte-webhook/...).
const userLabelPrefix = "label.flyte-webhook/"

// userLabels returns the caller's labels among a run's, nil for none.
func userLabels(values map[string]string) map[string]string {
	var out map[string]string
	for k, v := range values {
		if name, ok := strings.CutPrefix(k, userLabelPrefix); ok {
			if out == nil {
				out = map[string]string{}
			}
			out[name] = v
		}
	}
	return out
}

// enrichedIdentity is flyteidl2.common.EnrichedIdentity: a user or an application.
type enrichedIdentity struct {
	User *struct {
		ID struct {
			Subject string `json:"subject"`
		} `json:"id"`
	} `json:"user"`
	Application *struct {
		ID struct {
			Subject string `json:"subject"`
		} `json:"id"`
	} `json:"application"`
}

// subject is the identity's subject, "" when there is none.
func (e *enrichedIdentity) subject() string {
	switch {
	case e == nil:
		return ""
	case e.User != nil:
		return e.User.ID.Subject
	case e.Application != nil:
		return e.Application.ID.Subject
	}
	return ""
}

// taskName is flyteidl2.task.TaskName.
type taskName struct {
	Org     string `json:"org,omitempty"`
	Project string `json:"project,omitempty"`
	Domain  string `json:"domain,omitempty"`
	Name    string `json:"name,omitempty"`
}

// listRunsRequest is flyteidl2.workflow.ListRunsRequest: the list request and one scope.
type listRunsRequest struct {
	Request   listRunsPage `json:"request"`
	ProjectID *projectID   `json:"projectId,omitempty"`
	TaskName  *taskName    `json:"taskName,omitempty"`
	TaskID    *taskID      `json:"taskId,omitempty"`
}

// listRunsPage is flyteidl2.common.ListRequest with sort_by_fields.
type listRunsPage struct {
	Limit        uint32   `json:"limit"`
	Filters      []filter `json:"filters,omitempty"`
	SortByFields []sortBy `json:"sortByFields,omitempty"`
}

type listRunsResponse struct {
	Runs []struct {
		Action action            `json:"action"`
		Labels map[string]string `json:"labels"`
	} `json:"runs"`
	Token string `json:"token"`
}

// The filter functions (flyteidl2.common.Filter.Function), by name.
const (
	fnEqual          = "EQUAL"
	fnGreaterOrEqual = "GREATER_THAN_OR_EQUAL"
	fnLess           = "LESS_THAN"
	fnLessOrEqual    = "LESS_THAN_OR_EQUAL"
	fnValueIn        = "VALUE_IN"
)

// phaseNumbers are flyteidl2.common.ActionPhase's numbers, as the phase filter takes them.
// recovered has none in Flyte 2.
var phaseNumbers = map[controlplane.Phase]string{
	controlplane.PhaseQueued: "1", controlplane.PhaseWaitingForResources: "2", controlplane.PhaseInitializing: "3",
	controlplane.PhaseRunning: "4", controlplane.PhaseSucceeded: "5", controlplane.PhaseFailed: "6",
	controlplane.PhaseAborted: "7", controlplane.PhaseTimedOut: "8", controlplane.PhasePaused: "9",
}

// The bounds of the calls a page makes.
const (
	// maxListPage is the most runs one ListRuns call asks for (the control plane refuses more
	// than 200).
	maxListPage = 200
	// maxListCalls bounds the ListRuns calls of one page that filters runs here.
	maxListCalls = 10
)

// listCursor is a place in the list: before the runs created after At, and after those
// created at At named in Seen. The zero cursor is the top.
type listCursor struct {
	At   time.Time
	Seen []string
}

// listToken is a page token: a cursor for one set of filters.
type listToken struct {
	At   string   `json:"t"`
	Seen []string `json:"s"`
	Key  string   `json:"k"`
}

func encodeListToken(c listCursor, filterKey string) string {
	js, _ := json.Marshal(listToken{At: c.At.UTC().Format(time.RFC3339Nano), Seen: c.Seen, Key: filterKey})
	return base64.RawURLEncoding.EncodeToString(js)
}

var errBadToken = controlplane.Errorf(controlplane.CodeInvalidInput, "page_token: not a page token of this server")

func decodeListToken(token, filterKey string) (listCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return listCursor{}, errBadToken
	}
	var t listToken
	if err := json.Unmarshal(raw, &t); err != nil {
		return listCursor{}, errBadToken
	}
	at, err := time.Parse(time.RFC3339Nano, t.At)
	if err != nil || len(t.Seen) == 0 {
		return listCursor{}, errBadToken
	}
	if t.Key != filterKey {
		return listCursor{}, controlplane.Errorf(controlplane.CodeInvalidInput, "page_token: made for other filters; send the filters of the first page with it")
	}
	return listCursor{At: at, Seen: t.Seen}, nil
}

// ListRuns lists runs through RunService/ListRuns (see the top of this file).
func (b *Backend) ListRuns(ctx context.Context, req controlplane.ListRunsRequest) (controlplane.RunPage, error) {
	leave, err := b.enter()
	if err != nil {
		return controlplane.RunPage{}, err
	}
	defer leave()
	if err := controlplane.CheckLabels(req.Labels); err != nil {
		return controlplane.RunPage{}, err
	}
	if req.Task == nil && req.Visible.RestrictsTasks() {
		return controlplane.RunPage{}, controlplane.Errorf(controlplane.CodeInvalidInput,
			"task: with a task allowlist the flyte backend lists the runs of one task at a time (its ListRuns cannot filter by a list of tasks): name it, task=domain/project/name")
	}
	var cur listCursor
	if req.PageToken != "" {
		if cur, err = decodeListToken(req.PageToken, req.FilterKey()); err != nil {
			return controlplane.RunPage{}, err
		}
	}
	lr := listRunsRequest{Request: listRunsPage{SortByFields: []sortBy{{Key: "created_at", Direction: "DESCENDING"}}}}
	project, domain := b.scope(req.Project, req.Domain)
	switch t := req.Task; {
	case t != nil && t.Version != "":
		lr.TaskID = &taskID{Org: b.cfg.Org, Project: t.Project, Domain: t.Domain, Name: t.Name, Version: t.Version}
		project, domain = t.Project, t.Domain
	case t != nil:
		lr.TaskName = &taskName{Org: b.cfg.Org, Project: t.Project, Domain: t.Domain, Name: t.Name}
		project, domain = t.Project, t.Domain
	default:
		lr.ProjectID = &projectID{Organization: b.cfg.Org, Name: project, Domain: domain}
	}
	var fixed []filter
	if len(req.Phases) > 0 {
		var numbers []string
		for _, p := range req.Phases {
			if n, ok := phaseNumbers[p]; ok && !slices.Contains(numbers, n) {
				numbers = append(numbers, n)
			}
		}
		if len(numbers) == 0 { // only phases Flyte 2 does not have
			return controlplane.RunPage{Runs: []controlplane.Run{}}, nil
		}
		fixed = append(fixed, filter{Function: fnValueIn, Field: "phase", Values: numbers})
	}
	if req.Trigger != "" {
		fixed = append(fixed, filter{Function: fnEqual, Field: "trigger_name", Values: []string{req.Trigger}})
	}
	if !req.CreatedSince.IsZero() {
		fixed = append(fixed, filter{Function: fnGreaterOrEqual, Field: "created_at", Values: []string{req.CreatedSince.UTC().Format(time.RFC3339Nano)}})
	}
	if !req.CreatedUntil.IsZero() {
		fixed = append(fixed, filter{Function: fnLess, Field: "created_at", Values: []string{req.CreatedUntil.UTC().Format(time.RFC3339Nano)}})
	}
	// Filtered here: the caller's labels, the caller, the kinds they may not see. The rest the
	// control plane filtered already (and a run it lists may lack the metadata to check it).
	local := controlplane.ListRunsRequest{Labels: req.Labels, Caller: req.Caller}
	here := len(req.Labels) > 0 || req.Caller != "" || req.Visible.HideKinds || req.Visible.RestrictsTasks()
	size := req.PageSize()
	page := controlplane.RunPage{Runs: []controlplane.Run{}}
	lastVisible := listCursor{} // where a page that ends early resumes: never at a hidden run
	for calls := 0; ; calls++ {
		lr.Request.Filters = fixed
		if !cur.At.IsZero() {
			lr.Request.Filters = append(slices.Clone(fixed), filter{Function: fnLessOrEqual, Field: "created_at", Values: []string{cur.At.UTC().Format(time.RFC3339Nano)}})
		}
		want := size - len(page.Runs) + len(cur.Seen)
		if here {
			want = maxListPage
		}
		lr.Request.Limit = uint32(min(want, maxListPage))
		res, err := call(ctx, b, b.p.listRuns, &lr)
		if err != nil {
			return controlplane.RunPage{}, notFound(err, "project %s or domain %s not found", project, domain)
		}
		consumed := 0
		for _, item := range res.Runs {
			a := &item.Action
			if a.Status.StartTime == nil {
				return controlplane.RunPage{}, controlplane.Errorf(controlplane.CodeBadGateway, "the control plane listed run %q without its creation time (status.startTime), which paging needs", a.ID.Run.Name)
			}
			at := *a.Status.StartTime
			if at.Equal(cur.At) && slices.Contains(cur.Seen, a.ID.Run.Name) {
				consumed++
				continue // read by an earlier page
			}
			if len(page.Runs) == size {
				break // the page is full; this run is the next page's
			}
			consumed++
			if at.Equal(cur.At) {
				cur.Seen = append(cur.Seen, a.ID.Run.Name)
			} else {
				cur = listCursor{At: at, Seen: []string{a.ID.Run.Name}}
			}
			run := b.listedRun(a, item.Labels, project, domain)
			if run.Task.Name == "" && req.Task != nil { // listed by task: it is that task's
				run.Task = *req.Task
			}
			if !req.Visible.Allows(run) {
				continue
			}
			lastVisible = listCursor{At: cur.At, Seen: slices.Clone(cur.Seen)}
			if local.Matches(run) {
				page.Runs = append(page.Runs, run)
			}
		}
		more := len(res.Runs) == int(lr.Request.Limit) || consumed < len(res.Runs)
		switch {
		case !more:
			return page, nil
		case len(page.Runs) == size:
			page.NextPageToken = encodeListToken(cur, req.FilterKey())
			return page, nil
		case calls+1 >= maxListCalls && !lastVisible.At.IsZero():
			page.NextPageToken = encodeListToken(lastVisible, req.FilterKey())
			return page, nil
		}
	}
}

// listedRun maps a run of a ListRuns answer.
func (b *Backend) listedRun(a *action, labels map[string]string, project, domain string) controlplane.Run {
	r := controlplane.Run{
		Name: a.ID.Run.Name, Phase: phaseOf(a.Status.Phase), Attempts: int(a.Status.Attempts),
		Caller: a.Metadata.ExecutedBy.subject(), Trigger: a.Metadata.TriggerName, Labels: userLabels(labels),
	}
	if p, d := a.ID.Run.Project, a.ID.Run.Domain; p != "" && d != "" {
		project, domain = p, d
	}
	r.URL = b.runURL(project, domain, r.Name)
	if m := a.Metadata.Task; m != nil {
		r.Task = controlplane.TaskRef{Domain: m.ID.Domain, Project: m.ID.Project, Name: m.ID.Name, Version: m.ID.Version}
	}
	r.Kind = b.kindOf(labels[labelKind], r.Task)
	if a.Status.StartTime != nil {
		r.CreatedAt = *a.Status.StartTime
	}
	if a.Status.EndTime != nil && r.Phase.Done() {
		r.EndedAt = *a.Status.EndTime
	}
	return r
}
