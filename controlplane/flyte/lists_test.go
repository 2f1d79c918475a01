package flyte_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
)

const procListRuns = "/flyteidl2.workflow.RunService/ListRuns"

// listCall is a ListRuns request as the fake received it.
type listCall struct {
	Request struct {
		Limit   json.Number `json:"limit"`
		Filters []struct {
			Function, Field string
			Values          []string
		} `json:"filters"`
		SortByFields []struct{ Key, Direction string } `json:"sortByFields"`
	} `json:"request"`
	ProjectID *struct{ Organization, Name, Domain string }     `json:"projectId"`
	TaskName  *struct{ Project, Domain, Name string }          `json:"taskName"`
	TaskID    *struct{ Project, Domain, Name, Version string } `json:"taskId"`
}

func lastListCall(t *testing.T, s *flytetest.Server) listCall {
	t.Helper()
	calls := s.CallsTo(procListRuns)
	if len(calls) == 0 {
		t.Fatal("no ListRuns call")
	}
	var c listCall
	if err := json.Unmarshal(calls[len(calls)-1].Body, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLabelsOnTheWire: a caller's labels go to CreateRun under their own prefix, apart from
// the backend's own labels, and come back without it; a key is still fingerprinted with
// them (the same key with other labels is another request).
func TestLabelsOnTheWire(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{})
	b := open(t, s, nil)
	ctx := callerCtx(t)
	r, err := b.RunTask(ctx, controlplane.RunTaskRequest{Task: ref("echo", ""), Inputs: map[string]any{"name": "Ada"}, Labels: map[string]string{"ci-job": "7"}, IdempotencyKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	calls := s.CallsTo("/flyteidl2.workflow.RunService/CreateRun")
	var sent struct {
		RunSpec struct {
			Labels struct{ Values map[string]string } `json:"labels"`
		} `json:"runSpec"`
	}
	if err := json.Unmarshal(calls[len(calls)-1].Body, &sent); err != nil {
		t.Fatal(err)
	}
	if v := sent.RunSpec.Labels.Values; v["label.flyte-webhook/ci-job"] != "7" || v["flyte-webhook/kind"] != "task" || v["ci-job"] != "" {
		t.Errorf("CreateRun's labels %v", v)
	}
	got, err := b.GetRun(ctx, controlplane.RunRef{Name: r.Name})
	if err != nil || len(got.Labels) != 1 || got.Labels["ci-job"] != "7" || got.Caller != "ci" {
		t.Errorf("GetRun: labels %v caller %q (%v)", got.Labels, got.Caller, err)
	}
	_, err = b.RunTask(ctx, controlplane.RunTaskRequest{Task: ref("echo", ""), Inputs: map[string]any{"name": "Ada"}, Labels: map[string]string{"ci-job": "8"}, IdempotencyKey: "k"})
	if controlplane.CodeOf(err) != controlplane.CodeConflict {
		t.Errorf("the same key with other labels: %v, want a conflict", err)
	}
}

// TestListRunsRequest: the filters the control plane can apply are sent to it, in its
// terms: the scope (project, task name, task version), phases by number, the trigger, the
// creation times; newest first.
func TestListRunsRequest(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{})
	b := open(t, s, nil)
	ctx := callerCtx(t)
	since := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	if _, err := b.ListRuns(ctx, controlplane.ListRunsRequest{Phases: []controlplane.Phase{"succeeded", "failed", "recovered"}, Trigger: "nightly", CreatedSince: since, CreatedUntil: since.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	c := lastListCall(t, s)
	if c.ProjectID == nil || c.ProjectID.Name != project || c.ProjectID.Domain != domain || c.TaskName != nil || c.TaskID != nil {
		t.Errorf("scope: %+v %+v %+v, want the default project", c.ProjectID, c.TaskName, c.TaskID)
	}
	filters := fmt.Sprint(c.Request.Filters)
	for _, want := range []string{"{VALUE_IN phase [5 6]}", "{EQUAL trigger_name [nightly]}", "{GREATER_THAN_OR_EQUAL created_at [2026-01-02T03:04:05.000000006Z]}", "{LESS_THAN created_at [2026-01-02T04:04:05.000000006Z]}"} {
		if !strings.Contains(filters, want) {
			t.Errorf("filters %s lack %s", filters, want)
		}
	}
	if len(c.Request.SortByFields) != 1 || c.Request.SortByFields[0].Key != "created_at" || c.Request.SortByFields[0].Direction != "DESCENDING" {
		t.Errorf("sort %+v", c.Request.SortByFields)
	}
	if _, err := b.ListRuns(ctx, controlplane.ListRunsRequest{Task: &controlplane.TaskRef{Domain: domain, Project: project, Name: "echo"}}); err != nil {
		t.Fatal(err)
	}
	if c := lastListCall(t, s); c.TaskName == nil || c.TaskName.Name != "echo" || c.ProjectID != nil {
		t.Errorf("a task's runs: scope %+v %+v", c.TaskName, c.ProjectID)
	}
	if _, err := b.ListRuns(ctx, controlplane.ListRunsRequest{Task: &controlplane.TaskRef{Domain: domain, Project: project, Name: "echo", Version: "v1"}}); err != nil {
		t.Fatal(err)
	}
	if c := lastListCall(t, s); c.TaskID == nil || c.TaskID.Version != "v1" {
		t.Errorf("a task version's runs: scope %+v", c.TaskID)
	}
	// Only phases Flyte 2 does not have: nothing to ask.
	before := len(s.CallsTo(procListRuns))
	if p, err := b.ListRuns(ctx, controlplane.ListRunsRequest{Phases: []controlplane.Phase{"recovered"}}); err != nil || len(p.Runs) != 0 {
		t.Errorf("recovered: %v %v", p, err)
	}
	if len(s.CallsTo(procListRuns)) != before {
		t.Error("a list of recovered runs asked the control plane")
	}
}

// TestListRunsFilteredHereEndsEarly: a page that filters here (by label) reads at most ten
// answers of the control plane, then ends with a token that leads on; the runs are all
// found, each once.
func TestListRunsFilteredHereEndsEarly(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{Quiet: true})
	b := open(t, s, nil)
	ctx := callerCtx(t)
	start := func(labels map[string]string) string {
		r, err := b.RunTask(ctx, controlplane.RunTaskRequest{Task: ref("echo", ""), Inputs: map[string]any{"name": "x"}, Labels: labels})
		if err != nil {
			t.Fatal(err)
		}
		return r.Name
	}
	oldest := start(map[string]string{"find": "me"})
	for range 2100 { // more than ten answers of 200
		start(nil)
	}
	newest := start(map[string]string{"find": "me"})
	req := controlplane.ListRunsRequest{Labels: map[string]string{"find": "me"}, Limit: 5}
	var found []string
	pages := 0
	for {
		calls := s.CallCounts()[procListRuns]
		page, err := b.ListRuns(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if n := s.CallCounts()[procListRuns] - calls; n > 10 {
			t.Fatalf("a page made %d ListRuns calls", n)
		}
		pages++
		for _, r := range page.Runs {
			found = append(found, r.Name)
		}
		if page.NextPageToken == "" {
			break
		}
		req.PageToken = page.NextPageToken
	}
	if strings.Join(found, ",") != newest+","+oldest {
		t.Errorf("found %v, want %s then %s", found, newest, oldest)
	}
	if pages < 2 {
		t.Errorf("%d pages: the first should have ended early", pages)
	}
}

// TestListRunsWithoutCreationTimes: a control plane whose listed runs carry no creation time
// cannot be paged: a 502 saying so, not a wrong page.
func TestListRunsWithoutCreationTimes(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{})
	b := open(t, s, nil)
	s.Inject(procListRuns, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"runs": [{"action": {"id": {"run": {"project": "p", "domain": "d", "name": "rnotime"}, "name": "a0"}, "status": {"phase": "ACTION_PHASE_RUNNING"}}}]}`))
	})
	_, err := b.ListRuns(callerCtx(t), controlplane.ListRunsRequest{})
	if controlplane.CodeOf(err) != controlplane.CodeBadGateway || !strings.Contains(controlplane.MessageOf(err), "startTime") {
		t.Errorf("%v, want bad gateway naming startTime", err)
	}
}
