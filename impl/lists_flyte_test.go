package impl_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/impl"
)

// TestFlyteListRuns: lists through the whole HTTP stack over the flyte backend and the
// in-test control plane: by label and caller (filtered by the backend), by task and phase
// (by the control plane), page by page; under a task allowlist a list names its task.
func TestFlyteListRuns(t *testing.T) {
	t.Parallel()
	s := newFlyteStack(t, stackOptions{}, nil)
	start := func(target string, body any, headers map[string]string) string {
		t.Helper()
		r := s.call(t, "POST", target, body, headers)
		expectStatus(t, r, http.StatusOK)
		return r.str("name")
	}
	job1 := start("/run-task/development/flytesnacks/echo?label=ci-job=1234", map[string]any{"name": "a"}, nil)
	job2 := start("/run-task/development/flytesnacks/sum?label=ci-job=1234", map[string]any{"a": 1, "b": 2}, nil)
	theirs := start("/run-task/development/flytesnacks/echo", map[string]any{"name": "b"}, map[string]string{"Authorization": "Bearer " + flyteOther})
	failed := start("/run-task/development/flytesnacks/fail", nil, nil)
	for _, n := range []string{job1, job2, theirs, failed} {
		s.waitRun(t, n)
	}
	list := func(query string) []string {
		t.Helper()
		for range 100 { // a listed run's phase lags get_run's for a moment (StatusLag)
			r := s.call(t, "GET", "/runs?"+query, nil, nil)
			expectStatus(t, r, http.StatusOK)
			if got := listed(t, r); !strings.Contains(query, "phase") || len(got) > 0 {
				return got
			}
			time.Sleep(10 * time.Millisecond)
		}
		return nil
	}
	for query, want := range map[string][]string{
		"label=ci-job=1234":                   {job2, job1},
		"task=development/flytesnacks/echo":   {theirs, job1},
		"caller=dashboard":                    {theirs},
		"phase=failed":                        {failed},
		"label=ci-job=1234&caller=ci&limit=1": {job2},
		"":                                    {failed, theirs, job2, job1},
	} {
		if got := list(query); !slices.Equal(got, want) {
			t.Errorf("%q listed %v, want %v", query, got, want)
		}
	}
	r := s.call(t, "GET", "/runs?label=ci-job=1234&limit=1", nil, nil)
	next := s.call(t, "GET", "/runs?label=ci-job=1234&limit=1&page_token="+url.QueryEscape(r.str("next_page_token")), nil, nil)
	expectStatus(t, next, http.StatusOK)
	if got := listed(t, next); !slices.Equal(got, []string{job1}) {
		t.Errorf("page 2 by label: %v", got)
	}
	expectStatus(t, s.call(t, "GET", "/runs?caller=ci&page_token="+url.QueryEscape(r.str("next_page_token")), nil, nil), http.StatusBadRequest)

	narrow := newFlyteStack(t, stackOptions{impl: impl.Config{TaskAllowlist: &[]string{"flytesnacks/echo"}}}, nil)
	r = narrow.call(t, "GET", "/runs", nil, nil)
	expectStatus(t, r, http.StatusBadRequest)
	if !strings.Contains(r.str("detail"), "task=domain/project/name") {
		t.Errorf("detail %q does not say to name the task", r.str("detail"))
	}
	expectStatus(t, narrow.call(t, "GET", "/runs?task=development/flytesnacks/echo", nil, nil), http.StatusOK)
	expectStatus(t, narrow.call(t, "GET", "/runs?task=development/flytesnacks/sum", nil, nil), http.StatusForbidden)
}
