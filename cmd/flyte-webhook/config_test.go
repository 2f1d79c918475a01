package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
	"github.com/flyte-webhook/flyte-webhook/impl"
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

// goType matches a qualified Go type name (main.Config, local.taskSpec, time.Duration):
// YAML keys are lower case, so "backend.local.bogus" does not match.
var goType = regexp.MustCompile(`\b(main|local|identity|impl|time|yaml)\.([A-Z]|[a-z]+[A-Z])`)

// TestConfigDecodeErrors: keys and values the config file cannot have are named by their
// YAML path and line, with the keys allowed there; never by a Go type.
func TestConfigDecodeErrors(t *testing.T) {
	t.Parallel()
	localKeys := "workspace, data_dir, scratch_dir, concurrency, log_max_bytes, abort_grace, idempotency_ttl, retention, max_interruptions, call_timeout, call_max_bytes, builds, prefetch, auth"
	cases := []struct{ name, body, want string }{
		{"top-level key", minimal + "requires_auths: false\n",
			":6: requires_auths: unknown key; the keys here are name, title, description, host, port, public_url, requires_auth, endpoint_groups, endpoints, task_allowlist, app_allowlist, trigger_allowlist, max_body_bytes, read_timeout, write_timeout, idle_timeout, shutdown_timeout, log_level, follow, backend"},
		{"backend key", "backend:\n  typ: local\n", ":2: backend.typ: unknown key; the keys here are type, local, flyte"},
		{"local key (inline fields)", "backend:\n  local:\n    workspace: workspace.yaml\n    bogus: x\n",
			":4: backend.local.bogus: unknown key; the keys here are " + localKeys},
		{"builds key", "backend:\n  local:\n    builds:\n      builder_flag: [--x]\n",
			":4: backend.local.builds.builder_flag: unknown key; the keys here are builder, builder_flags, build_flags, push_flags, base_image, python_version, base_image_allowlist, registry, registry_secret, timeout"},
		{"builds duration", "backend:\n  local:\n    builds:\n      timeout: 60\n", `:4: backend.local.builds.timeout: want a duration like "30s" or "1h30m", got "60"`},
		{"auth key", "backend:\n  local:\n    auth:\n      token: []\n", ":4: backend.local.auth.token: unknown key; the keys here are tokens, jwt"},
		{"token list item", "backend:\n  local:\n    auth:\n      tokens:\n        - {sha256: " + zeroHash + ", subject: a}\n        - {sha: x, subject: b}\n",
			":6: backend.local.auth.tokens[1].sha: unknown key; the keys here are sha256, subject, name"},
		{"jwt key", "backend:\n  local:\n    auth:\n      jwt: {issuer: i, audiences: [a]}\n", ":4: backend.local.auth.jwt.audiences: unknown key; the keys here are issuer, audience, secret_env, secret_file, public_key_file, jwks_file, subject_claim, name_claim, leeway"},
		{"duration", minimal + "read_timeout: 30\n", `:6: read_timeout: want a duration like "30s" or "1h30m", got "30"`},
		{"prefetch key", "backend:\n  local:\n    prefetch:\n      allowed_tokens: []\n",
			":4: backend.local.prefetch.allowed_tokens: unknown key; the keys here are endpoint, dir, allowed_token_keys, timeout, probe_timeout, max_bytes, keep_free"},
		{"local duration", "backend:\n  local:\n    abort_grace: soon\n", `:3: backend.local.abort_grace: want a duration like "30s" or "1h30m", got "soon"`},
		{"list", minimal + "endpoint_groups: core\n", `:6: endpoint_groups: want a list, got "core"`},
		{"allowlist item", minimal + "task_allowlist: [[a]]\n", `:6: task_allowlist[0]: want a string, got a list`},
		{"bool", minimal + "requires_auth: yes please\n", `:6: requires_auth: want true or false, got "yes please"`},
		{"set twice", minimal + "port: 1\nport: 2\n", ":7: port: set twice (first on line 6)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := writeConfig(t, c.body)
			_, err := loadConfig(p, noEnv)
			if err == nil || !strings.Contains(err.Error(), p+c.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, p+c.want)
			}
			if goType.MatchString(err.Error()) || strings.Contains(err.Error(), "unmarshal") {
				t.Fatalf("a Go type leaked: %v", err)
			}
		})
	}
}

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
		{"port not a number", minimal + "port: http\n", nil, `:6: port: want an integer, got "http"`},
		{"malformed task allowlist", minimal + "task_allowlist: [a/b/c/d]\n", nil, "task_allowlist[0]"},
		{"empty part in task allowlist", minimal + "task_allowlist: [ok, /x]\n", nil, "task_allowlist[1]"},
		{"malformed trigger allowlist", minimal + "trigger_allowlist: [a/b/c]\n", nil, "trigger_allowlist[0]"},
		{"malformed app allowlist", minimal + "app_allowlist: [\"a b\"]\n", nil, "app_allowlist[0]"},
		{"bad log level", minimal + "log_level: loud\n", nil, "log_level"},
		{"max_wait too long", minimal + "follow: {max_wait: 2h}\n", nil, "follow.max_wait: 2h0m0s is out of range"},
		{"max_wait too short", minimal + "follow: {max_wait: 10ms}\n", nil, "follow.max_wait: 10ms is out of range"},
		{"negative heartbeat", minimal + "follow: {heartbeat: -1s}\n", nil, "follow.heartbeat: must not be negative"},
		{"negative stream write timeout", minimal + "follow: {stream_write_timeout: -1s}\n", nil, "follow.stream_write_timeout: must not be negative"},
		{"negative max streams", minimal + "follow: {max_streams: -1}\n", nil, "follow.max_streams: must not be negative"},
		{"follow unknown key", minimal + "follow: {wait: 1s}\n", nil, "follow.wait: unknown key; the keys here are max_wait, heartbeat, stream_write_timeout, max_streams"},
		{"unknown backend", "backend:\n  type: cloud\n", nil, `backend.type: "cloud"`},
		{"flyte without its config", "backend:\n  type: flyte\n", nil, "backend.flyte: required for backend.type flyte"},
		{"flyte without an endpoint", "backend:\n  type: flyte\n  flyte: {project: p, domain: d}\n", nil, "backend.flyte.endpoint: required"},
		{"flyte endpoint not a URL", "backend:\n  type: flyte\n  flyte: {endpoint: \"grpc://x\", project: p, domain: d}\n", nil, "backend.flyte.endpoint: \"grpc://x\": want an http:// or https:// URL"},
		{"flyte unknown key", "backend:\n  type: flyte\n  flyte: {endpoint: \"http://x\", project: p, domain: d, insecure: true}\n", nil, "backend.flyte.insecure: unknown key"},
		{"flyte and local both", "backend:\n  type: flyte\n  local: {workspace: w.yaml}\n  flyte: {endpoint: \"http://x\", project: p, domain: d}\n", nil, "backend.local: set, but backend.type is flyte"},
		{"flyte service identity secret inline", "backend:\n  type: flyte\n  flyte: {endpoint: \"http://x\", project: p, domain: d, service_identity: {client_id: c, client_secret: s}}\n", nil, "backend.flyte.service_identity.client_secret: unknown key"},
		{"local backend's own checks", "backend:\n  local:\n    workspace: workspace.yaml\n    max_interruptions: 500\n    auth:\n      tokens: [{sha256: " + zeroHash + ", subject: t}]\n", nil, "backend.local: max_interruptions: 500 is not in 1-100"},
		{"prefetch endpoint in clear text", "backend:\n  local:\n    workspace: workspace.yaml\n    prefetch: {endpoint: \"http://hub.example.com\"}\n    auth:\n      tokens: [{sha256: " + zeroHash + ", subject: t}]\n", nil,
			"backend.local: prefetch.endpoint: endpoint \"http://hub.example.com\": http is allowed on a loopback address only"},
		{"prefetch token key", "backend:\n  local:\n    workspace: workspace.yaml\n    prefetch: {allowed_token_keys: [HF_TOKEN, \"a b\"]}\n    auth:\n      tokens: [{sha256: " + zeroHash + ", subject: t}]\n", nil,
			"backend.local: prefetch.allowed_token_keys[1]: \"a b\" is not an environment variable name"},
		{"prefetch max_bytes", "backend:\n  local:\n    workspace: workspace.yaml\n    prefetch: {max_bytes: lots}\n    auth:\n      tokens: [{sha256: " + zeroHash + ", subject: t}]\n", nil,
			"backend.local: prefetch.max_bytes: \"lots\" is not a quantity"},
		{"bad token hash", "backend:\n  local:\n    workspace: workspace.yaml\n    auth:\n      tokens: [{sha256: abc, subject: x}]\n", nil, "backend.local.auth"},
		{"no way to authenticate", "backend:\n  local:\n    workspace: workspace.yaml\n", nil,
			"requires_auth is true, but no caller could authenticate (no tokens, no jwt, no issuers). Make a token with `flyte-webhook token --subject ci` and paste the entry it prints under backend.local.auth.tokens; or name a token issuer under backend.local.auth.issuers (CI jobs' OIDC tokens); or start with --dev-token for a development token; or, on a trusted network only, set requires_auth: false"},
		{"no way to authenticate, name only", "name: ops-webhook\n", nil, "no caller could authenticate"},
		{"upper-case name", minimal + "name: My-Webhook\n", nil, `name: "My-Webhook" must be 1-63 lower-case letters, digits and '-', starting and ending with a letter or digit`},
		{"underscore in name", minimal + "name: webhook_123\n", nil, `name: "webhook_123"`},
		{"name starts with -", minimal + "name: -webhook\n", nil, `name: "-webhook"`},
		{"name ends with -", minimal + "name: webhook-\n", nil, `name: "webhook-"`},
		{"name over 63", minimal + "name: " + strings.Repeat("a", 64) + "\n", nil, `name: "aaaa`},
		{"env name", minimal, map[string]string{"FLYTE_WEBHOOK_NAME": "Ops"}, `name: "Ops"`},
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
	// Names as the seed allows them, up to the DNS label limit.
	for _, name := range []string{"a", "ops-webhook", "webhook-123", "9lives", strings.Repeat("a", 63)} {
		p := writeConfig(t, minimal+"name: "+name+"\n")
		if c, err := loadConfig(p, noEnv); err != nil || c.Name != name {
			t.Errorf("name %q refused: %v", name, err)
		}
	}
	// backend.flyte is refused for being set with backend.type local.
	p = writeConfig(t, minimal+"  flyte: {endpoint: x, project: p}\n")
	if _, err := loadConfig(p, noEnv); err == nil || !strings.Contains(err.Error(), "backend.flyte: set, but backend.type is local") {
		t.Fatalf("backend.flyte with backend.type local: %v", err)
	}
	p = writeConfig(t, minimal+"  flyte:\n")
	if _, err := loadConfig(p, noEnv); err != nil {
		t.Fatalf("an empty backend.flyte: %v", err)
	}
	// No workspace key: no tasks, a warning, not a refusal.
	p = writeConfig(t, "name: ops-webhook\nrequires_auth: false\n")
	if c, err = loadConfig(p, noEnv); err != nil || c.Backend.Local.Workspace != "" || len(c.warnings()) != 1 {
		t.Fatalf("no workspace: %v %+v %q", err, c.Backend.Local, c.warnings())
	}
	// Defaults owned by the packages that use them.
	if c.Backend.Local.DataDir != filepath.Join(filepath.Dir(p), local.DefaultDataDir) || c.MaxBodyBytes != impl.DefaultMaxBodyBytes || c.Name != "ops-webhook" {
		t.Fatalf("defaults: data_dir %q, max_body_bytes %d", c.Backend.Local.DataDir, c.MaxBodyBytes)
	}
	// Retention: 30 days unless set; 0 keeps everything, which is not the default.
	if got := c.Backend.Local.EffectiveRetention(); got != 720*time.Hour {
		t.Fatalf("default retention %s, want 720h", got)
	}
	for body, want := range map[string]time.Duration{"    retention: 0s\n": 0, "    retention: 168h\n": 168 * time.Hour} {
		p = writeConfig(t, "backend:\n  local:\n    workspace: workspace.yaml\n"+body+"    auth:\n      tokens: [{sha256: "+zeroHash+", subject: t}]\n")
		if c, err = loadConfig(p, noEnv); err != nil || c.Backend.Local.EffectiveRetention() != want {
			t.Fatalf("%s: retention %v (%v), want %s", body, c.Backend.Local, err, want)
		}
	}
	p = writeConfig(t, "backend:\n  local:\n    retention: -1h\n")
	if _, err := loadConfig(p, noEnv); err == nil || !strings.Contains(err.Error(), "retention: -1h0m0s is negative") {
		t.Fatalf("a negative retention: %v", err)
	}
	// An empty allowlist is kept distinct from an absent one.
	p = writeConfig(t, minimal+"task_allowlist: []\n")
	if c, err = loadConfig(p, noEnv); err != nil || c.TaskAllowlist == nil || len(*c.TaskAllowlist) != 0 {
		t.Fatalf("empty allowlist: %v %v", err, c.TaskAllowlist)
	}
}
