package impl_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// TestGetRunOfATrigger: get_run answers the trigger that started a run and the schedule time
// it fired for (in UTC), and leaves both out for a run no trigger started. Every answer is
// validated against openapi.yaml (call).
func TestGetRunOfATrigger(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{})
	cet := time.FixedZone("CET", 3600)
	s.fake.mu.Lock()
	s.fake.runs["r-triggered"] = controlplane.Run{Name: "r-triggered", Kind: controlplane.KindTask,
		Task:  controlplane.TaskRef{Domain: "development", Project: "flytesnacks", Name: "greet", Version: "v1"},
		Phase: controlplane.PhaseSucceeded, URL: "http://x/run/r-triggered", Attempts: 1,
		CreatedAt: time.Date(2026, 11, 26, 3, 0, 1, 0, time.UTC), Trigger: "nightly", ScheduledAt: time.Date(2026, 11, 26, 4, 0, 0, 0, cet)}
	s.fake.mu.Unlock()
	for i := range 2 { // the second answer comes from the cache of finished runs
		r := s.call(t, "GET", "/run/r-triggered", nil, nil)
		expectStatus(t, r, http.StatusOK)
		if r.str("trigger") != "nightly" || r.str("scheduled_at") != "2026-11-26T03:00:00Z" || r.str("name") != "r-triggered" {
			t.Errorf("answer %d: %v, want trigger nightly, scheduled_at 2026-11-26T03:00:00Z", i, r.JSON)
		}
	}
	r := s.call(t, "GET", "/run/r-done", nil, nil)
	expectStatus(t, r, http.StatusOK)
	for _, k := range []string{"trigger", "scheduled_at"} {
		if _, ok := r.JSON[k]; ok {
			t.Errorf("a run no trigger started: %s = %v", k, r.JSON[k])
		}
	}
}
