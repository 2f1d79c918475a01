package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// restoreApp is a Node HTTP server that starts a child in its process group (a `sleep`, as
// an app's worker would be) and says, on /pids, its own pid and the child's.
const restoreApp = `import http from "node:http";
import { spawn } from "node:child_process";
const child = spawn("sleep", ["600"], { stdio: "ignore" });
http.createServer((req, res) => {
  res.setHeader("Content-Type", "application/json");
  res.end(JSON.stringify(req.url === "/pids" ? { pid: process.pid, child: child.pid } : { ok: true }));
}).listen(Number(process.env.PORT), "127.0.0.1");
`

const restoreWorkspace = `tasks: []
apps:
  - name: restore-e2e
    domain: development
    project: e2e
    command: [node, app.mjs]
    health_path: /healthz
`

// TestAppsRestoredAfterKill: kill -9 the real server while its app runs. The app's process
// dies with the server, what it started is killed when the next server opens the data dir,
// and the app, wanted active, is started again and answers; after a SIGTERM of that server
// no process of the app is left.
func TestAppsRestoredAfterKill(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig and /proc are Linux features")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	t.Parallel()
	dir := t.TempDir()
	for name, body := range map[string]string{"workspace.yaml": restoreWorkspace, "app.mjs": restoreApp} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ws, data := filepath.Join(dir, "workspace.yaml"), filepath.Join(dir, "data")
	extra := "    abort_grace: 1s\n"
	p := startServerOn(t, ws, data, extra)
	if status, r := p.do(t, "POST", "/app/restore-e2e/activate?wait=true", ""); status != 200 || r["is_active"] != true {
		t.Fatalf("activate: %d %v\n%s", status, r, p.stderr.String())
	}
	first := appPids(t, p)

	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		t.Fatal("the server did not die")
	}
	waitPidsGone(t, "the app's process outlived its killed server (Pdeathsig)", first.Pid)
	if !pidAlive(first.Child) {
		t.Fatalf("the app's child %d died with the server: this test would prove nothing", first.Child)
	}

	q := startServerOn(t, ws, data, extra)
	defer func() {
		if t.Failed() {
			t.Logf("first server:\n%s\nrestarted server:\n%s", p.stderr.String(), q.stderr.String())
		}
	}()
	waitPidsGone(t, "what the app started outlived the restart", first.Child)
	deadline := time.Now().Add(60 * time.Second)
	for {
		status, r := q.do(t, "GET", "/app/restore-e2e", "")
		if status == 200 && r["is_active"] == true && r["status"] == "running" && r["revision"] == 1.0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app was not restored: %d %v", status, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
	second := appPids(t, q)
	if second.Pid == first.Pid {
		t.Fatalf("the same process after a restart: %d", second.Pid)
	}

	if err := q.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-q.exited:
	case <-time.After(60 * time.Second):
		t.Fatal("the restarted server did not stop")
	}
	waitPidsGone(t, "an app's process outlived its server's stop", second.Pid, second.Child)
}

type pids struct{ Pid, Child int }

func appPids(t *testing.T, p *proc) pids {
	t.Helper()
	status, r := p.do(t, "POST", "/app/restore-e2e/call?path=/pids", "")
	pid, _ := r["pid"].(float64)
	child, _ := r["child"].(float64)
	if status != 200 || pid == 0 || child == 0 {
		t.Fatalf("call /pids: %d %v", status, r)
	}
	return pids{int(pid), int(child)}
}

// pidAlive reports whether pid is a live process (a zombie is dead).
func pidAlive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && !bytes.Contains(stat, []byte(") Z "))
}

func waitPidsGone(t *testing.T, why string, pids ...int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		left := 0
		for _, pid := range pids {
			if pidAlive(pid) {
				left++
			}
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Fatal(fmt.Sprintf("%s: %v", why, pids))
		}
	}
}
