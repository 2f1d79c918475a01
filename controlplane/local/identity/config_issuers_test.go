package identity_test

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
)

func TestIssuersConfigErrors(t *testing.T) {
	t.Parallel()
	gh := func(mod func(*identity.JWTConfig)) identity.Config {
		c := identity.JWTConfig{Issuer: "https://token.actions.githubusercontent.com", Audience: "flyte-webhook"}
		mod(&c)
		return identity.Config{Issuers: []identity.JWTConfig{c}}
	}
	list := func(s ...string) *[]string { return &s }
	tests := []struct {
		name string
		cfg  identity.Config
		want []string
	}{
		{"no issuer, no audience", gh(func(c *identity.JWTConfig) { c.Issuer, c.Audience = "", "" }),
			[]string{"auth.issuers[0].issuer: required", "auth.issuers[0].audience: required"}},
		{"discovery over plain http", gh(func(c *identity.JWTConfig) { c.Issuer = "http://idp.example.com" }),
			[]string{"auth.issuers[0].issuer: ", "want an https URL", "its keys are discovered"}},
		{"discovery URL with a query", gh(func(c *identity.JWTConfig) { c.Issuer = "https://idp.example.com/?x=1" }),
			[]string{"auth.issuers[0].issuer: ", "not an issuer URL"}},
		{"two key sources", gh(func(c *identity.JWTConfig) { c.SecretEnv, c.JWKSFile = "X", "y" }),
			[]string{"auth.issuers[0].secret_env, auth.issuers[0].jwks_file are mutually exclusive"}},
		{"same issuer twice", identity.Config{
			JWT:     &identity.JWTConfig{Issuer: "https://a.example", Audience: "x", SecretEnv: "X"},
			Issuers: []identity.JWTConfig{{Issuer: "https://a.example", Audience: "y"}}},
			[]string{"auth.issuers[0].issuer: same issuer as auth.jwt"}},
		{"timeout too short", gh(func(c *identity.JWTConfig) { c.Timeout = time.Millisecond }),
			[]string{"auth.issuers[0].timeout: want between 100ms and 1m0s"}},
		{"negative refresh interval", gh(func(c *identity.JWTConfig) { c.RefreshInterval = -time.Second }),
			[]string{"auth.issuers[0].refresh_interval"}},
		{"retry interval too long", gh(func(c *identity.JWTConfig) { c.RetryInterval = time.Hour }),
			[]string{"auth.issuers[0].retry_interval"}},
		{"condition without values", gh(func(c *identity.JWTConfig) {
			c.Conditions = map[string]identity.ClaimValues{"repository": {}}
		}), []string{"auth.issuers[0].conditions.repository: want a value or a non-empty list"}},
		{"condition with an empty value", gh(func(c *identity.JWTConfig) {
			c.Conditions = map[string]identity.ClaimValues{"ref": {"refs/heads/main", ""}}
		}), []string{"auth.issuers[0].conditions.ref[1]: empty value"}},
		{"bad task allowlist entry", gh(func(c *identity.JWTConfig) {
			c.Allowlists = []identity.ClaimAllowlist{{When: map[string]identity.ClaimValues{"repository": {"org/repo"}}, TaskAllowlist: list("ok", "a/b/c/d")}}
		}), []string{`auth.issuers[0].allowlists[0].task_allowlist[1]: "a/b/c/d": too many parts`}},
		{"bad app allowlist entry", gh(func(c *identity.JWTConfig) {
			c.Allowlists = []identity.ClaimAllowlist{{AppAllowlist: list("my app")}}
		}), []string{`auth.issuers[0].allowlists[0].app_allowlist[0]: "my app" is not an app name`}},
		{"bad when", gh(func(c *identity.JWTConfig) {
			c.Allowlists = []identity.ClaimAllowlist{{When: map[string]identity.ClaimValues{"repository": {""}}}}
		}), []string{"auth.issuers[0].allowlists[0].when.repository[0]: empty value"}},
		{"conditions under jwt too", identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) {
			c.SecretEnv = "X"
			c.Conditions = map[string]identity.ClaimValues{"": {"x"}}
		})}, []string{"auth.jwt.conditions: empty claim name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := identity.New(tt.cfg)
			if err == nil {
				t.Fatal("New: no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New: %v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

// TestIssuersConfigOK: discovered issuers need no key source and make no request at New.
func TestIssuersConfigOK(t *testing.T) {
	t.Parallel()
	for _, iss := range []string{"https://token.actions.githubusercontent.com", "https://gitlab.com", "http://127.0.0.1:9", "http://localhost:9/tenant"} {
		if _, err := identity.New(identity.Config{Issuers: []identity.JWTConfig{{Issuer: iss, Audience: "flyte-webhook"}}}); err != nil {
			t.Errorf("%s: %v", iss, err)
		}
	}
}

// TestClaimValuesYAML: a condition is one value or a list of them.
func TestClaimValuesYAML(t *testing.T) {
	t.Parallel()
	src := `
issuer: https://token.actions.githubusercontent.com
audience: flyte-webhook
conditions:
  repository: org/repo
  ref: [refs/heads/main, refs/heads/release]
allowlists:
  - when: {environment: production}
    task_allowlist: [prod/deploy/release]
`
	var c identity.JWTConfig
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if got := c.Conditions["repository"]; len(got) != 1 || got[0] != "org/repo" {
		t.Errorf("repository = %q", got)
	}
	if got := c.Conditions["ref"]; len(got) != 2 || got[1] != "refs/heads/release" {
		t.Errorf("ref = %q", got)
	}
	if len(c.Allowlists) != 1 || c.Allowlists[0].When["environment"][0] != "production" || (*c.Allowlists[0].TaskAllowlist)[0] != "prod/deploy/release" {
		t.Errorf("allowlists = %+v", c.Allowlists)
	}
	if err := yaml.Unmarshal([]byte("repository: {a: b}"), &map[string]identity.ClaimValues{}); err == nil {
		t.Error("a mapping decoded as claim values")
	}
}
