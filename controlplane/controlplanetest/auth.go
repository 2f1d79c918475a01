package controlplanetest

import (
	"fmt"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// auth: the backend knows who calls, and refuses anyone it does not know on every method,
// before anything else (so a refused caller cannot tell what exists or what is served).
func (s *suite) auth(t *testing.T) {
	t.Run("Me", func(t *testing.T) {
		t.Parallel()
		b := s.h.New(t)
		for _, c := range []Caller{s.h.Caller, s.h.OtherCaller} {
			id, err := b.Me(s.as(c))
			if err != nil {
				t.Fatalf("Me as %s: %v", c.Subject, err)
			}
			if id.Subject != c.Subject || id.Name == "" {
				t.Errorf("Me as %s = %+v, want that subject and a name", c.Subject, id)
			}
		}
	})
	t.Run("Unauthenticated", func(t *testing.T) {
		t.Parallel()
		if len(s.h.BadCredentials) == 0 {
			t.Fatal("controlplanetest: the harness lists no bad credentials")
		}
		b := s.h.New(t)
		for i, bad := range s.h.BadCredentials {
			ctx := controlplane.WithCredentials(t.Context(), bad)
			for _, m := range methods {
				t.Run(fmt.Sprintf("%s/bad%d", m.name, i), func(t *testing.T) {
					err := m.call(ctx, b, s)
					if controlplane.CodeOf(err) != controlplane.CodeUnauthenticated {
						t.Errorf("%s with bad credentials #%d (%s): %v (code %s), want unauthenticated",
							m.name, i, describe(bad), err, controlplane.CodeOf(err))
					}
				})
			}
		}
	})
}

// describe says what kind of bad credentials these are without printing them.
func describe(c controlplane.Credentials) string {
	switch {
	case c.Empty():
		return "none"
	case c.Authorization != "" && c.Cookie != "":
		return "authorization and cookie"
	case c.Authorization != "":
		return "authorization"
	default:
		return "cookie"
	}
}
