package impl_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity/oidctest"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

const ciAudience = "flyte-webhook"

// ciVerifier is an identity verifier for the test issuer iss whose tokens must come from
// org/* repositories, with allowlists per repository.
func ciVerifier(t *testing.T, iss *oidctest.Issuer) *identity.Verifier {
	t.Helper()
	list := func(s ...string) *[]string { return &s }
	v, err := identity.New(identity.Config{Issuers: []identity.JWTConfig{{
		Issuer: iss.URL, Audience: ciAudience, RetryInterval: 20 * time.Millisecond, Timeout: time.Second,
		Conditions: map[string]identity.ClaimValues{"repository": {"org/deployer", "org/stranger"}},
		Allowlists: []identity.ClaimAllowlist{{
			When:          map[string]identity.ClaimValues{"repository": {"org/deployer"}},
			TaskAllowlist: list("flytesnacks/greet"), AppAllowlist: list("web"), TriggerAllowlist: list(),
		}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v.Start(ctx)
	return v
}

func ciToken(t *testing.T, iss *oidctest.Issuer, repo string) string {
	return "Bearer " + iss.Sign(t, oidctest.GitHubClaims(ciAudience, repo, "refs/heads/main", ""))
}

// waitReady waits until the verifier knows iss's keys.
func waitReady(t *testing.T, v *identity.Verifier, bearer string) {
	t.Helper()
	creds := identityCreds(bearer)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := v.Verify(context.Background(), creds); err == nil {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("issuer never ready: %v", err)
		}
	}
}

// TestCallerAllowlists: the allowlists a token's claims select narrow the webhook's, end to
// end through the handler: both must allow, on every guarded operation.
func TestCallerAllowlists(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	v := ciVerifier(t, iss)
	deployer, stranger := ciToken(t, iss, "org/deployer"), ciToken(t, iss, "org/stranger")
	waitReady(t, v, deployer)
	b := &verifyingBackend{fakeBackend: newFake(), v: v}
	s := newServerWith(t, impl.Config{}, b, b.fakeBackend)
	auth := func(tok string) map[string]string { return map[string]string{"Authorization": tok} }
	cases := []struct {
		name, method, target string
		body                 any
		deployer, stranger   int
	}{
		{"run an allowed task", "POST", "/run-task/development/flytesnacks/greet", map[string]any{"name": "x"}, 200, 403},
		{"run another task", "POST", "/run-task/development/flytesnacks/other", map[string]any{}, 403, 403},
		{"read a run of an allowed task", "GET", "/run/r-running", nil, 200, 403},
		{"read a run of another task", "GET", "/run/r-secret", nil, 403, 403},
		{"abort a run of another task", "POST", "/run/r-secret/abort", nil, 403, 403},
		{"an allowed app", "GET", "/app/web", nil, 200, 403},
		{"another app", "GET", "/app/api", nil, 403, 403},
		{"a trigger: the empty list allows none", "POST", "/trigger/greet/nightly/activate", nil, 403, 403},
		{"me is not guarded", "GET", "/me", nil, 200, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.call(t, c.method, c.target, c.body, auth(deployer))
			expectStatus(t, r, c.deployer)
			if c.deployer == 403 && !strings.Contains(r.str("detail"), "for these credentials") {
				t.Errorf("deployer's 403 detail %q does not say the credentials' allowlist refused", r.str("detail"))
			}
			expectStatus(t, s.call(t, c.method, c.target, c.body, auth(stranger)), c.stranger)
		})
	}
	if b.called("AbortRun:Aborted via webhook API") {
		t.Fatal("an abort outside the token's allowlist reached the backend")
	}

	// The webhook's own allowlist still applies: both must allow.
	both := newServerWith(t, impl.Config{TaskAllowlist: &[]string{"other"}}, b, b.fakeBackend)
	r := both.call(t, "POST", "/run-task/development/flytesnacks/greet", map[string]any{"name": "x"}, auth(deployer))
	expectStatus(t, r, 403)
	if !strings.Contains(r.str("detail"), "this webhook's task allowlist") {
		t.Errorf("detail %q", r.str("detail"))
	}
	expectStatus(t, both.call(t, "POST", "/run-task/development/flytesnacks/other", map[string]any{}, auth(deployer)), 403)
}

// TestWebhookVerifier: with Config.Verifier (a backend that verifies tokens itself, as
// Flyte), the webhook judges its own issuers' tokens before Me, conditions included, answers
// 503 with Retry-After while an issuer's keys are not known, and forwards the token.
func TestWebhookVerifier(t *testing.T) {
	t.Parallel()
	iss, down := oidctest.New(t), oidctest.New(t)
	down.SetDown(true)
	v := ciVerifier(t, iss)
	good, forked := ciToken(t, iss, "org/deployer"), ciToken(t, iss, "org/fork")
	waitReady(t, v, good)
	downV, err := identity.New(identity.Config{Issuers: []identity.JWTConfig{{Issuer: down.URL, Audience: ciAudience, RetryInterval: time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	downV.Start(t.Context())

	s := newServer(t, impl.Config{Verifier: v})
	auth := func(tok string) map[string]string { return map[string]string{"Authorization": tok} }

	r := s.call(t, "POST", "/run-task/development/flytesnacks/greet", map[string]any{"name": "x"}, auth(good))
	expectStatus(t, r, 200)
	if s.fake.called("Me") {
		t.Error("the backend's Me was asked about a token the webhook verified")
	}
	if got := s.fake.lastCreds().Authorization; got != good {
		t.Errorf("the backend got Authorization %q, want the caller's token", got)
	}
	expectStatus(t, s.call(t, "POST", "/run-task/development/flytesnacks/other", map[string]any{}, auth(good)), 403)

	before := s.fake.count("RunTask")
	expectStatus(t, s.call(t, "POST", "/run-task/development/flytesnacks/greet", map[string]any{}, auth(forked)), 401)
	if s.fake.count("RunTask") != before {
		t.Error("a token failing its issuer's conditions reached the backend")
	}

	// Credentials that are not the webhook's own go to the backend's Me as before.
	expectStatus(t, s.call(t, "GET", "/task/development/flytesnacks/greet", nil, auth("Bearer flyte-opaque")), 200)
	if !s.fake.called("Me") {
		t.Error("the backend's Me was not asked about foreign credentials")
	}

	sd := newServer(t, impl.Config{Verifier: downV})
	r = sd.call(t, "POST", "/run-task/development/flytesnacks/greet", map[string]any{}, auth(ciToken(t, down, "org/deployer")))
	expectStatus(t, r, http.StatusServiceUnavailable)
	ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || ra < 1 {
		t.Fatalf("Retry-After = %q, want whole seconds >= 1", r.Header.Get("Retry-After"))
	}
	if sd.fake.count("RunTask") != 0 {
		t.Error("a token whose issuer is unknown yet reached the backend")
	}
}

func identityCreds(authorization string) controlplane.Credentials {
	return controlplane.Credentials{Authorization: authorization}
}
