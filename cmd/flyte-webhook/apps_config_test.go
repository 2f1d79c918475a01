package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfigApps: check-config refuses, as serve does, an app on the webhook's own port
// or under the webhook's own name: the local backend is told both.
func TestCheckConfigApps(t *testing.T) {
	t.Parallel()
	const app = "tasks: []\napps:\n  - {name: %s, domain: d, project: p, command: [x], port: %s}\n"
	cases := []struct{ name, config, workspace, want string }{
		{"the webhook's port", minimal, "web 8080", "apps[0] (web): port: 8080 is the webhook's own port"},
		{"another port", minimal, "web 8081", ""},
		{"the webhook's port, set in the config", minimal + "port: 8081\n", "web 8081", "port: 8081 is the webhook's own port"},
		{"the webhook's name", minimal + "name: ops-webhook\n", "ops-webhook auto", "the webhook's own name"},
		{"a reserved port", minimal, "web 9090", "port: 9090 is reserved by Flyte"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := writeConfig(t, c.config)
			name, port, _ := strings.Cut(c.workspace, " ")
			ws := strings.Replace(strings.Replace(app, "%s", name, 1), "%s", port, 1)
			if err := os.WriteFile(filepath.Join(filepath.Dir(cfg), "workspace.yaml"), []byte(ws), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errs := runCLI(t, "check-config", cfg)
			switch {
			case c.want == "" && code != 0:
				t.Fatalf("refused: %d %s%s", code, out, errs)
			case c.want != "" && (code != 1 || !strings.Contains(errs, c.want)):
				t.Fatalf("%d %s%s, want %q", code, out, errs, c.want)
			}
		})
	}
}
