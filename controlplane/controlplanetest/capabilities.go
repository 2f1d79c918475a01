package controlplanetest

import (
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// capabilities: a family the backend does not declare answers CodeUnimplemented on each of
// its methods, to an accepted caller; a declared family never does (a 501 is not a pass).
// The declared families' behaviour is checked by their own cases (tasks.go, runs.go,
// triggers.go, apps.go and builds.go).
func (s *suite) capabilities(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	for _, m := range methods {
		if m.family == "" {
			continue
		}
		t.Run(m.name, func(t *testing.T) {
			err := m.call(s.ctx(), b, s)
			code := controlplane.CodeOf(err)
			switch {
			case s.caps[m.family] && code == controlplane.CodeUnimplemented:
				t.Errorf("%s: %v: the harness declares %s, but the backend answers unimplemented", m.name, err, m.family)
			case !s.caps[m.family] && code != controlplane.CodeUnimplemented:
				t.Errorf("%s: %v (code %s): %s is not declared, so it must answer unimplemented", m.name, err, code, m.family)
			}
		})
	}
	for _, c := range []Capability{Prefetch} {
		if s.caps[c] {
			t.Errorf("the harness declares %s, and the suite has no %s cases yet: add them before declaring it", c, c)
		}
	}
}
