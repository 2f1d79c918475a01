package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
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
	if code, _, _ := runCLI(t, "check-config"); code != 2 {
		t.Fatal("check-config without a file: want a usage error")
	}
	if code, _, errs := runCLI(t, "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Fatalf("unknown command: %d %s", code, errs)
	}
}

// TestCheckConfigLoadsTheWorkspace: check-config loads the workspace as serve would, and
// warns when the config serves no tasks.
func TestCheckConfigLoadsTheWorkspace(t *testing.T) {
	t.Parallel()
	good := writeConfig(t, minimal) // its workspace is "tasks: []"
	code, out, errs := runCLI(t, "check-config", good)
	if code != 0 || !strings.Contains(out, good+": warning: backend.local.workspace: "+filepath.Join(filepath.Dir(good), "workspace.yaml")+" declares no tasks") || !strings.HasSuffix(out, "listening on 127.0.0.1:8080)\n") {
		t.Fatalf("workspace without tasks: %d\n%s%s", code, out, errs)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(good), "workspace.yaml"), []byte("tasks:\n  - {domain: d, project: p, name: n, version: v, command: [x], bogus: 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCLI(t, "check-config", good); code != 1 || !strings.Contains(errs, "workspace.yaml:2: tasks[0].bogus: unknown key") {
		t.Fatalf("bad workspace: %d %s", code, errs)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(good), "workspace.yaml"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCLI(t, "check-config", good); code != 1 || !strings.Contains(errs, "no tasks key") {
		t.Fatalf("empty workspace: %d %s", code, errs)
	}
	// The example config has no tokens: make run starts it with --dev-token.
	example := filepath.Join(repoRoot(t), "examples", "local.yaml")
	if code, _, errs := runCLI(t, "check-config", example); code != 1 || !strings.Contains(errs, "no caller could authenticate") {
		t.Fatalf("example without --dev-token: %d %s", code, errs)
	}
	if code, out, errs := runCLI(t, "check-config", "--dev-token", example); code != 0 || strings.Contains(out, "warning") || !strings.Contains(out, "ok") {
		t.Fatalf("example with --dev-token: %d\n%s%s", code, out, errs)
	}
	noWorkspace := writeConfig(t, "name: ops-webhook\nrequires_auth: false\n")
	code, out, errs = runCLI(t, "check-config", noWorkspace)
	if code != 0 || strings.Count(out, "warning") != 1 || !strings.Contains(out, "warning: backend.local.workspace is not set: no tasks are served") {
		t.Fatalf("no workspace: %d\n%s%s", code, out, errs)
	}
}

// TestHelp: --help, -h and help list every command and exit 0; a command's --help lists its
// flags.
func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-help"}, {"help"}} {
		code, out, errs := runCLI(t, args...)
		if code != 0 || errs != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errs)
		}
		for _, c := range commands {
			if !strings.Contains(out, "\n  flyte-webhook "+c.name) {
				t.Errorf("%v does not list %s:\n%s", args, c.name, out)
			}
		}
	}
	for _, c := range commands {
		if c.name == "help" {
			continue
		}
		code, out, errs := runCLI(t, c.name, "--help")
		if code != 0 || !strings.HasPrefix(out, "Usage: flyte-webhook "+c.name) || errs != "" {
			t.Errorf("%s --help: exit %d\n%s%s", c.name, code, out, errs)
		}
	}
	if _, out, _ := runCLI(t, "serve", "--help"); !strings.Contains(out, "-dev-token") || !strings.Contains(out, "-config") {
		t.Errorf("serve --help lists no flags:\n%s", out)
	}
	if code, _, errs := runCLI(t, "serve", "--bogus"); code != 2 || !strings.Contains(errs, "flyte-webhook serve: flag provided but not defined: -bogus") {
		t.Errorf("bad flag: %d %s", code, errs)
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

// TestOpenAPINeedsNoCredentials: printing the spec needs only what filters it; a config
// with no tokens and no workspace prints, bad selections are still refused.
func TestOpenAPINeedsNoCredentials(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, "endpoint_groups: [core]\n")
	if code, out, errs := runCLI(t, "openapi", "--config", cfg); code != 0 || !strings.Contains(out, `"operationId": "health"`) || strings.Contains(out, "run_task") {
		t.Fatalf("%d %s", code, errs)
	}
	cfg = writeConfig(t, "endpoint_groups: [nope]\n")
	if code, _, errs := runCLI(t, "openapi", "--config", cfg); code != 1 || !strings.Contains(errs, `endpoint_groups: unknown group "nope"`) {
		t.Fatalf("bad group: %d %s", code, errs)
	}
	cfg = writeConfig(t, "endpoint_group: [core]\n")
	if code, _, errs := runCLI(t, "openapi", "--config", cfg); code != 1 || !strings.Contains(errs, "endpoint_group: unknown key") {
		t.Fatalf("unknown key: %d %s", code, errs)
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
// when the new file is broken or empty; each reload logs exactly one line.
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
	// reload sends SIGHUP and waits for the reload's log line (the n-th line about reloads).
	reloads := func() int { return strings.Count(p.stderr.String(), `"msg":"workspace reload`) }
	reload := func(n int) {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); reloads() < n; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("reload %d not logged:\n%s", n, p.stderr.String())
			}
		}
	}
	// A broken file, then a truncated one: the old workspace stays, the server stays up.
	for i, body := range []string{"tasks: [{oops", ""} {
		if err := os.WriteFile(ws, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		reload(i + 1)
		if status, _ := p.do(t, "GET", "/task/development/examples/greet", ""); status != 200 {
			t.Fatalf("greet after the refused reload of %q: %d", body, status)
		}
	}
	// A new version, first in the list (the file has more keys after tasks): it becomes the
	// latest, being registered last.
	if err := os.WriteFile(ws, []byte(strings.Replace(string(src), "\ntasks:\n", "\ntasks:"+greetV2, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	reload(3)
	if _, task := p.do(t, "GET", "/task/development/examples/greet", ""); task["version"] != "v2" {
		t.Fatalf("greet v2 not the latest after SIGHUP: %v\n%s", task, p.stderr.String())
	}
	// One line per reload, no more: stop the server so every line is written, then count.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	logs := p.stderr.String()
	if failed, ok := strings.Count(logs, "reload failed"), strings.Count(logs, `"msg":"workspace reloaded"`); failed != 2 || ok != 1 || reloads() != 3 {
		t.Fatalf("want 2 lines for 2 refused reloads and 1 for the reload, got %d and %d:\n%s", failed, ok, logs)
	}
	if !strings.Contains(logs, "no tasks key") {
		t.Fatalf("the truncated file's refusal does not say why:\n%s", logs)
	}
}

// TestNameOnlyConfig: a config with only a name serves (no tasks, one warning) when it has a
// way to authenticate; without one it is refused, saying how to make a token.
func TestNameOnlyConfig(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	port := freePort(t)
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("name: ops-webhook\nport: %d\n", port)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "serve", "--config", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "flyte-webhook token --subject ci") || !strings.Contains(string(out), "--dev-token") {
		t.Fatalf("no way to authenticate: %v\n%s", err, out)
	}
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	cmd := exec.Command(bin, "serve", "--config", cfg, "--dev-token")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get(url + "/health"); err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("did not start:\n%s", stderr.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	if n := strings.Count(stderr.String(), "backend.local.workspace is not set"); n != 1 {
		t.Fatalf("want one warning about the missing workspace, got %d:\n%s", n, stderr.String())
	}
}

// TestVersion: the real binary says what it was built from: the module, the commit (and
// whether the tree was modified) and the Go version. Go stamps the commit only when the
// module sits in a git checkout with a .git directory (not a git worktree, whose .git is a
// file); elsewhere the binary must say it does not know.
func TestVersion(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(buildBinary(t), "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	v := string(out)
	if !strings.HasPrefix(v, "flyte-webhook ") || !strings.Contains(v, "\nmodule:   github.com/flyte-webhook/flyte-webhook\n") ||
		!strings.Contains(v, "\ngo:       "+runtime.Version()+" ") {
		t.Fatalf("version:\n%s", v)
	}
	want := "\nrevision: unknown"
	head, err := exec.Command("git", "-C", repoRoot(t), "rev-parse", "HEAD").Output()
	if st, serr := os.Stat(filepath.Join(repoRoot(t), ".git")); err == nil && serr == nil && st.IsDir() {
		want = "\nrevision: " + strings.TrimSpace(string(head))
		status, err := exec.Command("git", "-C", repoRoot(t), "status", "--porcelain").Output()
		if err != nil {
			t.Fatal(err)
		}
		if len(status) > 0 {
			want += " (modified"
		} else {
			want += "\n"
		}
	}
	if !strings.Contains(v, want) {
		t.Fatalf("want %q in:\n%s", want, v)
	}
}

// TestVersionText: what version prints for each kind of build information.
func TestVersionText(t *testing.T) {
	t.Parallel()
	main := debug.Module{Path: "github.com/flyte-webhook/flyte-webhook", Version: "v0.0.0-20261204140511-b0e867947b3c+dirty"}
	cases := []struct {
		name     string
		settings []debug.BuildSetting
		want     string
	}{
		{"modified", []debug.BuildSetting{{Key: "vcs.revision", Value: "b0e8679"}, {Key: "vcs.time", Value: "2026-12-04T14:05:11Z"}, {Key: "vcs.modified", Value: "true"}},
			"revision: b0e8679 (modified: built with uncommitted changes)\ntime:     2026-12-04T14:05:11Z\n"},
		{"clean", []debug.BuildSetting{{Key: "vcs.revision", Value: "b0e8679"}, {Key: "vcs.modified", Value: "false"}}, "revision: b0e8679\ngo:"},
		{"no vcs", nil, "revision: unknown (not built in a git checkout, or built with -buildvcs=false)\ngo:"},
	}
	for _, c := range cases {
		var b strings.Builder
		writeVersion(&b, &debug.BuildInfo{GoVersion: "go1.26.8", Main: main, Settings: c.settings}, true)
		if !strings.HasPrefix(b.String(), "flyte-webhook "+main.Version+"\nmodule:   "+main.Path+"\n") || !strings.Contains(b.String(), c.want) {
			t.Errorf("%s:\n%s\nwant %q", c.name, b.String(), c.want)
		}
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
