package impl_test

import (
	"net/http"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// TestScopeParameters: the optional project and domain query parameters of the run, prefetch
// run and trigger endpoints reach the backend in the reference it is given (the Flyte backend
// looks runs and triggers up there); without them the reference leaves both empty (the
// backend's defaults).
func TestScopeParameters(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{})
	const q = "?project=analytics&domain=staging"
	run := controlplane.RunRef{Name: "r-running", Project: "analytics", Domain: "staging"}
	prefetch := controlplane.RunRef{Name: "r-prefetch", Project: "analytics", Domain: "staging"}
	cases := []struct {
		name, method, target, kept string
		want                       any
	}{
		{"get_run", http.MethodGet, "/run/r-running" + q, "GetRunRef", run},
		{"get_run_io", http.MethodGet, "/run/r-running/io" + q, "GetRunIORef", run},
		{"abort_run", http.MethodPost, "/run/r-running/abort" + q, "AbortRunRef", run},
		{"get_prefetch_hf_model", http.MethodGet, "/prefetch/hf-model/r-prefetch" + q, "GetRunRef", prefetch},
		{"get_prefetch_hf_model_io", http.MethodGet, "/prefetch/hf-model/r-prefetch/io" + q, "GetRunIORef", prefetch},
		{"abort_prefetch_hf_model", http.MethodPost, "/prefetch/hf-model/r-prefetch/abort" + q, "AbortRunRef", prefetch},
		{"activate_trigger", http.MethodPost, "/trigger/greet/hourly/activate" + q, "TriggerRef",
			controlplane.TriggerRef{TaskName: "greet", Name: "hourly", Project: "analytics", Domain: "staging"}},
		{"deactivate_trigger", http.MethodPost, "/trigger/greet/hourly/deactivate", "TriggerRef",
			controlplane.TriggerRef{TaskName: "greet", Name: "hourly"}},
		{"get_run, no scope", http.MethodGet, "/run/r-done", "GetRunRef", controlplane.RunRef{Name: "r-done"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := s.call(t, c.method, c.target, nil, nil)
			if res.Status != http.StatusOK {
				t.Fatalf("%s %s: %d %s", c.method, c.target, res.Status, res.Body)
			}
			if got := s.fake.got(c.kept); got != c.want {
				t.Errorf("the backend got %+v, want %+v", got, c.want)
			}
		})
	}
	// A scope that does not fit the parameter's schema is the caller's mistake, before auth.
	if res := s.call(t, http.MethodGet, "/run/r-running?project=", nil, map[string]string{"Authorization": ""}); res.Status != http.StatusUnprocessableEntity {
		t.Errorf("empty project: %d, want 422", res.Status)
	}
}
