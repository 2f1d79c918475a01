package impl_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// TestFlyteAuthBeforeAllowlists: over the flyte backend, credentials the control plane does
// not know are 401 whatever the target, inside or outside an allowlist, because the auth
// layer asks the control plane (UserInfo) before any allowlist answers; known credentials
// get 403 outside an allowlist without the request reaching the control plane.
func TestFlyteAuthBeforeAllowlists(t *testing.T) {
	t.Parallel()
	s := newFlyteStack(t, stackOptions{impl: impl.Config{
		TaskAllowlist:    &[]string{"development/flytesnacks/echo"},
		AppAllowlist:     &[]string{"web"},
		TriggerAllowlist: &[]string{"echo/nightly"},
	}}, nil)
	s.fake.AddApp(flyteProject, flyteDomain, "secret", "http://127.0.0.1:1", true)
	s.fake.AddTrigger(flyteProject, flyteDomain, "echo", "hourly", false)
	// A run of a task outside the allowlist, started by someone else on the control plane.
	sumRun := directCreateRun(t, s.fake, "sum", `{"name":"a","value":{"scalar":{"primitive":{"integer":"1"}}}},{"name":"b","value":{"scalar":{"primitive":{"integer":"2"}}}}`)

	targets := []struct {
		name, method, target string
		body                 any
		allowed              bool
	}{
		{"run_task outside", "POST", "/run-task/development/flytesnacks/sum", map[string]any{"a": 1, "b": 2}, false},
		{"run_task inside", "POST", "/run-task/development/flytesnacks/echo", map[string]any{"name": "Ada"}, true},
		{"get_task outside", "GET", "/task/development/flytesnacks/sum", nil, false},
		{"get_run of a task outside", "GET", "/run/" + sumRun, nil, false},
		{"get_app outside", "GET", "/app/secret", nil, false},
		{"trigger outside", "POST", "/trigger/echo/hourly/activate", nil, false},
	}
	bad := []map[string]string{
		{"Authorization": "Bearer wrong"},
		{"Authorization": "", "Cookie": "flyte_session=wrong"},
	}
	creates := len(s.callsTo(procCreateRun))
	for _, c := range targets {
		t.Run(c.name, func(t *testing.T) {
			for _, h := range bad {
				before := len(s.callsTo(procUserInfo))
				r := s.call(t, c.method, c.target, c.body, h)
				expectStatus(t, r, http.StatusUnauthorized)
				if len(s.callsTo(procUserInfo)) != before+1 {
					t.Errorf("%v: the 401 was not the control plane's answer to UserInfo", h)
				}
			}
			r := s.call(t, c.method, c.target, c.body, nil)
			switch {
			case c.allowed && r.Status != http.StatusOK:
				t.Errorf("a known caller inside the allowlists: %d %s", r.Status, r.Body)
			case !c.allowed && r.Status != http.StatusForbidden:
				t.Errorf("a known caller outside an allowlist: %d %s", r.Status, r.Body)
			}
			before := len(s.callsTo(procUserInfo))
			r = s.call(t, c.method, c.target, c.body, map[string]string{"Authorization": ""})
			expectStatus(t, r, http.StatusUnauthorized)
			if len(s.callsTo(procUserInfo)) != before {
				t.Error("a request without credentials reached the control plane")
			}
		})
	}
	if n := len(s.callsTo(procCreateRun)) - creates; n != 1 {
		t.Errorf("%d runs were created, want only the one inside the allowlist", n)
	}
	for _, c := range s.fake.Calls() {
		if c.Procedure == procUserInfo && c.Header.Get("Authorization") == "" && c.Header.Get("Cookie") == "" {
			t.Error("UserInfo was asked about a caller without credentials")
		}
	}
	s.noSecretsLogged(t, flyteCI, "wrong")
}

// TestFlyteBuildAndPrefetchWithoutTheirTasks: a control plane without the image build and
// model prefetch tasks makes both a 501 problem naming the task and the key to set; an
// unknown caller still hears 401 first.
func TestFlyteBuildAndPrefetchWithoutTheirTasks(t *testing.T) {
	t.Parallel()
	s := newFlyteStack(t, stackOptions{}, nil)
	for _, c := range []struct {
		target string
		body   any
		names  []string
	}{
		{"/build-image?base_image=python:3.12", map[string]any{"pip_packages": []string{"numpy"}}, []string{"system/production/build-image", "flyte.build_image_task"}},
		{"/prefetch/hf-model?repo=org/model", []string{"text"}, []string{"system/production/prefetch-hf-model", "flyte.prefetch_task"}},
	} {
		r := s.call(t, "POST", c.target, c.body, nil)
		expectStatus(t, r, http.StatusNotImplemented)
		for _, n := range c.names {
			if !strings.Contains(r.str("detail"), n) {
				t.Errorf("%s: detail %q does not name %s", c.target, r.str("detail"), n)
			}
		}
		expectStatus(t, s.call(t, "POST", c.target, c.body, map[string]string{"Authorization": "Bearer wrong"}), http.StatusUnauthorized)
	}
}

// TestFlyteServiceIdentity: with requires_auth false and a service identity, a caller
// without credentials acts as the service (its OAuth2 client-credentials token is sent); a
// caller with credentials is still forwarded as themselves. Neither the client secret nor
// the token is logged.
func TestFlyteServiceIdentity(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-client-secret"
	secretFile := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newFlyteStack(t, stackOptions{
		impl: impl.Config{AuthOptional: true},
		fake: flytetest.Options{OAuth2: &flytetest.OAuth2{ClientID: "webhook", ClientSecret: secret, Subject: "svc-webhook"}},
		flyte: func(c *flyte.Config) {
			c.ServiceIdentity = &flyte.ServiceIdentity{ClientID: "webhook", ClientSecretFile: secretFile}
		},
	}, nil)
	anonymous := map[string]string{"Authorization": ""}
	r := s.call(t, "GET", "/me", nil, anonymous)
	expectStatus(t, r, http.StatusOK)
	expectJSON(t, r, map[string]any{"subject": "svc-webhook"})
	r = s.call(t, "POST", "/run-task/development/flytesnacks/echo", map[string]any{"name": "Ada"}, anonymous)
	expectStatus(t, r, http.StatusOK)
	creates := s.callsTo(procCreateRun)
	issued, ok := strings.CutPrefix(creates[len(creates)-1].Header.Get("Authorization"), "Bearer ")
	if !ok || issued == "" || issued == flyteCI || s.fake.TokenRequests() == 0 {
		t.Fatalf("CreateRun without credentials sent Authorization %q, want the service token", creates[len(creates)-1].Header.Get("Authorization"))
	}
	r = s.call(t, "GET", "/me", nil, nil)
	expectJSON(t, r, map[string]any{"subject": "ci"})
	s.noSecretsLogged(t, secret, issued, flyteCI)
}

// TestFlyteAnonymousWithoutServiceIdentity: with requires_auth false and no service
// identity, a caller without credentials is asked about as such, and the control plane's
// refusal is the answer.
func TestFlyteAnonymousWithoutServiceIdentity(t *testing.T) {
	t.Parallel()
	s := newFlyteStack(t, stackOptions{impl: impl.Config{AuthOptional: true}}, nil)
	before := len(s.callsTo(procUserInfo))
	expectStatus(t, s.call(t, "GET", "/me", nil, map[string]string{"Authorization": ""}), http.StatusUnauthorized)
	if len(s.callsTo(procUserInfo)) == before {
		t.Error("the control plane was not asked")
	}
}

// directCreateRun starts a run on the fake as another client would (the deployer), and
// returns its name.
func directCreateRun(t *testing.T, fake *flytetest.Server, task, literals string) string {
	t.Helper()
	body := `{"projectId":{"name":"` + flyteProject + `","domain":"` + flyteDomain + `"},` +
		`"taskId":{"project":"` + flyteProject + `","domain":"` + flyteDomain + `","name":"` + task + `","version":"v1"},` +
		`"inputs":{"literals":[` + literals + `]}}`
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, fake.URL+procCreateRun, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+flyteDeploy)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Run struct {
			Action struct {
				ID struct {
					Run struct{ Name string }
				}
			}
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK || out.Run.Action.ID.Run.Name == "" {
		t.Fatalf("CreateRun: %d %v", res.StatusCode, err)
	}
	return out.Run.Action.ID.Run.Name
}
