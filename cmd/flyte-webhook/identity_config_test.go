package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestIssuersConfig: issuers decode under backend.local.auth and backend.flyte, their key
// files resolve against the config file, and errors name the key where it is written.
func TestIssuersConfig(t *testing.T) {
	t.Parallel()
	gh := `
      - issuer: https://token.actions.githubusercontent.com
        audience: flyte-webhook
        name_claim: repository
        conditions:
          repository: org/repo
          ref: [refs/heads/main]
        allowlists:
          - when: {environment: production}
            task_allowlist: [prod/deploy/release]
`
	p := writeConfig(t, "backend:\n  local:\n    workspace: workspace.yaml\n    auth:\n      issuers:"+gh+
		"      - {issuer: https://idp.example.com/, audience: x, jwks_file: keys/jwks.json}\n")
	c, err := readConfig(p, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	is := c.Backend.Local.Auth.Issuers
	if len(is) != 2 || is[0].Conditions["ref"][0] != "refs/heads/main" || (*is[0].Allowlists[0].TaskAllowlist)[0] != "prod/deploy/release" {
		t.Fatalf("issuers = %+v", is)
	}
	if want := filepath.Join(filepath.Dir(p), "keys", "jwks.json"); is[1].JWKSFile != want {
		t.Errorf("jwks_file = %q, want %q", is[1].JWKSFile, want)
	}
	// Only discovered issuers and no tokens: a config callers can authenticate against.
	p = writeConfig(t, "backend:\n  local:\n    workspace: workspace.yaml\n    auth:\n      issuers:"+gh)
	if _, err := loadConfig(p, noEnv); err != nil {
		t.Fatalf("a config with only a discovered issuer: %v", err)
	}
	p = writeConfig(t, "backend:\n  type: flyte\n  flyte:\n    endpoint: http://flyte.example:8090\n    project: p\n    domain: d\n    issuers:"+gh)
	c, err = loadConfig(p, noEnv)
	if err != nil {
		t.Fatalf("flyte with issuers: %v", err)
	}
	if len(c.Backend.Flyte.Issuers) != 1 || c.Backend.Flyte.Endpoint != "http://flyte.example:8090" {
		t.Fatalf("flyte = %+v", c.Backend.Flyte)
	}

	for _, bad := range []struct{ name, body, want string }{
		{"local: no audience", "backend:\n  local:\n    auth:\n      issuers: [{issuer: https://token.actions.githubusercontent.com}]\n",
			"backend.local.auth: auth.issuers[0].audience: required"},
		{"flyte: discovery over http", "backend:\n  type: flyte\n  flyte: {endpoint: \"http://x\", project: p, domain: d, issuers: [{issuer: \"http://idp.example.com\", audience: a}]}\n",
			"config: backend.flyte.issuers[0].issuer: "},
		{"flyte: bad allowlist entry", "backend:\n  type: flyte\n  flyte:\n    endpoint: http://x\n    project: p\n    domain: d\n    issuers:\n      - issuer: https://gitlab.com\n        audience: a\n        allowlists: [{when: {project_path: g/p}, task_allowlist: [a/b/c/d]}]\n",
			"backend.flyte.issuers[0].allowlists[0].task_allowlist[0]"},
		{"unknown issuer key", "backend:\n  local:\n    auth:\n      issuers: [{issuer: https://gitlab.com, audience: a, condition: {x: y}}]\n",
			"backend.local.auth.issuers[0].condition: unknown key"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			_, err := loadConfig(writeConfig(t, bad.body), noEnv)
			if err == nil || !strings.Contains(err.Error(), bad.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, bad.want)
			}
		})
	}
}
