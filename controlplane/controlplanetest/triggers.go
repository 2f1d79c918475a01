package controlplanetest

import (
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// triggers: switching the fixture trigger (echo's "nightly", initially inactive) on and off,
// and refusing triggers that do not exist. Firing is backend-specific (the local backend
// tests it with an injected clock).
func (s *suite) triggers(t *testing.T) {
	t.Run("Activate", s.triggerActivate)
	t.Run("Deactivate", s.triggerDeactivate)
	t.Run("Idempotent", s.triggerIdempotent)
	t.Run("NotFound", s.triggerNotFound)
}

func (s *suite) setTrigger(t *testing.T, b controlplane.Backend, task, name string, active bool) controlplane.Trigger {
	t.Helper()
	tr, err := b.SetTriggerActive(s.ctx(), controlplane.SetTriggerActiveRequest{
		Trigger: controlplane.TriggerRef{TaskName: task, Name: name}, Active: active})
	if err != nil {
		t.Fatalf("SetTriggerActive %s/%s active=%v: %v", task, name, active, err)
	}
	if tr.TaskName != task || tr.Name != name {
		t.Fatalf("SetTriggerActive %s/%s = %+v: want the trigger it was asked about", task, name, tr)
	}
	return tr
}

func (s *suite) triggerActivate(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	if tr := s.setTrigger(t, b, "echo", "nightly", true); !tr.Active {
		t.Errorf("activated: %+v, want active", tr)
	}
}

func (s *suite) triggerDeactivate(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	s.setTrigger(t, b, "echo", "nightly", true)
	if tr := s.setTrigger(t, b, "echo", "nightly", false); tr.Active {
		t.Errorf("deactivated: %+v, want inactive", tr)
	}
	if tr := s.setTrigger(t, b, "echo", "nightly", true); !tr.Active {
		t.Errorf("activated again: %+v, want active", tr)
	}
}

// triggerIdempotent: switching a trigger to the state it has is not an error. The fixture
// trigger starts inactive, so the first deactivation is such a switch.
func (s *suite) triggerIdempotent(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	for i, active := range []bool{false, false, true, true, false} {
		if tr := s.setTrigger(t, b, "echo", "nightly", active); tr.Active != active {
			t.Fatalf("switch %d to active=%v: %+v", i, active, tr)
		}
	}
}

func (s *suite) triggerNotFound(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	for _, c := range []struct{ task, name string }{
		{"echo", "no-such-trigger"},
		{"no-such-task", "nightly"},
		{"sum", "nightly"}, // a task that exists, without that trigger
	} {
		for _, active := range []bool{true, false} {
			_, err := b.SetTriggerActive(s.ctx(), controlplane.SetTriggerActiveRequest{
				Trigger: controlplane.TriggerRef{TaskName: c.task, Name: c.name}, Active: active})
			wantCode(t, err, controlplane.CodeNotFound, c.name)
		}
	}
}
