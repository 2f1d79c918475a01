package impl_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
)

const (
	procCreateRun      = "/flyteidl2.workflow.RunService/CreateRun"
	procAbortRun       = "/flyteidl2.workflow.RunService/AbortRun"
	procUserInfo       = "/flyteidl2.auth.IdentityService/UserInfo"
	procUpdateTriggers = "/flyteidl2.trigger.TriggerService/UpdateTriggers"
	procDeployTask     = "/flyteidl2.task.TaskService/DeployTask"
	procWatchAction    = "/flyteidl2.workflow.RunService/WatchActionDetails"
)

// TestFlyteOperations drives every operation of openapi.yaml through HTTP to the flyte
// backend and the in-test control plane, with the error answers each one documents, and
// fails when an operation never answered 2xx (when all its steps ran). The steps share runs,
// so they run in order.
func TestFlyteOperations(t *testing.T) {
	t.Parallel()
	cov := newCoverage()
	app := startAppServer(t)
	s := newFlyteStack(t, stackOptions{systemTasks: true, flyte: func(c *flyte.Config) {
		c.ForwardCredentialsApps = []string{"fwd"}
	}}, cov)
	s.fake.AddApp(flyteProject, flyteDomain, "web", app.URL, false)
	s.fake.AddApp(flyteProject, flyteDomain, "fwd", app.URL, true)
	s.fake.AddTrigger(flyteProject, flyteDomain, "echo", "nightly", false)
	// Runs on this one never end on their own: a prefetch run stays abortable.
	slow := newFlyteStack(t, stackOptions{systemTasks: true, fake: flytetest.Options{RunTime: time.Hour}}, cov)

	var echoRun string // a succeeded run of echo
	steps := []struct {
		name string
		f    func(t *testing.T)
	}{
		{"health", func(t *testing.T) {
			r := s.call(t, "GET", "/health", nil, map[string]string{"Authorization": ""})
			expectStatus(t, r, http.StatusOK)
			expectJSON(t, r, map[string]any{"status": "healthy"})
		}},
		{"me", func(t *testing.T) {
			r := s.call(t, "GET", "/me", nil, nil)
			expectStatus(t, r, http.StatusOK)
			expectJSON(t, r, map[string]any{"subject": "ci", "name": "CI pipeline"})
			// A cookie is forwarded as it came, without an Authorization.
			r = s.call(t, "GET", "/me", nil, map[string]string{"Authorization": "", "Cookie": "flyte_session=" + flyteOther})
			expectStatus(t, r, http.StatusOK)
			expectJSON(t, r, map[string]any{"subject": "dashboard", "name": "Dash Board"})
			calls := s.callsTo(procUserInfo)
			last := calls[len(calls)-1]
			if last.Header.Get("Cookie") != "flyte_session="+flyteOther || last.Header.Get("Authorization") != "" {
				t.Errorf("UserInfo got Cookie %q, Authorization %q", last.Header.Get("Cookie"), last.Header.Get("Authorization"))
			}
		}},
		{"get_task", func(t *testing.T) {
			r := s.call(t, "GET", "/task/development/flytesnacks/echo", nil, nil)
			expectStatus(t, r, http.StatusOK)
			expectJSON(t, r, map[string]any{
				"name": "echo", "version": "v2", "task_type": "python", "required_args": []any{"name"},
				"default_input_args": []any{"times"}, "secrets": []any{"GREETING_TOKEN"},
				"cache": map[string]any{"behavior": "auto", "serialize": true, "version_override": nil},
				"inputs": []any{
					map[string]any{"name": "name", "type": "string", "required": true},
					map[string]any{"name": "times", "type": "integer", "required": false, "default": 1},
				},
				"outputs": []any{map[string]any{"name": "greeting", "type": "string"}},
			})
			r = s.call(t, "GET", "/task/development/flytesnacks/echo?version=v1", nil, nil)
			expectStatus(t, r, http.StatusOK)
			expectJSON(t, r, map[string]any{"version": "v1", "secrets": []any{}, "cache": map[string]any{"behavior": "disable", "serialize": false, "version_override": nil}})
			expectStatus(t, s.call(t, "GET", "/task/development/flytesnacks/echo?version=v9", nil, nil), http.StatusNotFound)
			expectStatus(t, s.call(t, "GET", "/task/development/flytesnacks/nope", nil, nil), http.StatusNotFound)
		}},
		{"run_task, get_run, get_run_io", func(t *testing.T) {
			r := s.call(t, "POST", "/run-task/development/flytesnacks/echo", map[string]any{"name": "Ada", "times": 2}, nil)
			expectStatus(t, r, http.StatusOK)
			echoRun = r.str("name")
			if r.str("url") != s.url+"/run/"+echoRun {
				t.Errorf("url %q, want the webhook's /run/%s", r.str("url"), echoRun)
			}
			creates := s.callsTo(procCreateRun)
			if got := creates[len(creates)-1].Header.Get("Authorization"); got != "Bearer "+flyteCI {
				t.Errorf("CreateRun got Authorization %q: the caller's credentials were not forwarded", got)
			}
			done := s.waitRun(t, echoRun)
			expectJSON(t, done, map[string]any{"name": echoRun, "phase": "succeeded", "done": true})
			io := s.call(t, "GET", "/run/"+echoRun+"/io", nil, nil)
			expectStatus(t, io, http.StatusOK)
			expectJSON(t, io, map[string]any{
				"name": echoRun, "inputs": map[string]any{"name": "Ada", "times": 2},
				"outputs": map[string]any{"greeting": "hello Ada hello Ada"},
			})
		}},
		{"wait, watch_run, get_run_logs", func(t *testing.T) {
			// run_task?wait answers the outcome in one call; get_run?wait a finished run at once.
			r := s.call(t, "POST", "/run-task/development/flytesnacks/echo?wait=60s", map[string]any{"name": "Wu", "times": 2}, nil)
			expectStatus(t, r, http.StatusOK)
			expectJSON(t, r, map[string]any{"phase": "succeeded", "done": true, "outputs": map[string]any{"greeting": "hello Wu hello Wu"}})
			name := r.str("name")
			expectJSON(t, s.call(t, "GET", "/run/"+name+"?wait=true", nil, nil), map[string]any{"phase": "succeeded", "done": true})

			ev := s.call(t, "GET", "/run/"+name+"/events?logs=true", nil, nil)
			expectStatus(t, ev, http.StatusOK)
			events := parseEvents(t, ev.Body)
			if got := types(events); got != "phase attempt_started phase log log attempt_ended phase end" {
				t.Errorf("events %s\n%s", got, ev.Body)
			}
			if line := decode(t, events[3]); line["line"] != "hello Wu" {
				t.Errorf("log event %v: want the line without its terminator", line)
			}
			if end := decode(t, events[len(events)-1]); !equalJSON(end["outputs"], map[string]any{"greeting": "hello Wu hello Wu"}) {
				t.Errorf("end event %v", end)
			}
			for i, e := range events[:len(events)-1] {
				rest := parseEvents(t, s.call(t, "GET", "/run/"+name+"/events?logs=true", nil, map[string]string{"Last-Event-ID": e.ID}).Body)
				if got, want := types(rest), types(events[i+1:]); got != want {
					t.Errorf("after %s: %s, want %s", e.ID, got, want)
				}
			}
			expectStatus(t, s.call(t, "GET", "/run/"+name+"/events", nil, map[string]string{"Last-Event-ID": events[len(events)-1].ID}), http.StatusNoContent)
			expectStatus(t, s.call(t, "GET", "/run/rnosuchrun/events", nil, nil), http.StatusNotFound)
			if calls := s.callsTo(procWatchAction); len(calls) == 0 || calls[0].Header.Get("Content-Type") != "application/connect+json" {
				t.Errorf("WatchActionDetails calls %d, want connect streams", len(calls))
			}

			logs := s.call(t, "GET", "/run/"+name+"/logs", nil, nil)
			expectStatus(t, logs, http.StatusOK)
			if string(logs.Body) != "hello Wu\nhello Wu\n" {
				t.Errorf("logs %q", logs.Body)
			}
			if tail := s.call(t, "GET", "/run/"+name+"/logs?tail=1", nil, nil); string(tail.Body) != "hello Wu\n" {
				t.Errorf("tail=1: %q", tail.Body)
			}
			follow := parseEvents(t, s.call(t, "GET", "/run/"+name+"/logs?follow=true", nil, nil).Body)
			if got := types(follow); got != "log log attempt_ended end" {
				t.Errorf("follow: %s", got)
			}
			// The control plane's logs do not tell stdout from stderr: one stream is refused.
			expectStatus(t, s.call(t, "GET", "/run/"+name+"/logs?stream=stdout", nil, nil), http.StatusNotImplemented)
			expectStatus(t, s.call(t, "GET", "/run/"+name+"/logs?attempt=2", nil, nil), http.StatusNotFound)
			expectStatus(t, s.call(t, "GET", "/run/rnosuchrun/logs", nil, nil), http.StatusNotFound)
		}},
		{"run_task defaults and a version", func(t *testing.T) {
			r := s.call(t, "POST", "/run-task/development/flytesnacks/echo?version=v1", map[string]any{"name": "Bo"}, nil)
			expectStatus(t, r, http.StatusOK)
			creates := s.callsTo(procCreateRun)
			if body := string(creates[len(creates)-1].Body); !strings.Contains(body, `"version":"v1"`) {
				t.Errorf("CreateRun for ?version=v1: %s", body)
			}
			s.waitRun(t, r.str("name"))
			io := s.call(t, "GET", "/run/"+r.str("name")+"/io", nil, nil)
			expectJSON(t, io, map[string]any{"inputs": map[string]any{"name": "Bo", "times": 1}, "outputs": map[string]any{"greeting": "hello Bo"}})
		}},
		{"run_task refuses bad inputs itself", func(t *testing.T) {
			before := len(s.callsTo(procCreateRun))
			for _, c := range []struct {
				body   any
				detail []string
			}{
				{map[string]any{"name": 3}, []string{`"name"`}},
				{map[string]any{"name": "x", "bogus": 1}, []string{`"bogus"`}},
				{map[string]any{}, []string{`"name"`, "required"}},
				{map[string]any{"name": "x", "times": "many"}, []string{`"times"`}},
			} {
				r := s.call(t, "POST", "/run-task/development/flytesnacks/echo", c.body, nil)
				expectStatus(t, r, http.StatusBadRequest)
				for _, d := range c.detail {
					if !strings.Contains(r.str("detail"), d) {
						t.Errorf("%v: detail %q does not name %s", c.body, r.str("detail"), d)
					}
				}
			}
			expectStatus(t, s.call(t, "POST", "/run-task/development/flytesnacks/nope", map[string]any{}, nil), http.StatusNotFound)
			if after := len(s.callsTo(procCreateRun)); after != before {
				t.Errorf("%d refused runs reached CreateRun", after-before)
			}
		}},
		{"run_task Idempotency-Key", func(t *testing.T) {
			key := map[string]string{"Idempotency-Key": "deploy-42"}
			first := s.call(t, "POST", "/run-task/development/flytesnacks/echo", map[string]any{"name": "Ada"}, key)
			expectStatus(t, first, http.StatusOK)
			again := s.call(t, "POST", "/run-task/development/flytesnacks/echo", map[string]any{"name": "Ada"}, key)
			expectStatus(t, again, http.StatusOK)
			if again.str("name") != first.str("name") {
				t.Errorf("a replay started another run: %s, then %s", first.str("name"), again.str("name"))
			}
			// The default made explicit is the same request.
			same := s.call(t, "POST", "/run-task/development/flytesnacks/echo", map[string]any{"name": "Ada", "times": 1}, key)
			if same.Status != http.StatusOK || same.str("name") != first.str("name") {
				t.Errorf("times: 1 given explicitly: %d %s", same.Status, same.Body)
			}
			other := s.call(t, "POST", "/run-task/development/flytesnacks/echo", map[string]any{"name": "Bo"}, key)
			expectStatus(t, other, http.StatusConflict)
			// Keys are the caller's own: another caller's same key is another run.
			key["Authorization"] = "Bearer " + flyteOther
			theirs := s.call(t, "POST", "/run-task/development/flytesnacks/echo", map[string]any{"name": "Ada"}, key)
			expectStatus(t, theirs, http.StatusOK)
			if theirs.str("name") == first.str("name") {
				t.Error("another caller's Idempotency-Key named the same run")
			}
		}},
		{"list_runs by label", func(t *testing.T) {
			r := s.call(t, "POST", "/run-task/development/flytesnacks/echo?label=ci-job=42", map[string]any{"name": "Lu"}, nil)
			expectStatus(t, r, http.StatusOK)
			l := s.call(t, "GET", "/runs?label=ci-job=42", nil, nil)
			expectStatus(t, l, http.StatusOK)
			if runs, _ := l.JSON["runs"].([]any); len(runs) != 1 || runs[0].(map[string]any)["name"] != r.str("name") {
				t.Errorf("list by label: %s, want the one run %s", l.Body, r.str("name"))
			}
		}},
		{"get_run of a failed and an unknown run", func(t *testing.T) {
			r := s.call(t, "POST", "/run-task/development/flytesnacks/fail", nil, nil)
			expectStatus(t, r, http.StatusOK)
			done := s.waitRun(t, r.str("name"))
			if done.str("phase") != "failed" || !strings.Contains(done.str("error"), "boom") {
				t.Errorf("failed run: %s", done.Body)
			}
			io := s.call(t, "GET", "/run/"+r.str("name")+"/io", nil, nil)
			expectStatus(t, io, http.StatusOK)
			expectJSON(t, io, map[string]any{"outputs": nil})
			expectStatus(t, s.call(t, "GET", "/run/rnosuchrun", nil, nil), http.StatusNotFound)
			expectStatus(t, s.call(t, "GET", "/run/rnosuchrun/io", nil, nil), http.StatusNotFound)
		}},
		{"abort_run", func(t *testing.T) {
			r := s.call(t, "POST", "/run-task/development/flytesnacks/sleep", map[string]any{"seconds": 30}, nil)
			expectStatus(t, r, http.StatusOK)
			name := r.str("name")
			a := s.call(t, "POST", "/run/"+name+"/abort?reason=enough", nil, nil)
			expectStatus(t, a, http.StatusOK)
			expectJSON(t, a, map[string]any{"name": name, "status": "abort_requested", "reason": "enough"})
			aborts := s.callsTo(procAbortRun)
			if body := string(aborts[len(aborts)-1].Body); !strings.Contains(body, `"reason":"enough"`) || !strings.Contains(body, name) {
				t.Errorf("AbortRun: %s", body)
			}
			expectJSON(t, s.call(t, "GET", "/run/"+name, nil, nil), map[string]any{"phase": "aborted", "done": true})
			expectStatus(t, s.call(t, "POST", "/run/"+name+"/abort", nil, nil), http.StatusConflict)
			expectStatus(t, s.call(t, "POST", "/run/"+echoRun+"/abort", nil, nil), http.StatusConflict)
			expectStatus(t, s.call(t, "POST", "/run/rnosuchrun/abort", nil, nil), http.StatusNotFound)
		}},
		{"apps", func(t *testing.T) {
			r := s.call(t, "GET", "/app/web", nil, nil)
			expectStatus(t, r, http.StatusOK)
			expectJSON(t, r, map[string]any{"name": "web", "is_active": false, "is_deactivated": true, "url": s.url + "/app/web"})
			expectStatus(t, s.call(t, "POST", "/app/web/call?path=/echo", nil, nil), http.StatusConflict)

			r = s.call(t, "POST", "/app/web/activate?wait=true", nil, nil)
			expectStatus(t, r, http.StatusOK)
			expectJSON(t, r, map[string]any{"name": "web", "is_active": true, "endpoint": app.URL})
			if st, _ := s.fake.AppStatus(flyteProject, flyteDomain, "web"); st != "ACTIVE" {
				t.Errorf("after activate?wait=true the control plane says %s", st)
			}
			r = s.call(t, "POST", "/app/web/call?path=/echo&method=POST", map[string]any{
				"payload": map[string]any{"x": 1}, "query_params": map[string]any{"q": "1"},
			}, nil)
			expectStatus(t, r, http.StatusOK)
			// Without forward_credentials_apps the app never sees the caller's credentials.
			expectJSON(t, r, map[string]any{"method": "POST", "query": "q=1", "body": `{"x":1}`, "authorization": "", "user_agent": "flyte-webhook/" + flyteHook})
			expectJSON(t, s.call(t, "POST", "/app/web/call?path=/text", nil, nil), map[string]any{"response": "pong"})
			fwd := s.call(t, "POST", "/app/fwd/call?path=/echo", nil, nil)
			expectStatus(t, fwd, http.StatusOK)
			expectJSON(t, fwd, map[string]any{"authorization": "Bearer " + flyteCI})

			r = s.call(t, "POST", "/app/web/deactivate?wait=true", nil, nil)
			expectStatus(t, r, http.StatusOK)
			expectJSON(t, r, map[string]any{"name": "web", "is_active": false, "is_deactivated": true})
			if st, _ := s.fake.AppStatus(flyteProject, flyteDomain, "web"); st != "STOPPED" {
				t.Errorf("after deactivate?wait=true the control plane says %s", st)
			}
			expectStatus(t, s.call(t, "GET", "/app/nope", nil, nil), http.StatusNotFound)
			expectStatus(t, s.call(t, "POST", "/app/nope/activate", nil, nil), http.StatusNotFound)
			expectStatus(t, s.call(t, "GET", "/app/"+flyteHook, nil, nil), http.StatusBadRequest)
		}},
		{"triggers", func(t *testing.T) {
			r := s.call(t, "POST", "/trigger/echo/nightly/activate", nil, nil)
			expectStatus(t, r, http.StatusOK)
			expectJSON(t, r, map[string]any{"task_name": "echo", "trigger_name": "nightly", "active": true})
			if on, n := s.fake.TriggerActive(flyteProject, flyteDomain, "echo", "nightly"); !on || n != 1 {
				t.Errorf("after activate: active %v, %d updates", on, n)
			}
			r = s.call(t, "POST", "/trigger/echo/nightly/deactivate", nil, nil)
			expectStatus(t, r, http.StatusOK)
			expectJSON(t, r, map[string]any{"active": false})
			if on, _ := s.fake.TriggerActive(flyteProject, flyteDomain, "echo", "nightly"); on {
				t.Error("still active after deactivate")
			}
			before := len(s.callsTo(procUpdateTriggers))
			expectStatus(t, s.call(t, "POST", "/trigger/echo/weekly/activate", nil, nil), http.StatusNotFound)
			if len(s.callsTo(procUpdateTriggers)) != before {
				t.Error("an unknown trigger was updated (UpdateTriggers answers 200 for it)")
			}
		}},
		{"build_image", func(t *testing.T) {
			r := s.call(t, "POST", "/build-image?base_image=python:3.12-slim&name=ci-image", map[string]any{"pip_packages": []string{"numpy"}}, nil)
			expectStatus(t, r, http.StatusOK)
			expectJSON(t, r, map[string]any{"image_name": "ci-image", "base_image": "python:3.12-slim", "pip_packages": []any{"numpy"}, "apt_packages": []any{}})
			name := strings.TrimPrefix(r.str("image_build_run_url"), s.url+"/run/")
			if name == r.str("image_build_run_url") {
				t.Fatalf("image_build_run_url %q is not a run url of this webhook", name)
			}
			s.waitRun(t, name)
			io := s.call(t, "GET", "/run/"+name+"/io", nil, nil)
			expectJSON(t, io, map[string]any{"inputs": map[string]any{
				"base_image": "python:3.12-slim", "name": "ci-image", "pip_packages": []any{"numpy"},
				"apt_packages": []any{}, "platform": []any{}, "python_version": "", "flyte_version": "",
			}})
		}},
		{"prefetch_hf_model", func(t *testing.T) {
			r := s.call(t, "POST", "/prefetch/hf-model?repo=openai-community/gpt2", []string{"text"}, nil)
			expectStatus(t, r, http.StatusOK)
			name := r.str("name")
			expectJSON(t, s.call(t, "GET", "/prefetch/hf-model/"+name, nil, nil), map[string]any{"name": name})
			io := s.call(t, "GET", "/prefetch/hf-model/"+name+"/io", nil, nil)
			expectStatus(t, io, http.StatusOK)
			in, _ := io.JSON["inputs"].(map[string]any)
			if in["repo"] != "openai-community/gpt2" || in["memory"] != "8Gi" || !equalJSON(in["modality"], []any{"text"}) {
				t.Errorf("prefetch inputs (the spec's defaults applied): %v", in)
			}
			s.waitRun(t, name) // get_run sees prefetch runs while prefetch_hf_model is enabled
			expectStatus(t, s.call(t, "POST", "/prefetch/hf-model/"+name+"/abort", nil, nil), http.StatusConflict)
			// The prefetch endpoints answer only for prefetch runs.
			expectStatus(t, s.call(t, "GET", "/prefetch/hf-model/"+echoRun, nil, nil), http.StatusNotFound)
			expectStatus(t, s.call(t, "POST", "/prefetch/hf-model/"+echoRun+"/abort", nil, nil), http.StatusNotFound)
		}},
		{"abort_prefetch_hf_model", func(t *testing.T) {
			r := slow.call(t, "POST", "/prefetch/hf-model?repo=org/model", nil, nil)
			expectStatus(t, r, http.StatusOK)
			name := r.str("name")
			a := slow.call(t, "POST", "/prefetch/hf-model/"+name+"/abort", nil, nil)
			expectStatus(t, a, http.StatusOK)
			expectJSON(t, a, map[string]any{"name": name, "status": "abort_requested"})
			expectJSON(t, slow.call(t, "GET", "/prefetch/hf-model/"+name, nil, nil), map[string]any{"phase": "aborted", "done": true})
		}},
		{"every call carried the caller's own credentials", func(t *testing.T) {
			known := map[string]bool{"Bearer " + flyteCI: true, "Bearer " + flyteOther: true, "flyte_session=" + flyteOther: true}
			for _, stack := range []*flyteStack{s, slow} {
				for _, c := range stack.fake.Calls() {
					if c.Procedure == procDeployTask {
						continue
					}
					a, ck := c.Header.Get("Authorization"), c.Header.Get("Cookie")
					if (a == "") == (ck == "") || !known[a+ck] {
						t.Errorf("%s reached the control plane with Authorization %q, Cookie %q", c.Procedure, a, ck)
					}
				}
			}
			s.noSecretsLogged(t, flyteCI, flyteOther)
		}},
	}
	ran := 0
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			ran++
			st.f(t)
		})
	}
	if ran == len(steps) {
		if missing := cov.missing(); len(missing) > 0 {
			t.Errorf("operations never answered 2xx through the flyte backend: %s", strings.Join(missing, ", "))
		}
	}
}

// expectJSON checks the given fields of a JSON answer (the whole value for each).
func expectJSON(t *testing.T, r response, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if got, ok := r.JSON[k]; !ok && v != nil || !equalJSON(got, v) {
			t.Errorf("%s = %s, want %s (body %s)", k, mustJSON(got), mustJSON(v), r.Body)
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
