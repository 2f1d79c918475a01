package impl_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/api"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// send sends a request with exactly the header lines given (a key with two values is two
// lines, an empty value is an empty line: call() cannot express either) and checks the
// answer against the spec like call() does.
func (s *testServer) send(t *testing.T, method, target, body string, header http.Header) response {
	t.Helper()
	var rd io.Reader
	var raw []byte
	if body != "" {
		raw = []byte(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.URL+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	out := response{Status: res.StatusCode, Header: res.Header}
	if out.Body, err = io.ReadAll(res.Body); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(out.Body, &out.JSON)
	if strings.HasPrefix(res.Header.Get("Content-Type"), api.ProblemContentType) {
		checkProblem(t, out)
	}
	validateAgainstSpec(t, req, raw, out, s.enabled)
	return out
}

// firstError returns errors[0] of a 422 problem.
func firstError(t *testing.T, r response) map[string]any {
	t.Helper()
	errs, _ := r.JSON["errors"].([]any)
	if len(errs) == 0 {
		t.Fatalf("no errors list: %s", r.Body)
	}
	e, _ := errs[0].(map[string]any)
	return e
}

// TestHeaderParameters: a header parameter sent empty is sent, not absent (an empty
// Idempotency-Key silently started a new run), and one sent on two lines is refused rather
// than read as its first line. Both are 422 naming the header, and never reach the backend.
func TestHeaderParameters(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{})
	cases := []struct {
		name   string
		values []string
		reason string
	}{
		{"empty", []string{""}, "minimum string length is 1"},
		{"two lines", []string{"k1", "k2"}, "sent more than once"},
		{"empty then a key", []string{"", "k1"}, "sent more than once"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.send(t, "POST", "/run-task/d/p/greet", `{}`, http.Header{"Idempotency-Key": c.values, "Authorization": {token}})
			expectStatus(t, r, http.StatusUnprocessableEntity)
			e := firstError(t, r)
			if e["in"] != "header" || e["name"] != "Idempotency-Key" || e["reason"] != c.reason {
				t.Errorf("errors[0] = %v, want header Idempotency-Key: %s", e, c.reason)
			}
		})
	}
	if s.fake.called("RunTask") {
		t.Fatal("a request with a bad Idempotency-Key reached the backend")
	}
	// Control: a key of one character on one line is fine.
	r := s.send(t, "POST", "/run-task/d/p/greet", `{}`, http.Header{"Idempotency-Key": {"k"}, "Authorization": {token}})
	expectStatus(t, r, http.StatusOK)
}
