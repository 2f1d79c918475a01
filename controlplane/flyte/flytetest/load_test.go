package flytetest_test

import (
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
)

// TestCallCounts: every request is counted by procedure, also when Quiet keeps no record of
// it, and a failed one too.
func TestCallCounts(t *testing.T) {
	s := start(t, flytetest.Options{Quiet: true})
	const get = "/flyteidl2.workflow.RunService/GetRunDetails"
	before := s.CallCounts()
	for range 3 {
		post(t, s, get, "application/json", `{"runId":{"project":"p","domain":"d","name":"nope"}}`)
	}
	post(t, s, "/flyteidl2.auth.IdentityService/UserInfo", "application/json", `{}`)
	after := s.CallCounts()
	if got := after[get] - before[get]; got != 3 {
		t.Errorf("GetRunDetails counted %d times, want 3", got)
	}
	if got := after["/flyteidl2.auth.IdentityService/UserInfo"] - before["/flyteidl2.auth.IdentityService/UserInfo"]; got != 1 {
		t.Errorf("UserInfo counted %d times, want 1", got)
	}
	if before["/flyteidl2.task.TaskService/DeployTask"] != 5 {
		t.Errorf("the five fixtures' DeployTask calls: %d", before["/flyteidl2.task.TaskService/DeployTask"])
	}
	if len(s.Calls()) != 0 {
		t.Errorf("Quiet recorded %d calls", len(s.Calls()))
	}
}

// TestCallDelay: an answer takes at least CallDelay (a lower bound only: a timer never fires
// early, so this cannot flake on a busy machine).
func TestCallDelay(t *testing.T) {
	const delay = 30 * time.Millisecond
	s := start(t, flytetest.Options{CallDelay: delay})
	began := time.Now()
	if status, _, answer := post(t, s, "/flyteidl2.auth.IdentityService/UserInfo", "application/json", `{}`); status != 200 {
		t.Fatalf("UserInfo: %d %s", status, answer)
	}
	if took := time.Since(began); took < delay {
		t.Errorf("answered in %s, before the %s delay", took, delay)
	}
}
