package flyte_test

import (
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
)

func TestSetTriggerActive(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{})
	s.AddTrigger(project, domain, "echo", "nightly", false)
	b := open(t, s, nil)
	ctx := callerCtx(t)
	nightly := controlplane.TriggerRef{TaskName: "echo", Name: "nightly"}
	for _, active := range []bool{true, false, true} {
		tr, err := b.SetTriggerActive(ctx, controlplane.SetTriggerActiveRequest{Trigger: nightly, Active: active})
		if err != nil {
			t.Fatal(err)
		}
		if tr != (controlplane.Trigger{TaskName: "echo", Name: "nightly", Active: active}) {
			t.Errorf("answer %+v", tr)
		}
		if on, _ := s.TriggerActive(project, domain, "echo", "nightly"); on != active {
			t.Errorf("the trigger is %v, want %v", on, active)
		}
	}
	upd := body(t, s.CallsTo(pUpdateTrigger)[1])
	names, _ := upd["names"].([]any)
	if len(names) != 1 || at(names[0], "taskName") != "echo" || at(names[0], "name") != "nightly" || at(names[0], "project") != project ||
		at(upd, "active") != false {
		t.Errorf("UpdateTriggers body %v", upd)
	}

	// UpdateTriggers says nothing of an unknown trigger: it is found missing first.
	before := len(s.CallsTo(pUpdateTrigger))
	for _, ref := range []controlplane.TriggerRef{{TaskName: "echo", Name: "hourly"}, {TaskName: "sum", Name: "nightly"}} {
		_, err := b.SetTriggerActive(ctx, controlplane.SetTriggerActiveRequest{Trigger: ref, Active: true})
		if controlplane.CodeOf(err) != controlplane.CodeNotFound {
			t.Errorf("%+v: %v, want not found", ref, err)
		}
	}
	if n := len(s.CallsTo(pUpdateTrigger)); n != before {
		t.Errorf("UpdateTriggers was sent for unknown triggers")
	}
	bad := controlplane.WithCredentials(t.Context(), controlplane.Credentials{Authorization: "Bearer nope"})
	if _, err := b.SetTriggerActive(bad, controlplane.SetTriggerActiveRequest{Trigger: nightly}); controlplane.CodeOf(err) != controlplane.CodeUnauthenticated {
		t.Errorf("bad credentials: %v", err)
	}
}
