package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb, noEnv)
	return code, out.String(), errb.String()
}

func TestCheckConfig(t *testing.T) {
	t.Parallel()
	good := writeConfig(t, minimal)
	if code, out, errs := runCLI(t, "check-config", good); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("good config: %d %s %s", code, out, errs)
	}
	bad := writeConfig(t, minimal+"port: 9091\n")
	code, _, errs := runCLI(t, "check-config", bad)
	if code == 0 || !strings.Contains(errs, "port: 9091 is reserved") {
		t.Fatalf("bad config: %d %s", code, errs)
	}
	missing := writeConfig(t, strings.Replace(minimal, "workspace.yaml", "nope.yaml", 1))
	if code, _, errs := runCLI(t, "check-config", missing); code == 0 || !strings.Contains(errs, "backend.local.workspace") {
		t.Fatalf("missing workspace: %d %s", code, errs)
	}
	if code, _, _ := runCLI(t, "check-config"); code == 0 {
		t.Fatal("check-config without a file succeeded")
	}
	if code, _, errs := runCLI(t, "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Fatalf("unknown command: %d %s", code, errs)
	}
}

func TestOpenAPICommand(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, minimal+"endpoint_groups: [core, task]\ntitle: Ops hook\n")
	code, out, errs := runCLI(t, "openapi", "--config", cfg)
	if code != 0 {
		t.Fatalf("%d %s", code, errs)
	}
	var doc struct {
		Info  struct{ Title string }
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, item := range doc.Paths {
		for _, op := range item {
			ids = append(ids, op.OperationID)
		}
	}
	sort.Strings(ids)
	if doc.Info.Title != "Ops hook" || strings.Join(ids, ",") != "get_task,health,me,run_task" {
		t.Fatalf("title %q, operations %v", doc.Info.Title, ids)
	}
	code, out, _ = runCLI(t, "openapi", "--config", cfg, "--yaml")
	if code != 0 || !strings.Contains(out, "operationId: run_task") || strings.Contains(out, "abort_run") {
		t.Fatalf("yaml: %d\n%s", code, out)
	}
}

func TestTokenCommand(t *testing.T) {
	t.Parallel()
	code, out, _ := runCLI(t, "token", "--subject", "ci", "--name", "CI bot")
	if code != 0 {
		t.Fatal(code)
	}
	tok := regexp.MustCompile(`token \(shown once, keep it secret\): (\S+)`).FindStringSubmatch(out)
	hash := regexp.MustCompile(`sha256: ([0-9a-f]{64})`).FindStringSubmatch(out)
	if tok == nil || hash == nil || !strings.Contains(out, `subject: "ci"`) {
		t.Fatalf("output:\n%s", out)
	}
	sum := sha256.Sum256([]byte(tok[1]))
	if hex.EncodeToString(sum[:]) != hash[1] {
		t.Fatal("the printed hash is not the token's SHA-256")
	}
}

// TestSIGHUPReload: the real binary reloads its workspace on SIGHUP and keeps the old one
// when the new file is broken.
func TestSIGHUPReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "workspace.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ws := filepath.Join(dir, "workspace.yaml")
	if err := os.WriteFile(ws, src, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(repoRoot(t), "examples", "tasks"), filepath.Join(dir, "tasks")); err != nil {
		t.Fatal(err)
	}
	p := startServerOn(t, ws, t.TempDir(), "")
	if status, _ := p.do(t, "GET", "/task/development/examples/greet", ""); status != 200 {
		t.Fatalf("greet: %d", status)
	}
	reload := func() {
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	// A broken file: the old workspace stays, the server stays up.
	if err := os.WriteFile(ws, []byte("tasks: [{oops"), 0o600); err != nil {
		t.Fatal(err)
	}
	reload()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), "workspace reload failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload failure logged:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status, _ := p.do(t, "GET", "/task/development/examples/greet", ""); status != 200 {
		t.Fatalf("greet after a broken reload: %d", status)
	}
	// A new version: it becomes the latest.
	if err := os.WriteFile(ws, []byte(string(src)+greetV2), 0o600); err != nil {
		t.Fatal(err)
	}
	reload()
	deadline = time.Now().Add(10 * time.Second)
	for {
		_, task := p.do(t, "GET", "/task/development/examples/greet", "")
		if task["version"] == "v2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("greet v2 not the latest after SIGHUP: %v\n%s", task, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const greetV2 = `
  - domain: development
    project: examples
    name: greet
    version: v2
    inputs:
      - {name: name, type: string, default: world}
      - {name: times, type: integer, default: 1}
    outputs:
      - {name: greeting, type: string}
    command: [node, tasks/greet.mjs]
`
