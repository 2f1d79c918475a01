package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfigPrefetch: check-config validates backend.local.prefetch as serve does,
// naming the key at fault.
func TestCheckConfigPrefetch(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, prefetch, want string }{
		{"good", "{endpoint: \"http://127.0.0.1:5000/\", dir: models, allowed_token_keys: [HF_TOKEN, HF_TEAM_TOKEN], timeout: 2h, max_bytes: 200Gi, keep_free: 5Gi}", ""},
		{"no token keys", "{allowed_token_keys: []}", ""},
		{"unknown key", "{allowed_tokens: [HF_TOKEN]}", "backend.local.prefetch.allowed_tokens: unknown key"},
		{"endpoint scheme", "{endpoint: \"ftp://hub.example.com\"}", "prefetch.endpoint"},
		{"endpoint in clear text", "{endpoint: \"http://hub.example.com\"}", "prefetch.endpoint: endpoint \"http://hub.example.com\": http is allowed on a loopback address only"},
		{"token key", "{allowed_token_keys: [\"HF_TOKEN\\nPATH\"]}", "prefetch.allowed_token_keys[0]"},
		{"timeout", "{timeout: 60}", "backend.local.prefetch.timeout: want a duration"},
		{"negative timeout", "{timeout: -1h}", "prefetch.timeout: -1h0m0s is negative"},
		{"max_bytes", "{max_bytes: 50GB}", "prefetch.max_bytes: \"50GB\" is not a quantity"},
		{"keep_free", "{keep_free: -1Gi}", "prefetch.keep_free"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := writeConfig(t, strings.Replace(minimal, "    auth:", "    prefetch: "+c.prefetch+"\n    auth:", 1))
			if err := os.WriteFile(filepath.Join(filepath.Dir(cfg), "workspace.yaml"), []byte("tasks: []\n"), 0o600); err != nil {
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
