package impl

import (
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// TestGuardFailsClosed: an operation name start-up resolved no policy for (the generated
// code and the spec disagreeing) is refused with an internal error, never passed through.
func TestGuardFailsClosed(t *testing.T) {
	t.Parallel()
	s := &Server{guards: map[string]*opGuard{}}
	h := s.guard(func(*ginContext, any) (any, error) {
		t.Fatal("an operation without a policy reached its handler")
		return nil, nil
	}, "ListRuns")
	_, err := h(nil, nil)
	if err == nil || controlplane.CodeOf(err) != controlplane.CodeInternal {
		t.Fatalf("err = %v, want an internal error", err)
	}
}

// TestPolicyParams: no policy reads more path parameters than the guard has room for, and
// one that reads any has a check (a check may read none: run_list reads the query).
func TestPolicyParams(t *testing.T) {
	t.Parallel()
	for name, p := range policies {
		if len(p.params) > maxPolicyParams {
			t.Errorf("policy %s reads %d parameters, at most %d fit", name, len(p.params), maxPolicyParams)
		}
		if p.check == nil && len(p.params) > 0 {
			t.Errorf("policy %s: parameters need a check", name)
		}
	}
}
