package local_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
)

// TestWorkspaceApps: what the workspace's apps key accepts, and what it refuses at load,
// each refusal naming the app and the key.
func TestWorkspaceApps(t *testing.T) {
	t.Parallel()
	const base = "tasks: []\napps:\n  - {name: hello, domain: d, project: p, command: [node, app.mjs]"
	const other = "  - {name: other, domain: d, project: p, command: [x]"
	cases := []struct{ name, body, want string }{
		{"minimal", base + "}\n", ""},
		{"everything", base + ", args: [--x], port: 8000, health_path: /healthz, env: {A: b}, secrets: [TOKEN], workdir: sub, start_timeout: 1m, forward_credentials: true}\n", ""},
		{"port auto", base + ", port: auto}\n", ""},
		{"two apps on auto ports", base + ", port: auto}\n" + other + ", port: auto}\n", ""},
		{"bad name", "tasks: []\napps:\n  - {name: Hello_1, domain: d, project: p, command: [x]}\n", `apps[0] (Hello_1): name: "Hello_1" must be 1-63 lower-case letters`},
		{"name ending in -", "tasks: []\napps:\n  - {name: hello-, domain: d, project: p, command: [x]}\n", `name: "hello-"`},
		{"name too long", "tasks: []\napps:\n  - {name: " + strings.Repeat("a", 64) + ", domain: d, project: p, command: [x]}\n", "must be 1-63"},
		{"duplicate name", base + "}\n" + base[len("tasks: []\napps:\n"):] + "}\n", `apps[1]: name: "hello" is declared twice`},
		{"the webhook's name", "tasks: []\napps:\n  - {name: my-webhook, domain: d, project: p, command: [x]}\n", "the webhook's own name"},
		{"no domain", "tasks: []\napps:\n  - {name: a, project: p, command: [x]}\n", "apps[0] (a): domain"},
		{"no command", "tasks: []\napps:\n  - {name: a, domain: d, project: p}\n", "apps[0] (a): command: required"},
		{"reserved port 8012", base + ", port: 8012}\n", "port: 8012 is reserved by Flyte"},
		{"reserved port 8022", base + ", port: 8022}\n", "port: 8022 is reserved by Flyte"},
		{"reserved port 8112", base + ", port: 8112}\n", "port: 8112 is reserved by Flyte"},
		{"reserved port 9090", base + ", port: 9090}\n", "port: 9090 is reserved by Flyte"},
		{"reserved port 9091", base + ", port: 9091}\n", "port: 9091 is reserved by Flyte"},
		{"the webhook's port", base + ", port: 8080}\n", "port: 8080 is the webhook's own port"},
		{"a port two apps declare", base + ", port: 8000}\n" + other + ", port: 8000}\n", "apps[1] (other): port: 8000 is app hello's port too"},
		{"port 0", base + ", port: 0}\n", "apps[0].port: want a port number 1-65535 or auto"},
		{"port too high", base + ", port: 65536}\n", "want a port number 1-65535 or auto"},
		{"port not a number", base + ", port: eighty}\n", `got "eighty"`},
		{"health_path relative", base + ", health_path: healthz}\n", `health_path: "healthz" must start with "/"`},
		{"health_path with a query", base + ", health_path: '/h?x=1'}\n", "without a query"},
		{"health_path with ..", base + ", health_path: /a/../b}\n", "a plain path"},
		{"env PORT", base + ", env: {PORT: '1'}}\n", "env: PORT is set by the server"},
		{"env FLYTE_WEBHOOK_", base + ", env: {FLYTE_WEBHOOK_APP: x}}\n", "env: FLYTE_WEBHOOK_APP is set by the server"},
		{"bad env name", base + ", env: {1A: x}}\n", `env: "1A" is not an environment variable name`},
		{"bad secret", base + ", secrets: [a-b]}\n", `secrets[0]: "a-b" is not an environment variable name`},
		{"start_timeout negative", base + ", start_timeout: -1s}\n", "start_timeout: must be positive"},
		{"start_timeout bare number", base + ", start_timeout: 30}\n", `apps[0].start_timeout: want a duration like "30s"`},
		{"unknown key", base + ", healthpath: /}\n", "apps[0].healthpath: unknown key; the keys here are name, domain, project, command, args, port, health_path, env, secrets, workdir, start_timeout, forward_credentials"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ws := filepath.Join(t.TempDir(), "w.yaml")
			if err := os.WriteFile(ws, []byte(c.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := local.CheckWorkspace(local.Config{Workspace: ws, WebhookName: "my-webhook", WebhookPort: 8080})
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("err = %v\nwant it to contain %q", err, c.want)
			}
		})
	}
}
