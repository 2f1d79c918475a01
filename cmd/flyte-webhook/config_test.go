package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "workspace.yaml"), []byte("tasks: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func noEnv(string) string { return "" }

const minimal = "backend:\n  local:\n    workspace: workspace.yaml\n    auth:\n      tokens: [{sha256: " + zeroHash + ", subject: t}]\n"

const zeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// TestConfigErrors: every bad config is refused at start-up with a message naming the key.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body string
		env        map[string]string
		want       string
	}{
		{"both selections", minimal + "endpoint_groups: [core]\nendpoints: [health]\n", nil, "mutually exclusive"},
		{"unknown group", minimal + "endpoint_groups: [core, tasks]\n", nil, `endpoint_groups: unknown group "tasks"`},
		{"unknown endpoint", minimal + "endpoints: [health, run]\n", nil, `endpoints: unknown endpoint "run"`},
		{"reserved port 8012", minimal + "port: 8012\n", nil, "port: 8012 is reserved"},
		{"reserved port 8022", minimal + "port: 8022\n", nil, "port: 8022 is reserved"},
		{"reserved port 8112", minimal + "port: 8112\n", nil, "port: 8112 is reserved"},
		{"reserved port 9090", minimal + "port: 9090\n", nil, "port: 9090 is reserved"},
		{"reserved port 9091", minimal + "port: 9091\n", nil, "port: 9091 is reserved"},
		{"port too large", minimal + "port: 70000\n", nil, "port: 70000 is out of range"},
		{"negative port", minimal + "port: -1\n", nil, "port: -1 is out of range"},
		{"port not a number", minimal + "port: http\n", nil, "cannot unmarshal"},
		{"unknown key", minimal + "requires_auths: false\n", nil, "field requires_auths not found"},
		{"unknown nested key", "backend:\n  local:\n    workspace: workspace.yaml\n    workspaces: x\n", nil, "field workspaces not found"},
		{"malformed task allowlist", minimal + "task_allowlist: [a/b/c/d]\n", nil, "task_allowlist[0]"},
		{"empty part in task allowlist", minimal + "task_allowlist: [ok, /x]\n", nil, "task_allowlist[1]"},
		{"malformed trigger allowlist", minimal + "trigger_allowlist: [a/b/c]\n", nil, "trigger_allowlist[0]"},
		{"malformed app allowlist", minimal + "app_allowlist: [\"a b\"]\n", nil, "app_allowlist[0]"},
		{"bad log level", minimal + "log_level: loud\n", nil, "log_level"},
		{"unknown backend", "backend:\n  type: cloud\n", nil, `backend.type: "cloud"`},
		{"flyte not available", "backend:\n  type: flyte\n", nil, "backend.type: flyte is not available"},
		{"no workspace", "port: 8081\n", nil, "backend.local.workspace: required"},
		{"bad token hash", "backend:\n  local:\n    workspace: workspace.yaml\n    auth:\n      tokens: [{sha256: abc, subject: x}]\n", nil, "backend.local.auth"},
		{"no way to authenticate", "backend:\n  local:\n    workspace: workspace.yaml\n", nil, "no caller could authenticate"},
		{"negative timeout", minimal + "read_timeout: -1s\n", nil, "read_timeout"},
		{"bad public url", minimal + "public_url: ftp://x\n", nil, "public_url"},
		{"env port not a number", minimal, map[string]string{"FLYTE_WEBHOOK_PORT": "eighty"}, "FLYTE_WEBHOOK_PORT"},
		{"env reserved port", minimal, map[string]string{"FLYTE_WEBHOOK_PORT": "9090"}, "port: 9090 is reserved"},
		{"env requires_auth", minimal, map[string]string{"FLYTE_WEBHOOK_REQUIRES_AUTH": "maybe"}, "FLYTE_WEBHOOK_REQUIRES_AUTH"},
		{"env unknown group", minimal, map[string]string{"FLYTE_WEBHOOK_ENDPOINT_GROUPS": "core,nope"}, `unknown group "nope"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := writeConfig(t, c.body)
			env := func(k string) string { return c.env[k] }
			_, err := loadConfig(p, env)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestConfigDefaultsAndOverrides(t *testing.T) {
	t.Parallel()
	p := writeConfig(t, minimal)
	c, err := loadConfig(p, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.Host != "127.0.0.1" || !*c.RequiresAuth || c.Name != "flyte-webhook" || c.PublicURL != "http://127.0.0.1:8080" {
		t.Fatalf("defaults: %+v", c)
	}
	if c.EndpointGroups != nil || c.Endpoints != nil {
		t.Fatalf("default selection should be everything")
	}
	if want := filepath.Join(filepath.Dir(p), "workspace.yaml"); c.Backend.Local.Workspace != want {
		t.Fatalf("workspace %q, want it resolved against the config file: %q", c.Backend.Local.Workspace, want)
	}
	if c.Backend.Local.Auth.AllowAnonymous {
		t.Fatal("anonymous callers allowed by default")
	}
	env := map[string]string{"FLYTE_WEBHOOK_PORT": "18080", "FLYTE_WEBHOOK_REQUIRES_AUTH": "false", "FLYTE_WEBHOOK_ENDPOINT_GROUPS": "core, task", "FLYTE_WEBHOOK_NAME": "ci-hook"}
	c, err = loadConfig(p, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 18080 || *c.RequiresAuth || strings.Join(c.EndpointGroups, ",") != "core,task" || c.Name != "ci-hook" {
		t.Fatalf("env overrides not applied: %+v", c)
	}
	if !c.Backend.Local.Auth.AllowAnonymous {
		t.Fatal("requires_auth false should let the local backend accept anonymous callers")
	}
	// Key files of JWT verification resolve against the config file too.
	p2 := writeConfig(t, "backend:\n  local:\n    workspace: workspace.yaml\n    auth:\n      jwt: {issuer: i, audience: a, jwks_file: keys.json}\n")
	if err := os.WriteFile(filepath.Join(filepath.Dir(p2), "keys.json"), []byte(`{"keys": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	// (An empty key set is then refused; the path it names is what matters here.)
	c2, err := loadConfig(p2, noEnv)
	if c2.Backend.Local == nil || c2.Backend.Local.Auth.JWT.JWKSFile != filepath.Join(filepath.Dir(p2), "keys.json") {
		t.Fatalf("jwks_file not resolved against the config file: %+v (err %v)", c2.Backend.Local, err)
	}
	// An empty allowlist is kept distinct from an absent one.
	p = writeConfig(t, minimal+"task_allowlist: []\n")
	if c, err = loadConfig(p, noEnv); err != nil || c.TaskAllowlist == nil || len(*c.TaskAllowlist) != 0 {
		t.Fatalf("empty allowlist: %v %v", err, c.TaskAllowlist)
	}
}
