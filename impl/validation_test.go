package impl_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/impl"
)

// TestRequestShape: requests that don't fit the spec get a 422 naming where and what, before
// auth (so even without credentials) and without reaching the backend.
func TestRequestShape(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{})
	cases := []struct {
		name, method, target string
		body                 any
		in, field            string
	}{
		{"run_task body is a list", "POST", "/run-task/d/p/greet", `[1, 2]`, "body", ""},
		{"run_task body is a string", "POST", "/run-task/d/p/greet", `"x"`, "body", ""},
		{"run_task body is a number", "POST", "/run-task/d/p/greet", `3`, "body", ""},
		{"run_task body is not JSON", "POST", "/run-task/d/p/greet", `{"a":`, "body", ""},
		{"force not an integer", "POST", "/prefetch/hf-model?repo=a/b&force=abc", nil, "query", "force"},
		{"prefetch missing repo", "POST", "/prefetch/hf-model", nil, "query", "repo"},
		{"prefetch body not a list", "POST", "/prefetch/hf-model?repo=a/b", `{"text": true}`, "body", ""},
		{"wait not a boolean", "POST", "/app/a/activate?wait=maybe", nil, "query", "wait"},
		{"call_app missing path", "POST", "/app/a/call", nil, "query", "path"},
		{"call_app bad method", "POST", "/app/a/call?path=/x&method=TRACE", nil, "query", "method"},
		{"call_app payload not an object", "POST", "/app/a/call?path=/x", `{"payload": [1]}`, "body", "/payload"},
		{"build_image pip not a list", "POST", "/build-image", `{"pip_packages": "numpy"}`, "body", "/pip_packages"},
		{"build_image pre not a boolean", "POST", "/build-image?pre=yes", nil, "query", "pre"},
		{"abort reason too long", "POST", "/run/r-running/abort?reason=" + strings.Repeat("x", 1025), nil, "query", "reason"},
		{"name too long", "GET", "/run/" + strings.Repeat("a", 256), nil, "path", "name"},
		{"name too long in runes", "GET", "/run/" + strings.Repeat("%C3%A9", 256), nil, "path", "name"},
		{"empty version", "POST", "/run-task/d/p/greet?version=", `{}`, "query", "version"},
		{"idempotency key too long", "POST", "/run-task/d/p/greet", `{}`, "header", "Idempotency-Key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			headers := map[string]string{"Authorization": ""} // 422 comes before auth
			if c.in == "header" {
				headers["Idempotency-Key"] = strings.Repeat("k", 256)
			}
			r := s.call(t, c.method, c.target, c.body, headers)
			expectStatus(t, r, http.StatusUnprocessableEntity)
			errs, _ := r.JSON["errors"].([]any)
			if len(errs) == 0 {
				t.Fatalf("no errors list: %s", r.Body)
			}
			first := errs[0].(map[string]any)
			if first["in"] != c.in || first["name"] != c.field || first["reason"] == "" {
				t.Errorf("errors[0] = %v, want in=%s name=%q", first, c.in, c.field)
			}
		})
	}
	for _, call := range []string{"RunTask", "PrefetchModel", "SetAppActive", "CallApp", "BuildImage", "AbortRun"} {
		if s.fake.called(call) {
			t.Errorf("a request that does not fit reached the backend (%s)", call)
		}
	}
}

// TestLengthsCountRunes: 255 two-byte characters are within a maxLength of 255.
func TestLengthsCountRunes(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{})
	r := s.call(t, "GET", "/run/"+strings.Repeat("%C3%A9", 255), nil, nil)
	expectStatus(t, r, http.StatusNotFound) // past validation, unknown to the backend
}

// TestBodyLimit: a body over the limit is a 413, whether Content-Length says so or not.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{MaxBodyBytes: 1024})
	big := `{"name": "` + strings.Repeat("x", 2000) + `"}`
	r := s.call(t, "POST", "/run-task/d/p/greet", big, nil)
	expectStatus(t, r, http.StatusRequestEntityTooLarge)

	// Chunked: no Content-Length, the limit bites while reading.
	req, _ := http.NewRequest("POST", s.URL+"/run-task/d/p/greet", strings.NewReader(big))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked over the limit: %d", res.StatusCode)
	}
	if s.fake.called("RunTask") {
		t.Fatal("an oversized body reached the backend")
	}
	r = s.call(t, "POST", "/run-task/d/p/greet", `{"name": "ok"}`, nil)
	expectStatus(t, r, http.StatusOK)
}
