package impl_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// TestOperations drives every operation through the whole stack to a 200 and checks the
// fields the wire contract names.
func TestOperations(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{Name: "ops-webhook"})
	cases := []struct {
		name, method, target string
		body                 any
		want                 map[string]any
	}{
		{"health", "GET", "/health", nil, map[string]any{"status": "healthy"}},
		{"me", "GET", "/me", nil, map[string]any{"subject": "user-1", "name": "Ada"}},
		{"run_task", "POST", "/run-task/development/flytesnacks/greet", map[string]any{"name": "Ada"}, map[string]any{"name": "r-new", "url": "http://x/run/r-new"}},
		{"run_task empty inputs", "POST", "/run-task/development/flytesnacks/greet?version=v1", map[string]any{}, map[string]any{"name": "r-new"}},
		{"get_task", "GET", "/task/development/flytesnacks/greet", nil, map[string]any{"name": "greet", "version": "v2", "task_type": "python"}},
		{"get_run", "GET", "/run/r-running", nil, map[string]any{"name": "r-running", "phase": "running", "done": false}},
		{"get_run done", "GET", "/run/r-done", nil, map[string]any{"phase": "succeeded", "done": true}},
		{"get_run_io", "GET", "/run/r-running/io", nil, map[string]any{"name": "r-running", "outputs": nil}},
		{"abort_run", "POST", "/run/r-running/abort", nil, map[string]any{"name": "r-running", "status": "abort_requested", "reason": "Aborted via webhook API"}},
		{"abort_run reason", "POST", "/run/r-running/abort?reason=too+slow", nil, map[string]any{"reason": "too slow"}},
		{"get_app", "GET", "/app/my-app?domain=development&project=p", nil, map[string]any{"name": "my-app", "revision": 3.0, "is_active": true, "is_deactivated": false}},
		{"activate_app", "POST", "/app/my-app/activate?wait=true", nil, map[string]any{"name": "my-app", "is_active": true, "endpoint": "http://127.0.0.1:9999"}},
		{"deactivate_app", "POST", "/app/my-app/deactivate", nil, map[string]any{"name": "my-app", "is_active": false, "is_deactivated": true}},
		{"call_app json", "POST", "/app/my-app/call?path=/predict&method=POST", map[string]any{"payload": map[string]any{"x": 1}}, map[string]any{"ok": true, "method": "POST"}},
		{"call_app text", "POST", "/app/my-app/call?path=/text", nil, map[string]any{"response": "pong"}},
		{"activate_trigger", "POST", "/trigger/nightly-task/nightly/activate", nil, map[string]any{"task_name": "nightly-task", "trigger_name": "nightly", "active": true}},
		{"deactivate_trigger", "POST", "/trigger/nightly-task/nightly/deactivate", nil, map[string]any{"active": false}},
		{"build_image", "POST", "/build-image?name=mine&pre=true", map[string]any{"pip_packages": []string{"numpy"}}, map[string]any{"image_name": "img:mine", "image_build_run_url": "http://x/run/r-build", "base_image": "debian:bookworm"}},
		{"prefetch_hf_model", "POST", "/prefetch/hf-model?repo=openai-community/gpt2&force=1", []string{"text"}, map[string]any{"name": "r-prefetch", "phase": "queued", "done": false}},
		{"get_prefetch_hf_model", "GET", "/prefetch/hf-model/r-prefetch", nil, map[string]any{"name": "r-prefetch", "phase": "running"}},
		{"get_prefetch_hf_model_io", "GET", "/prefetch/hf-model/r-prefetch/io", nil, map[string]any{"name": "r-prefetch", "phase": "running"}},
		{"abort_prefetch_hf_model", "POST", "/prefetch/hf-model/r-prefetch/abort", nil, map[string]any{"name": "r-prefetch", "status": "abort_requested"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.call(t, c.method, c.target, c.body, nil)
			expectStatus(t, r, http.StatusOK)
			for k, v := range c.want {
				if got := r.JSON[k]; !equalJSON(got, v) {
					t.Errorf("%s = %#v, want %#v", k, got, v)
				}
			}
		})
	}

	t.Run("call_app relays a JSON list as it came", func(t *testing.T) {
		r := s.call(t, "POST", "/app/my-app/call?path=/list", nil, nil)
		expectStatus(t, r, http.StatusOK)
		if strings.TrimSpace(string(r.Body)) != "[1,2,3]" {
			t.Fatalf("body %s", r.Body)
		}
	})
	t.Run("get_task shape", func(t *testing.T) {
		r := s.call(t, "GET", "/task/development/flytesnacks/greet", nil, nil)
		if got := r.JSON["required_args"]; !equalJSON(got, []any{"name"}) {
			t.Errorf("required_args %v", got)
		}
		// The seed answers the names of the inputs that have a default, not their values.
		if got := r.JSON["default_input_args"]; !equalJSON(got, []any{"times", "seed", "note"}) {
			t.Errorf("default_input_args %v", got)
		}
		if got := r.JSON["cache"]; !equalJSON(got, map[string]any{"behavior": "override", "version_override": "c1", "serialize": true}) {
			t.Errorf("cache %v", got)
		}
		if got := r.JSON["secrets"]; !equalJSON(got, []any{}) {
			t.Errorf("secrets %v", got)
		}
	})
}

// TestGetTaskInterface: get_task's inputs carry each input's type, whether it is required, its
// default only when it has one (a null default is not a missing one; integers stay exact) and
// its description; outputs their type and description.
func TestGetTaskInterface(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{})
	r := s.call(t, "GET", "/task/development/flytesnacks/greet", nil, nil)
	expectStatus(t, r, http.StatusOK)
	var task struct {
		Inputs  []map[string]json.RawMessage `json:"inputs"`
		Outputs []map[string]json.RawMessage `json:"outputs"`
	}
	if err := json.Unmarshal(r.Body, &task); err != nil {
		t.Fatal(err)
	}
	// Compared as raw JSON text: a float64 decode would hide a rounded integer.
	want := []map[string]string{
		{"name": `"name"`, "type": `"string"`, "required": `true`, "description": `"Who to greet."`},
		{"name": `"times"`, "type": `"integer"`, "required": `false`, "default": `1`},
		{"name": `"seed"`, "type": `"integer"`, "required": `false`, "default": `9007199254740993`},
		{"name": `"note"`, "type": `"string"`, "required": `false`, "default": `null`},
	}
	if len(task.Inputs) != len(want) {
		t.Fatalf("inputs: %s", r.Body)
	}
	for i, w := range want {
		got := map[string]string{}
		for k, v := range task.Inputs[i] {
			got[k] = string(v)
		}
		if !equalJSON(got, w) {
			t.Errorf("inputs[%d] = %v, want %v", i, got, w)
		}
	}
	if len(task.Outputs) != 1 || string(task.Outputs[0]["name"]) != `"greeting"` || string(task.Outputs[0]["type"]) != `"string"` || string(task.Outputs[0]["description"]) != `"The greeting."` {
		t.Errorf("outputs: %s", r.Body)
	}
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// TestIntegersExact: an integer too large for a float64 reaches the backend digit for digit.
func TestIntegersExact(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{})
	r := s.call(t, "POST", "/run-task/d/p/sum", `{"a": 9007199254740993, "b": 123456789012345678901234567890}`, nil)
	expectStatus(t, r, http.StatusOK)
	s.fake.mu.Lock()
	defer s.fake.mu.Unlock()
	for k, want := range map[string]string{"a": "9007199254740993", "b": "123456789012345678901234567890"} {
		n, ok := s.fake.inputs[k].(json.Number)
		if !ok || n.String() != want {
			t.Errorf("input %s = %#v (%T), want json.Number %s", k, s.fake.inputs[k], s.fake.inputs[k], want)
		}
	}
}

// TestBackendErrors: every error code of the backend becomes its documented status, with the
// backend's caller-facing message, and an internal error never shows its text.
func TestBackendErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		err        error
		status     int
		detail     string
		notInReply string
	}{
		{"internal", errors.New("sqlite: disk I/O error at /var/lib/secret.db"), 500, "internal error", "secret.db"},
		{"wrapped internal", controlplane.Wrap(controlplane.CodeInternal, errors.New("password=hunter2"), "boom"), 500, "internal error", "hunter2"},
		{"invalid", controlplane.Errorf(controlplane.CodeInvalidInput, "input %q: want integer", "a"), 400, `input "a": want integer`, ""},
		{"unauthenticated", controlplane.Errorf(controlplane.CodeUnauthenticated, "invalid or expired credentials"), 401, "invalid or expired credentials", ""},
		{"denied", controlplane.Errorf(controlplane.CodePermissionDenied, "not allowed"), 403, "not allowed", ""},
		{"not found", controlplane.Errorf(controlplane.CodeNotFound, "nope"), 404, "nope", ""},
		{"conflict", controlplane.Errorf(controlplane.CodeConflict, "finished"), 409, "finished", ""},
		{"unimplemented", controlplane.Errorf(controlplane.CodeUnimplemented, "the local backend has no apps yet"), 501, "the local backend has no apps yet", ""},
		{"bad gateway", controlplane.Wrap(controlplane.CodeBadGateway, errors.New("dial tcp 10.0.0.7:443"), "control plane answered badly"), 502, "control plane answered badly", "10.0.0.7"},
		{"unavailable", controlplane.Errorf(controlplane.CodeUnavailable, "control plane unavailable"), 503, "control plane unavailable", ""},
		{"deadline", controlplane.Errorf(controlplane.CodeDeadlineExceeded, "too slow"), 504, "too slow", ""},
	}
	targets := map[string]string{"/me": "me", "/run/r-running": "get_run", "/task/d/p/t": "get_task", "/app/a": "get_app"}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, impl.Config{})
			s.fake.failWith = c.err
			for target, opID := range targets {
				want, detail := c.status, c.detail
				if !declares(t, opID, c.status) {
					// A code the operation does not document is kept inside the contract.
					want, detail = 500, "internal error"
				}
				r := s.call(t, "GET", target, nil, nil)
				expectStatus(t, r, want)
				if !strings.Contains(r.str("detail"), detail) {
					t.Errorf("%s: detail %q, want it to contain %q", target, r.str("detail"), detail)
				}
				if c.notInReply != "" && strings.Contains(string(r.Body), c.notInReply) {
					t.Errorf("%s: reply leaks %q: %s", target, c.notInReply, r.Body)
				}
				if want == 500 && !strings.Contains(r.str("detail"), r.str("request_id")) {
					t.Errorf("500 detail should name the request id: %s", r.Body)
				}
			}
		})
	}
}

// declares reports whether the operation lists status among its responses in openapi.yaml.
func declares(t *testing.T, opID string, status int) bool {
	t.Helper()
	o, ok := contract.Catalog.Operation(opID)
	if !ok {
		t.Fatalf("no operation %s", opID)
	}
	op := contract.Doc.Paths.Find(o.Path).GetOperation(o.Method)
	return op.Responses.Status(status) != nil
}

// TestDocumentedFailures: the statuses each operation documents, from the fake's behaviour.
func TestDocumentedFailures(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{Name: "ops-webhook"})
	cases := []struct {
		name, method, target string
		body                 any
		headers              map[string]string
		status               int
	}{
		{"run_task unknown task", "POST", "/run-task/d/p/missing", map[string]any{}, nil, 404},
		{"run_task bad input", "POST", "/run-task/d/p/greet", map[string]any{"bad": 1}, nil, 400},
		{"run_task idempotency conflict", "POST", "/run-task/d/p/greet", map[string]any{}, map[string]string{"Idempotency-Key": "reused"}, 409},
		{"get_task unknown", "GET", "/task/d/p/missing", nil, nil, 404},
		{"get_run unknown", "GET", "/run/r-nope", nil, nil, 404},
		{"get_run_io unknown", "GET", "/run/r-nope/io", nil, nil, 404},
		{"abort unknown", "POST", "/run/r-nope/abort", nil, nil, 404},
		{"abort finished", "POST", "/run/r-done/abort", nil, nil, 409},
		{"me rejected credentials", "GET", "/me", nil, map[string]string{"Authorization": "Bearer bad"}, 401},
		{"get_app unknown", "GET", "/app/missing", nil, nil, 404},
		{"activate wait timeout", "POST", "/app/slow/activate?wait=true", nil, nil, 504},
		{"call_app target failed: its status relayed", "POST", "/app/my-app/call?path=/broken", nil, nil, 500},
		{"call_app unreachable", "POST", "/app/my-app/call?path=/unreachable", nil, nil, 502},
		{"trigger unknown", "POST", "/trigger/t/missing/activate", nil, nil, 404},
		{"prefetch endpoint on a task run", "GET", "/prefetch/hf-model/r-running", nil, nil, 404},
		{"prefetch io on a task run", "GET", "/prefetch/hf-model/r-running/io", nil, nil, 404},
		{"prefetch abort on a task run", "POST", "/prefetch/hf-model/r-running/abort", nil, nil, 404},
		{"prefetch unknown", "GET", "/prefetch/hf-model/r-nope", nil, nil, 404},
		{"self-reference get", "GET", "/app/ops-webhook", nil, nil, 400},
		{"self-reference activate", "POST", "/app/ops-webhook/activate", nil, nil, 400},
		{"self-reference deactivate", "POST", "/app/ops-webhook/deactivate", nil, nil, 400},
		{"self-reference call", "POST", "/app/ops-webhook/call?path=/", nil, nil, 400},
		{"unknown path", "GET", "/nope", nil, nil, 404},
		{"wrong method", "DELETE", "/health", nil, nil, 405},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.call(t, c.method, c.target, c.body, c.headers)
			expectStatus(t, r, c.status)
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

// TestPrefetchAbortDoesNotTouchTaskRuns: the kind check runs before the backend's abort.
func TestPrefetchAbortDoesNotTouchTaskRuns(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{})
	r := s.call(t, "POST", "/prefetch/hf-model/r-running/abort?reason=x", nil, nil)
	expectStatus(t, r, 404)
	if s.fake.called("AbortRun:x") {
		t.Fatal("a task run was aborted through a prefetch endpoint")
	}
}

// TestRunFetchedOnce: when the guard fetches a run to check it, the handler reuses it.
func TestRunFetchedOnce(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{TaskAllowlist: &[]string{"greet"}})
	expectStatus(t, s.call(t, "GET", "/prefetch/hf-model/r-prefetch", nil, nil), http.StatusOK)
	expectStatus(t, s.call(t, "GET", "/run/r-running", nil, nil), http.StatusOK)
	if n := s.fake.count("GetRun"); n != 2 {
		t.Fatalf("GetRun reached the backend %d times for 2 requests", n)
	}
}

// TestFinishedRunAnswer: get_run of a finished run answers from the encoded cache after the
// first time, but every request still reaches the backend (which checks its credentials) and
// a run that is still going is never cached.
func TestFinishedRunAnswer(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{})
	first := s.call(t, "GET", "/run/r-done", nil, nil)
	second := s.call(t, "GET", "/run/r-done", nil, nil)
	expectStatus(t, first, http.StatusOK)
	expectStatus(t, second, http.StatusOK)
	if string(first.Body) != string(second.Body) || first.Header.Get("Content-Type") != "application/json" || second.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("answers differ: %q %q", first.Body, second.Body)
	}
	if n := s.fake.count("GetRun"); n != 2 {
		t.Fatalf("backend asked %d times, want every time (2)", n)
	}
	s.fake.mu.Lock()
	s.fake.failWith = controlplane.Errorf(controlplane.CodeUnauthenticated, "token expired")
	s.fake.mu.Unlock()
	expectStatus(t, s.call(t, "GET", "/run/r-done", nil, nil), http.StatusUnauthorized)
	s.fake.mu.Lock()
	s.fake.failWith = nil
	run := s.fake.runs["r-running"]
	s.fake.mu.Unlock()

	if r := s.call(t, "GET", "/run/r-running", nil, nil); r.str("phase") != "running" {
		t.Fatalf("phase %q", r.str("phase"))
	}
	run.Phase, run.EndedAt = controlplane.PhaseSucceeded, run.StartedAt
	s.fake.mu.Lock()
	s.fake.runs["r-running"] = run
	s.fake.mu.Unlock()
	if r := s.call(t, "GET", "/run/r-running", nil, nil); r.str("phase") != "succeeded" || r.JSON["done"] != true {
		t.Fatalf("after it finished: %s", r.Body)
	}
}
