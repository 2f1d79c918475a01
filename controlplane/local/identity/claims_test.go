package identity_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity/oidctest"
)

// TestClaimConditions: a GitHub-Actions-shaped token is accepted only when every condition
// holds, for a discovered issuer and one with a key of its own alike.
func TestClaimConditions(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	conditions := map[string]identity.ClaimValues{
		"repository":    {"org/repo"},
		"ref":           {"refs/heads/main", "refs/heads/release"},
		"environment":   {"production"},
		"run_attempt":   {"1"},    // a string claim
		"ref_protected": {"true"}, // a string here; a boolean below
	}
	v, _ := started(t, discovered(iss, func(c *identity.JWTConfig) { c.Conditions = conditions }))
	hs := mustNew(t, identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) {
		c.SecretFile = writeFile(t, "secret", []byte(testSecret))
		c.Conditions = conditions
	})})
	gh := func(repo, ref, env string, overrides map[string]any) map[string]any {
		return withClaims(oidctest.GitHubClaims(ghAudience, repo, ref, env), overrides)
	}
	eventuallyVerified(t, v, iss.Sign(t, gh("org/repo", "refs/heads/main", "production", nil)))
	tests := []struct {
		name   string
		claims map[string]any
		ok     bool
	}{
		{"all hold", gh("org/repo", "refs/heads/main", "production", nil), true},
		{"second accepted ref", gh("org/repo", "refs/heads/release", "production", nil), true},
		{"boolean claim by its text", gh("org/repo", "refs/heads/main", "production", map[string]any{"ref_protected": true}), true},
		{"list claim with one accepted value", gh("org/repo", "refs/heads/main", "production", map[string]any{"environment": []string{"staging", "production"}}), true},
		{"other repository", gh("org/fork", "refs/heads/main", "production", nil), false},
		{"repository differs in case", gh("Org/Repo", "refs/heads/main", "production", nil), false},
		{"other branch", gh("org/repo", "refs/heads/feature", "production", nil), false},
		{"a tag", gh("org/repo", "refs/tags/v1", "production", nil), false},
		{"no environment", gh("org/repo", "refs/heads/main", "", nil), false},
		{"other environment", gh("org/repo", "refs/heads/main", "staging", nil), false},
		{"boolean false", gh("org/repo", "refs/heads/main", "production", map[string]any{"ref_protected": false}), false},
		{"number where a string is wanted", gh("org/repo", "refs/heads/main", "production", map[string]any{"run_attempt": 2}), false},
		{"object claim", gh("org/repo", "refs/heads/main", "production", map[string]any{"repository": map[string]any{"name": "org/repo"}}), false},
		{"null claim", gh("org/repo", "refs/heads/main", "production", map[string]any{"environment": nil}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, tc := range []struct {
				kind  string
				v     *identity.Verifier
				token string
			}{
				{"discovered", v, iss.Sign(t, tt.claims)},
				{"HS256", hs, signJWT(t, hdr("HS256", ""), withClaims(copyClaims(tt.claims), map[string]any{"iss": testIssuer, "aud": testAudience}), []byte(testSecret))},
			} {
				id, err := tc.v.Verify(context.Background(), bearerCreds(tc.token))
				if tt.ok {
					if err != nil || id.Subject != tt.claims["sub"] {
						t.Fatalf("%s: Verify = %+v, %v; want accepted", tc.kind, id, err)
					}
					continue
				}
				checkResult(t, id, err, controlplane.Identity{}, identity.ErrCondition, tc.token)
				if msg := controlplane.MessageOf(err); !strings.Contains(msg, "conditions") {
					t.Fatalf("%s: message %q does not say the conditions refused it", tc.kind, msg)
				}
				if strings.Contains(err.Error(), "org/") || strings.Contains(err.Error(), "refs/") {
					t.Fatalf("%s: the error shows a claim value: %v", tc.kind, err)
				}
			}
		})
	}
}

func copyClaims(c map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range c {
		out[k] = v
	}
	return out
}

// TestClaimAllowlists: the entries whose when holds give the token its allowlists, added up;
// a token no entry matches may reach nothing; without entries nothing is narrowed.
func TestClaimAllowlists(t *testing.T) {
	t.Parallel()
	list := func(s ...string) *[]string { return &s }
	v := mustNew(t, identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) {
		c.SecretFile = writeFile(t, "secret", []byte(testSecret))
		c.Allowlists = []identity.ClaimAllowlist{
			{When: map[string]identity.ClaimValues{"repository": {"org/deployer"}}, TaskAllowlist: list("prod/deploy/release"), AppAllowlist: list("web")},
			{When: map[string]identity.ClaimValues{"repository": {"org/deployer"}, "ref": {"refs/heads/main"}}, TaskAllowlist: list("rollback")},
			{When: map[string]identity.ClaimValues{"repository": {"org/docs"}}, TaskAllowlist: list("docs/build"), TriggerAllowlist: list()},
			{When: map[string]identity.ClaimValues{"repository": {"org/admin"}}},
		}
	})})
	plain := mustNew(t, identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.SecretFile = writeFile(t, "secret", []byte(testSecret)) })})
	verify := func(t *testing.T, v *identity.Verifier, repo, ref string) *controlplane.Allowlists {
		t.Helper()
		tok := signJWT(t, hdr("HS256", ""), claims("ci", map[string]any{"repository": repo, "ref": ref}), []byte(testSecret))
		id, err := v.Verify(context.Background(), bearerCreds(tok))
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		return id.Allowlists
	}
	type check struct {
		task    [3]string
		app     string
		trigger [2]string
	}
	tests := []struct {
		name                  string
		repo, ref             string
		tasks, apps, triggers []bool // for the checks below, in order
	}{
		// checks: task prod/deploy/release, task x/y/rollback, task docs/build (any domain),
		// task other; app web, app api; trigger t/nightly.
		{"deployer on a branch", "org/deployer", "refs/heads/feature", []bool{true, false, false, false}, []bool{true, false}, []bool{true}},
		{"deployer on main: two entries add up", "org/deployer", "refs/heads/main", []bool{true, true, false, false}, []bool{true, false}, []bool{true}},
		{"docs: empty trigger list allows none", "org/docs", "refs/heads/main", []bool{false, false, true, false}, []bool{true, true}, []bool{false}},
		{"admin: an entry without lists narrows nothing", "org/admin", "refs/heads/main", []bool{true, true, true, true}, []bool{true, true}, []bool{true}},
		{"no entry matches: nothing", "org/stranger", "refs/heads/main", []bool{false, false, false, false}, []bool{false, false}, []bool{false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := verify(t, v, tt.repo, tt.ref)
			gotTasks := []bool{a.AllowsTask("prod", "deploy", "release"), a.AllowsTask("x", "y", "rollback"), a.AllowsTask("dev", "docs", "build"), a.AllowsTask("d", "p", "other")}
			gotApps := []bool{a.AllowsApp("web"), a.AllowsApp("api")}
			gotTriggers := []bool{a.AllowsTrigger("t", "nightly")}
			if !equal(gotTasks, tt.tasks) || !equal(gotApps, tt.apps) || !equal(gotTriggers, tt.triggers) {
				t.Fatalf("tasks %v apps %v triggers %v, want %v %v %v", gotTasks, gotApps, gotTriggers, tt.tasks, tt.apps, tt.triggers)
			}
		})
	}
	if a := verify(t, plain, "org/stranger", "refs/heads/main"); a != nil {
		t.Fatalf("an issuer without allowlists narrowed: %+v", a)
	}
}

func equal(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestVerifyOwn: the webhook in front of a backend that verifies tokens itself judges the
// tokens of its own issuers only, wherever they come in the credentials.
func TestVerifyOwn(t *testing.T) {
	t.Parallel()
	iss, down := oidctest.New(t), oidctest.New(t)
	down.SetDown(true)
	v, _ := started(t,
		discovered(iss, func(c *identity.JWTConfig) {
			c.Conditions = map[string]identity.ClaimValues{"repository": {"org/repo"}}
		}),
		discovered(down, nil))
	good := iss.Sign(t, oidctest.GitHubClaims(ghAudience, "org/repo", "refs/heads/main", ""))
	eventuallyVerified(t, v, good)
	bad := iss.Sign(t, oidctest.GitHubClaims(ghAudience, "org/fork", "refs/heads/main", ""))
	foreign := oidctest.New(t).Sign(t, oidctest.GitHubClaims(ghAudience, "org/repo", "refs/heads/main", ""))
	tests := []struct {
		name   string
		creds  controlplane.Credentials
		own    bool
		reason error
		code   controlplane.Code
	}{
		{"our token", bearerCreds(good), true, nil, 0},
		{"our token, conditions fail", bearerCreds(bad), true, identity.ErrCondition, controlplane.CodeUnauthenticated},
		{"our token in a cookie", controlplane.Credentials{Cookie: "flyte_idt=" + good}, true, nil, 0},
		{"a failing one of ours in a cookie beside a foreign bearer", controlplane.Credentials{Authorization: "Bearer " + foreign, Cookie: "x=" + bad}, true, identity.ErrCondition, controlplane.CodeUnauthenticated},
		{"a foreign issuer's token", bearerCreds(foreign), false, nil, 0},
		{"an opaque token", bearerCreds("flyte-access-token"), false, nil, 0},
		{"a JWT of ours with alg none", bearerCreds(signJWT(t, hdr("none", ""), map[string]any{"iss": iss.URL}, nil)), false, nil, 0},
		{"nothing", controlplane.Credentials{}, false, nil, 0},
		{"an issuer not reachable yet", bearerCreds(down.Sign(t, oidctest.GitHubClaims(ghAudience, "org/repo", "refs/heads/main", ""))), true, nil, controlplane.CodeUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, own, err := v.VerifyOwn(context.Background(), tt.creds)
			if own != tt.own {
				t.Fatalf("own = %v, want %v (err %v)", own, tt.own, err)
			}
			switch {
			case tt.code != 0:
				if controlplane.CodeOf(err) != tt.code || (tt.reason != nil && !errors.Is(err, tt.reason)) {
					t.Fatalf("err = %v (%s), want %s %v", err, controlplane.CodeOf(err), tt.code, tt.reason)
				}
			case err != nil:
				t.Fatalf("err = %v", err)
			case own && id.Subject != "repo:org/repo:ref:refs/heads/main":
				t.Fatalf("identity = %+v", id)
			}
		})
	}
}
