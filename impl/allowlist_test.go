package impl_test

import (
	"net/http"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/impl"
)

func TestTaskAllowlistMatching(t *testing.T) {
	t.Parallel()
	a, err := impl.ParseTaskAllowlist([]string{"production/my-project/allowed-task", "utility-task", "proj/shared"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		domain, project, name string
		want                  bool
	}{
		{"production", "my-project", "allowed-task", true},
		{"development", "my-project", "allowed-task", false},
		{"production", "other", "allowed-task", false},
		{"any", "where", "utility-task", true},
		{"d", "proj", "shared", true},
		{"other-domain", "proj", "shared", true},
		{"d", "proj2", "shared", false},
		{"d", "p", "Utility-Task", false},
		{"production/my-project", "allowed-task", "", false},
		{"d", "p", "utility-task/x", false},
	}
	for _, c := range cases {
		if got := a.Allows(c.domain, c.project, c.name); got != c.want {
			t.Errorf("Allows(%q, %q, %q) = %v, want %v", c.domain, c.project, c.name, got, c.want)
		}
	}
}

func TestTriggerAllowlistMatching(t *testing.T) {
	t.Parallel()
	a, err := impl.ParseTriggerAllowlist([]string{"nightly-task/nightly", "hourly"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		task, trigger string
		want          bool
	}{
		{"nightly-task", "nightly", true},
		{"other-task", "nightly", false},
		{"any-task", "hourly", true},
		{"nightly-task", "hourly", true},
		{"nightly", "nightly-task", false},
	}
	for _, c := range cases {
		if got := a.Allows(c.task, c.trigger); got != c.want {
			t.Errorf("Allows(%q, %q) = %v, want %v", c.task, c.trigger, got, c.want)
		}
	}
}

// TestAllowlistLayer: through the whole stack, for every operation an allowlist covers,
// including the run endpoints checked against the run's task.
func TestAllowlistLayer(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{
		Name:             "ops-webhook",
		TaskAllowlist:    &[]string{"flytesnacks/greet", "sum"},
		AppAllowlist:     &[]string{"my-app"},
		TriggerAllowlist: &[]string{"nightly-task/nightly"},
	})
	cases := []struct {
		name, method, target string
		status               int
	}{
		{"run allowed task", "POST", "/run-task/development/flytesnacks/greet", 200},
		{"run allowed by name", "POST", "/run-task/any/where/sum", 200},
		{"run other project", "POST", "/run-task/development/other/greet", 403},
		{"get task outside", "GET", "/task/production/vault/rotate", 403},
		{"get_run of allowed task", "GET", "/run/r-running", 200},
		{"get_run of other task", "GET", "/run/r-secret", 403},
		{"get_run_io of other task", "GET", "/run/r-secret/io", 403},
		{"abort run of other task", "POST", "/run/r-secret/abort", 403},
		{"get_run unknown still 404", "GET", "/run/r-nope", 404},
		{"app allowed", "GET", "/app/my-app", 200},
		{"app outside", "GET", "/app/other-app", 403},
		{"activate outside", "POST", "/app/other-app/activate", 403},
		{"call outside", "POST", "/app/other-app/call?path=/", 403},
		{"self-reference beats allowlist", "POST", "/app/ops-webhook/activate", 400},
		{"trigger allowed", "POST", "/trigger/nightly-task/nightly/activate", 200},
		{"trigger of other task", "POST", "/trigger/other-task/nightly/deactivate", 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.call(t, c.method, c.target, map[string]any{}, nil)
			if c.method == "GET" {
				r = s.call(t, c.method, c.target, nil, nil)
			}
			expectStatus(t, r, c.status)
		})
	}
	if s.fake.called("AbortRun:Aborted via webhook API") {
		t.Fatal("abort of a run outside the allowlist reached the backend")
	}
}

// TestEmptyAllowlistAllowsNothing: set but empty is not the same as unset.
func TestEmptyAllowlistAllowsNothing(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{TaskAllowlist: &[]string{}, AppAllowlist: &[]string{}})
	expectStatus(t, s.call(t, "POST", "/run-task/d/p/greet", map[string]any{}, nil), http.StatusForbidden)
	expectStatus(t, s.call(t, "GET", "/app/a", nil, nil), http.StatusForbidden)
	expectStatus(t, s.call(t, "POST", "/trigger/t/n/activate", nil, nil), http.StatusOK)
}

// TestAllowlistZeroValue: an allowlist built without entries allows nothing.
func TestAllowlistZeroValue(t *testing.T) {
	t.Parallel()
	var tasks impl.TaskAllowlist
	var triggers impl.TriggerAllowlist
	if tasks.Allows("d", "p", "n") || triggers.Allows("t", "n") {
		t.Fatal("a zero allowlist allowed something")
	}
}
