package controlplane_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// lastCode is the last code of the closed set. Adding a code means moving this, naming it in
// codeNames and mapping it in impl's statusOf; TestCode fails until its name is there.
const lastCode = controlplane.CodeDeadlineExceeded

// TestCode: every code of the closed set has its own snake_case name, and nothing past the
// last one is named.
func TestCode(t *testing.T) {
	seen := map[string]controlplane.Code{}
	for c := controlplane.CodeInternal; c <= lastCode; c++ {
		name := c.String()
		if name == "" || strings.HasPrefix(name, "code(") || strings.ToLower(name) != name || strings.Contains(name, " ") {
			t.Errorf("code %d has no proper name: %q", int(c), name)
		}
		if prev, dup := seen[name]; dup {
			t.Errorf("codes %d and %d share the name %q", int(prev), int(c), name)
		}
		seen[name] = c
	}
	if got := (lastCode + 1).String(); got != fmt.Sprintf("code(%d)", int(lastCode+1)) {
		t.Errorf("a code past the last one is named %q: move lastCode", got)
	}
	if got := controlplane.Code(-1).String(); got != "code(-1)" {
		t.Errorf("Code(-1) = %q", got)
	}
}

func TestSentinelsMatchTheirCode(t *testing.T) {
	sentinels := map[controlplane.Code]error{
		controlplane.CodeInvalidInput:     controlplane.ErrInvalidInput,
		controlplane.CodeUnauthenticated:  controlplane.ErrUnauthenticated,
		controlplane.CodePermissionDenied: controlplane.ErrPermissionDenied,
		controlplane.CodeNotFound:         controlplane.ErrNotFound,
		controlplane.CodeConflict:         controlplane.ErrConflict,
		controlplane.CodeUnimplemented:    controlplane.ErrUnimplemented,
		controlplane.CodeBadGateway:       controlplane.ErrBadGateway,
		controlplane.CodeUnavailable:      controlplane.ErrUnavailable,
		controlplane.CodeDeadlineExceeded: controlplane.ErrDeadlineExceeded,
	}
	for c := controlplane.CodeInternal + 1; c <= lastCode; c++ {
		s, ok := sentinels[c]
		if !ok {
			t.Errorf("code %s has no sentinel", c)
			continue
		}
		err := fmt.Errorf("wrapped: %w", controlplane.Errorf(c, "something"))
		if !errors.Is(err, s) {
			t.Errorf("errors.Is(%s error, its sentinel) = false", c)
		}
		for other, os := range sentinels {
			if other != c && errors.Is(err, os) {
				t.Errorf("a %s error matches the %s sentinel", c, other)
			}
		}
	}
}

func TestCodeOf(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want controlplane.Code
		msg  string
	}{
		{"nil", nil, controlplane.CodeInternal, ""},
		{"plain", errors.New("disk on fire"), controlplane.CodeInternal, ""},
		{"coded", controlplane.Errorf(controlplane.CodeNotFound, "run %q not found", "r1"), controlplane.CodeNotFound, `run "r1" not found`},
		{"wrapped", fmt.Errorf("local: %w", controlplane.Errorf(controlplane.CodeConflict, "finished")), controlplane.CodeConflict, "finished"},
		{"deadline", fmt.Errorf("call: %w", context.DeadlineExceeded), controlplane.CodeDeadlineExceeded, ""},
		{"internal keeps its message to itself", controlplane.Wrap(controlplane.CodeInternal, errors.New("secret path /var/x"), "cannot read"), controlplane.CodeInternal, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := controlplane.CodeOf(c.err); got != c.want {
				t.Errorf("CodeOf = %s, want %s", got, c.want)
			}
			if got := controlplane.MessageOf(c.err); got != c.msg {
				t.Errorf("MessageOf = %q, want %q", got, c.msg)
			}
		})
	}
}
