package impl_test

import (
	"net/http"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/impl"
)

// TestDuplicateKeys: a body with the same key twice in one object is a 422 naming the key,
// whatever the operation and the depth, and never reaches the backend: the validator and the
// binder keep the last of the two, other readers the first.
func TestDuplicateKeys(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{})
	cases := []struct {
		name, target, body, place string
	}{
		{"run_task input", "/run-task/d/p/greet", `{"x": 1, "y": 2, "x": 3}`, "/x"},
		{"run_task nested input", "/run-task/d/p/greet", `{"cfg": {"mode": "a", "mode": "b"}}`, "/cfg/mode"},
		{"run_task input in a list", "/run-task/d/p/greet", `{"xs": [{"k": 1}, {"k": 1, "k": 2}]}`, "/xs/1/k"},
		{"run_task escaped spelling", "/run-task/d/p/greet", `{"name": "a", "na\u006de": "b"}`, "/name"},
		{"call_app member", "/app/a/call?path=/x", `{"payload": {}, "payload": {"x": 1}}`, "/payload"},
		{"call_app payload", "/app/a/call?path=/x", `{"payload": {"x": 1, "x": 2}}`, "/payload/x"},
		{"build_image member", "/build-image", `{"pip_packages": ["a"], "pip_packages": ["b"]}`, "/pip_packages"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.call(t, "POST", c.target, c.body, nil)
			expectStatus(t, r, http.StatusUnprocessableEntity)
			e := firstError(t, r)
			if e["in"] != "body" || e["name"] != c.place || e["reason"] != "duplicate key" {
				t.Errorf("errors[0] = %v, want body %s: duplicate key", e, c.place)
			}
		})
	}
	for _, call := range []string{"RunTask", "CallApp", "BuildImage"} {
		if s.fake.called(call) {
			t.Errorf("a body with a duplicate key reached the backend (%s)", call)
		}
	}
	// Control: equal keys in different objects are fine.
	r := s.call(t, "POST", "/run-task/d/p/greet", `{"a": {"k": 1}, "b": {"k": 2}, "k": 3}`, nil)
	expectStatus(t, r, http.StatusOK)
}
