package impl_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity/oidctest"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// listed returns the run names of a list_runs answer, in order.
func listed(t *testing.T, r response) []string {
	t.Helper()
	runs, ok := r.JSON["runs"].([]any)
	if !ok {
		t.Fatalf("no runs in %s", r.Body)
	}
	var out []string
	for _, x := range runs {
		out = append(out, x.(map[string]any)["name"].(string))
	}
	return out
}

// TestListRunsFilters: each query parameter reaches the backend as the filter it names.
func TestListRunsFilters(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{})
	q := url.Values{
		"task": {"development/flytesnacks/greet"}, "task_version": {"v1"},
		"phase":   {"failed", "timed_out"},
		"trigger": {"nightly"}, "caller": {"ci"},
		"label":         {"ci-job=1234", "team=data"},
		"created_since": {"2026-11-01T00:00:00Z"}, "created_until": {"2026-12-01T00:00:00+01:00"},
		"limit": {"7"}, "project": {"p"}, "domain": {"d"},
	}
	expectStatus(t, s.call(t, "GET", "/runs?"+q.Encode(), nil, nil), http.StatusOK)
	got, _ := s.fake.got("ListRuns").(controlplane.ListRunsRequest)
	want := controlplane.ListRunsRequest{
		Task:    &controlplane.TaskRef{Domain: "development", Project: "flytesnacks", Name: "greet", Version: "v1"},
		Phases:  []controlplane.Phase{controlplane.PhaseFailed, controlplane.PhaseTimedOut},
		Trigger: "nightly", Caller: "ci", Labels: map[string]string{"ci-job": "1234", "team": "data"},
		CreatedSince: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), CreatedUntil: time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC),
		Limit: 7, Project: "p", Domain: "d",
	}
	if got.Task == nil || *got.Task != *want.Task || !slices.Equal(got.Phases, want.Phases) || got.Trigger != want.Trigger ||
		got.Caller != want.Caller || fmt.Sprint(got.Labels) != fmt.Sprint(want.Labels) || !got.CreatedSince.Equal(want.CreatedSince) ||
		!got.CreatedUntil.Equal(want.CreatedUntil) || got.Limit != 7 || got.Project != "p" || got.Domain != "d" {
		t.Errorf("the backend got %+v\nwant %+v", got, want)
	}
	if got.Visible.RestrictsTasks() || got.Visible.HideKinds {
		t.Errorf("an unrestricted webhook serving every operation restricted the list: %+v", got.Visible)
	}
}

// TestListRunsRefusals: bad filters are refused before the backend, naming what was wrong.
func TestListRunsRefusals(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{TaskAllowlist: &[]string{"flytesnacks/greet"}})
	cases := []struct {
		name, query string
		status      int
		mention     string
	}{
		{"version without a task", "task_version=v1", 400, "task_version"},
		{"a label key twice", "label=a=1&label=a=2", 400, "given twice"},
		{"a label that is not key=value", "label=ci-job", 422, "label"},
		{"an upper-case label key", "label=Team=x", 422, "label"},
		{"seventeen labels", strings.Repeat("label=k=v&", 17), 422, "label"},
		{"a limit too large", "limit=501", 422, "limit"},
		{"a limit of zero", "limit=0", 422, "limit"},
		{"an unknown phase", "phase=done", 422, "phase"},
		{"a task of two parts", "task=flytesnacks/greet", 422, "task"},
		{"a bad time", "created_since=yesterday", 422, "created_since"},
		{"a task outside the allowlist", "task=development/other/greet", 403, "allowlist"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.fake.count("ListRuns")
			r := s.call(t, "GET", "/runs?"+c.query, nil, nil)
			expectStatus(t, r, c.status)
			if !strings.Contains(string(r.Body), c.mention) {
				t.Errorf("the answer does not mention %q: %s", c.mention, r.Body)
			}
			if s.fake.count("ListRuns") != before {
				t.Error("a refused list reached the backend")
			}
		})
	}
}

// TestListRunsVisibility: a list shows exactly what get_run would show the same caller:
// tasks inside the allowlist, builds and prefetches when their operations are enabled.
func TestListRunsVisibility(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  impl.Config
		want []string
	}{
		// The fake's order: newest first, then by name, descending.
		{"everything", impl.Config{}, []string{"r-running", "r-done", "r-secret", "r-prefetch", "r-build"}},
		{"task allowlist", impl.Config{TaskAllowlist: &[]string{"greet"}}, []string{"r-running", "r-done", "r-prefetch", "r-build"}},
		{"no prefetch here", impl.Config{EndpointGroups: []string{"run", "build"}}, []string{"r-running", "r-done", "r-secret", "r-build"}},
		{"neither builds nor prefetch", impl.Config{EndpointGroups: []string{"run"}, TaskAllowlist: &[]string{"vault/rotate"}}, []string{"r-secret"}},
		{"an empty allowlist", impl.Config{EndpointGroups: []string{"run"}, TaskAllowlist: &[]string{}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, c.cfg)
			s.fake.mu.Lock()
			s.fake.runs["r-build"] = controlplane.Run{Name: "r-build", Kind: controlplane.KindImageBuild, Phase: controlplane.PhaseRunning, URL: "http://x/run/r-build"}
			s.fake.mu.Unlock()
			r := s.call(t, "GET", "/runs", nil, nil)
			expectStatus(t, r, http.StatusOK)
			if got := listed(t, r); !slices.Equal(got, c.want) {
				t.Errorf("listed %v, want %v", got, c.want)
			}
			// What get_run answers for each run agrees with the list.
			for _, name := range []string{"r-secret", "r-running", "r-prefetch", "r-done", "r-build"} {
				st := s.call(t, "GET", "/run/"+name, nil, nil).Status
				if in := slices.Contains(c.want, name); in != (st == http.StatusOK) {
					t.Errorf("%s: listed %v, but get_run answers %d", name, in, st)
				}
			}
		})
	}
}

// TestListRunsCallerAllowlist: the allowlists a token's claims select narrow the list too.
func TestListRunsCallerAllowlist(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	v := ciVerifier(t, iss)
	deployer := ciToken(t, iss, "org/deployer")
	waitReady(t, v, deployer)
	b := &verifyingBackend{fakeBackend: newFake(), v: v}
	s := newServerWith(t, impl.Config{}, b, b.fakeBackend)
	r := s.call(t, "GET", "/runs", nil, map[string]string{"Authorization": deployer})
	expectStatus(t, r, http.StatusOK)
	if got := listed(t, r); !slices.Equal(got, []string{"r-running", "r-done", "r-prefetch"}) {
		t.Errorf("the deployer's token (flytesnacks/greet only) listed %v", got)
	}
	expectStatus(t, s.call(t, "GET", "/runs?task=production/vault/rotate", nil, map[string]string{"Authorization": deployer}), http.StatusForbidden)
}

// TestListRunsPaging: next_page_token leads through the list; a token with other filters
// is the backend's 400.
func TestListRunsPaging(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{})
	s.fake.mu.Lock()
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range 7 {
		name := fmt.Sprintf("r-page-%d", i)
		s.fake.runs[name] = controlplane.Run{Name: name, Kind: controlplane.KindTask, Phase: controlplane.PhaseSucceeded, URL: "http://x/run/" + name,
			Task: controlplane.TaskRef{Domain: "development", Project: "flytesnacks", Name: "page"}, CreatedAt: base.Add(time.Duration(i) * time.Minute)}
	}
	s.fake.mu.Unlock()
	var all []string
	token := ""
	for pages := 0; ; pages++ {
		q := "/runs?task=development/flytesnacks/page&limit=3"
		if token != "" {
			q += "&page_token=" + url.QueryEscape(token)
		}
		r := s.call(t, "GET", q, nil, nil)
		expectStatus(t, r, http.StatusOK)
		all = append(all, listed(t, r)...)
		if token = r.str("next_page_token"); token == "" {
			break
		}
		if pages > 5 {
			t.Fatal("the pages never end")
		}
		if pages == 0 {
			other := s.call(t, "GET", "/runs?limit=3&page_token="+url.QueryEscape(token), nil, nil)
			expectStatus(t, other, http.StatusBadRequest)
		}
	}
	want := []string{"r-page-6", "r-page-5", "r-page-4", "r-page-3", "r-page-2", "r-page-1", "r-page-0"}
	if !slices.Equal(all, want) {
		t.Errorf("pages listed %v, want %v", all, want)
	}
}

// TestRunLabelsAndMetadata: run_task's labels reach the backend; get_run and list_runs
// answer the run's kind, task, caller and labels.
func TestRunLabelsAndMetadata(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{})
	expectStatus(t, s.call(t, "POST", "/run-task/development/flytesnacks/greet?label=ci-job=1234&label=team=data", map[string]any{}, nil), http.StatusOK)
	req, _ := s.fake.got("RunTask").(controlplane.RunTaskRequest)
	if len(req.Labels) != 2 || req.Labels["ci-job"] != "1234" || req.Labels["team"] != "data" {
		t.Errorf("the backend got labels %v", req.Labels)
	}
	expectStatus(t, s.call(t, "POST", "/run-task/development/flytesnacks/greet?label=ci-job=1&label=ci-job=2", map[string]any{}, nil), http.StatusBadRequest)
	expectStatus(t, s.call(t, "POST", "/run-task/development/flytesnacks/greet?label=ci_job", map[string]any{}, nil), http.StatusUnprocessableEntity)

	s.fake.mu.Lock()
	run := s.fake.runs["r-done"]
	run.Caller, run.Labels = "ci", map[string]string{"ci-job": "1234"}
	s.fake.runs["r-done"] = run
	s.fake.mu.Unlock()
	for _, target := range []string{"/run/r-done", "/runs?label=ci-job=1234"} {
		r := s.call(t, "GET", target, nil, nil)
		expectStatus(t, r, http.StatusOK)
		got := r.JSON
		if runs, ok := r.JSON["runs"].([]any); ok {
			if len(runs) != 1 {
				t.Fatalf("%s listed %d runs", target, len(runs))
			}
			got = runs[0].(map[string]any)
		}
		task, _ := got["task"].(map[string]any)
		labels, _ := got["labels"].(map[string]any)
		if got["kind"] != "task" || got["caller"] != "ci" || labels["ci-job"] != "1234" ||
			task["domain"] != "development" || task["project"] != "flytesnacks" || task["name"] != "greet" || task["version"] != "v1" {
			t.Errorf("%s: %v", target, got)
		}
	}
}
