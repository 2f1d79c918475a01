package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
)

// These tests run the real binary with backend.type flyte against an in-test Flyte 2 control
// plane (flytetest) started in the test process: the only stand-in is the control plane,
// which cannot run here; it speaks the real wire format.

const (
	flyteE2EToken  = "tok-e2e-flyte-caller"
	flyteE2EDeploy = "tok-e2e-flyte-deployer"
)

// startFlyteFake starts the control plane with the conformance fixtures deployed in
// flytesnacks/development.
func startFlyteFake(t *testing.T, opts flytetest.Options) *flytetest.Server {
	t.Helper()
	opts.Users = map[string]flytetest.User{
		flyteE2EToken:  {Subject: "e2e", Name: "E2E"},
		flyteE2EDeploy: {Subject: "deployer"},
	}
	fake := flytetest.Start(t, opts)
	fake.Deploy(t, flyteE2EDeploy, flytetest.ConformanceTasks("flytesnacks", "development")...)
	return fake
}

// startWithConfig writes cfg (with port: set to a free port) and starts the binary on it,
// waiting until /health answers.
func startWithConfig(t *testing.T, cfg string) *proc {
	t.Helper()
	bin := buildBinary(t)
	port := freePort(t)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf("port: %d\n%s", port, cfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &proc{url: fmt.Sprintf("http://127.0.0.1:%d", port), stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "--config", path)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exitErr = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if res, err := http.Get(p.url + "/health"); err == nil {
			res.Body.Close()
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("server exited: %v\n%s", p.exitErr, p.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("server did not start:\n%s", p.stderr.String())
	return nil
}

// TestFlyteBackendE2E: the binary with backend.type flyte runs a task, follows it and reads
// its inputs and outputs through plain HTTP calls, forwarding the caller's token; SIGTERM
// stops it cleanly and the token is in no log line.
func TestFlyteBackendE2E(t *testing.T) {
	t.Parallel()
	fake := startFlyteFake(t, flytetest.Options{})
	p := startWithConfig(t, fmt.Sprintf(`log_level: debug
backend:
  type: flyte
  flyte:
    endpoint: %s
    project: flytesnacks
    domain: development
    console_url: https://console.example
`, fake.URL))
	p.token = flyteE2EToken

	status, r := p.do(t, "POST", "/run-task/development/flytesnacks/echo", `{"name": "Ada", "times": 2}`)
	if status != http.StatusOK {
		t.Fatalf("run_task: %d %v", status, r)
	}
	name, _ := r["name"].(string)
	if want := "https://console.example/v2/domain/development/project/flytesnacks/runs/" + name; r["url"] != want {
		t.Errorf("url %v, want the console page %s", r["url"], want)
	}
	done := p.waitDone(t, name)
	if done["phase"] != "succeeded" {
		t.Fatalf("run ended %v", done)
	}
	status, io := p.do(t, "GET", "/run/"+name+"/io", "")
	got, _ := json.Marshal(io)
	if status != http.StatusOK || string(got) != `{"inputs":{"name":"Ada","times":2},"name":"`+name+`","outputs":{"greeting":"hello Ada hello Ada"}}` {
		t.Fatalf("get_run_io: %d %s", status, got)
	}
	// The caller's token reached the control plane as it came, on every call.
	var calls int
	for _, c := range fake.Calls() {
		if c.Procedure == "/flyteidl2.task.TaskService/DeployTask" {
			continue
		}
		calls++
		if c.Header.Get("Authorization") != "Bearer "+flyteE2EToken {
			t.Errorf("%s got Authorization %q", c.Procedure, c.Header.Get("Authorization"))
		}
	}
	if calls == 0 {
		t.Fatal("the control plane received no call from the binary")
	}
	req, _ := http.NewRequest("GET", p.url+"/me", nil)
	req.Header.Set("Authorization", "Bearer not-"+flyteE2EToken)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an unknown token: %v %v", res, err)
	} else {
		res.Body.Close()
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not stop after SIGTERM")
	}
	logs := p.stderr.String()
	if p.exitErr != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", p.exitErr, logs)
	}
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if !strings.Contains(lines[len(lines)-1], `"msg":"stopped"`) {
		t.Errorf("the last log line is not \"stopped\":\n%s", logs)
	}
	if !strings.Contains(logs, `"flyte_endpoint":"`+fake.URL+`"`) {
		t.Errorf("the start-up line does not show the flyte endpoint:\n%s", logs)
	}
	if strings.Contains(logs, flyteE2EToken) {
		t.Error("the caller's token reached the log")
	}
}

// TestFlyteConfigRefusedAtStart: a bad backend.flyte section stops the binary at start, with
// a non-zero exit and a message naming the key; so does a service identity whose token
// endpoint the control plane does not publish (found out by asking it at start).
func TestFlyteConfigRefusedAtStart(t *testing.T) {
	t.Parallel()
	fake := startFlyteFake(t, flytetest.Options{}) // no OAuth2: it publishes no token endpoint
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, flyte, want string }{
		{"no endpoint", "project: p\n    domain: d", "backend.flyte.endpoint: required"},
		{"endpoint not http", "endpoint: grpc://flyte:8089\n    project: p\n    domain: d", `backend.flyte.endpoint: "grpc://flyte:8089": want an http:// or https:// URL`},
		{"no project", "endpoint: " + fake.URL + "\n    domain: d", "backend.flyte.project: required"},
		{"unknown key", "endpoint: " + fake.URL + "\n    project: p\n    domain: d\n    insecure: true", "backend.flyte.insecure: unknown key"},
		{"negative timeout", "endpoint: " + fake.URL + "\n    project: p\n    domain: d\n    timeout: -1s", "backend.flyte.timeout: -1s is negative"},
		{"tls on http", "endpoint: " + fake.URL + "\n    project: p\n    domain: d\n    tls: {insecure_skip_verify: true}", "backend.flyte.tls: set for a plaintext"},
		{"token endpoint not published", "endpoint: " + fake.URL + "\n    project: p\n    domain: d\n    service_identity: {client_id: hook, client_secret_file: " + secret + "}",
			"flyte.service_identity.token_url: required"},
	}
	bin := buildBinary(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "config.yaml")
			cfg := fmt.Sprintf("port: %d\nbackend:\n  type: flyte\n  flyte:\n    %s\n", freePort(t), c.flyte)
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, "serve", "--config", path).CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("serve with a bad flyte config: %v (want a non-zero exit)\n%s", err, out)
			}
			if !strings.Contains(string(out), c.want) {
				t.Errorf("the message does not name the key (%s):\n%s", c.want, out)
			}
		})
	}
}

// TestFlyteExampleConfig: examples/flyte.yaml, which the README points at, stays a config the
// binary accepts.
func TestFlyteExampleConfig(t *testing.T) {
	t.Parallel()
	path := filepath.Join(repoRoot(t), "examples", "flyte.yaml")
	if code, out, errs := runCLI(t, "check-config", path); code != 0 || !strings.Contains(out, "(flyte backend,") {
		t.Fatalf("check-config %s: %d %s %s", path, code, out, errs)
	}
}
