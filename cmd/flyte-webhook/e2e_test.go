package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run the real binary: built once, started as a subprocess on 127.0.0.1.

var binary struct {
	once sync.Once
	path string
	err  error
}

func buildBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "flyte-webhook-bin")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "flyte-webhook")
		// -buildvcs=auto as `make build` has it (a go env file may say false): TestVersion
		// reads the revision back.
		out, err := exec.Command("go", "build", "-race", "-buildvcs=auto", "-o", binary.path, ".").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..")
}

// proc is a running server.
type proc struct {
	cmd     *exec.Cmd
	url     string
	token   string
	stdout  *syncBuffer
	stderr  *syncBuffer
	exited  chan struct{} // closed when the process has exited; exitErr is then set
	exitErr error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const e2eToken = "fwh_e2e-test-token-0123456789"

// startServer writes a config (extra YAML appended at the top level) and starts the binary
// on the example workspace.
func startServer(t *testing.T, dataDir, extra string, args ...string) *proc {
	t.Helper()
	return startServerOn(t, filepath.Join(repoRoot(t), "examples", "workspace.yaml"), dataDir, extra, args...)
}

func startServerOn(t *testing.T, workspace, dataDir, extra string, args ...string) *proc {
	t.Helper()
	port := freePort(t)
	sum := sha256.Sum256([]byte(e2eToken))
	cfg := fmt.Sprintf(`port: %d
backend:
  local:
    workspace: %s
    data_dir: %s
    auth:
      tokens: [{sha256: %s, subject: e2e, name: E2E}]
%s`, port, workspace, dataDir, hex.EncodeToString(sum[:]), extra)
	p := startConfigured(t, port, cfg, args...)
	p.token = e2eToken
	return p
}

// startConfigured starts the binary on port with the config cfg, and waits until it answers.
func startConfigured(t *testing.T, port int, cfg string, args ...string) *proc {
	t.Helper()
	bin := buildBinary(t)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &proc{url: fmt.Sprintf("http://127.0.0.1:%d", port), stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"serve", "--config", path}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exitErr = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		// A graceful stop, so the server tidies up (its scratch directory on /dev/shm) as it
		// would in real life; SIGKILL only if it does not stop in time.
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
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

func (p *proc) do(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, p.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func (p *proc) waitDone(t *testing.T, name string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		_, r := p.do(t, "GET", "/run/"+name, "")
		if r["done"] == true {
			return r
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("run %s not done in time", name)
	return nil
}

// TestGracefulShutdown: SIGTERM lets a request that is in flight finish.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	p := startServer(t, t.TempDir(), "")
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"name": "in flight"}`
	fmt.Fprintf(conn, "POST /run-task/development/examples/greet HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", p.token, len(body), body[:5])
	time.Sleep(200 * time.Millisecond) // the server is now reading our body
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := io.WriteString(conn, body[5:]); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request lost: %v\n%s", err, p.stderr.String())
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("in-flight request: %d", res.StatusCode)
	}
	select {
	case <-p.exited:
		if p.exitErr != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", p.exitErr, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop after SIGTERM")
	}
}

// TestShutdownOrder: on SIGTERM the server stops taking requests, lets in-flight work finish,
// closes the backend (a running attempt finishes within shutdown_timeout), and logs
// "stopped" last, after all of it.
func TestShutdownOrder(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	p := startServer(t, data, "")
	status, r := p.do(t, "POST", "/run-task/development/examples/slow", `{"seconds": 2}`)
	if status != 200 {
		t.Fatalf("run_task: %d %v", status, r)
	}
	name := r["name"].(string)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, run := p.do(t, "GET", "/run/"+name, ""); run["phase"] == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run never started")
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop after SIGTERM")
	}
	if p.exitErr != nil {
		t.Fatalf("exit: %v\n%s", p.exitErr, p.stderr.String())
	}
	var last struct {
		Time time.Time `json:"time"`
		Msg  string    `json:"msg"`
	}
	lines := strings.Split(strings.TrimSpace(p.stderr.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Msg != "stopped" {
		t.Fatalf("the last line is not \"stopped\" (%v):\n%s", err, p.stderr.String())
	}
	q := startServer(t, data, "")
	_, run := q.do(t, "GET", "/run/"+name, "")
	ended, err := time.Parse(time.RFC3339Nano, fmt.Sprint(run["ended_at"]))
	if run["phase"] != "succeeded" || err != nil {
		t.Fatalf("the running attempt was not let finish: %v (%v)", run, err)
	}
	if ended.After(last.Time) {
		t.Fatalf("\"stopped\" logged at %s, before the backend was closed (the run ended at %s)", last.Time, ended)
	}
}

// TestAccessLog: one JSON line per request with the request id, operation, status and caller,
// and never the token.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	p := startServer(t, t.TempDir(), "")
	status, _ := p.do(t, "GET", "/me", "")
	if status != 200 {
		t.Fatalf("me: %d", status)
	}
	req, _ := http.NewRequest("GET", p.url+"/me", nil)
	req.Header.Set("Authorization", "Bearer wrong-token-value")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("wrong token: %d", res.StatusCode)
	}
	// Log lines are written in batches, at least every 100 ms: wait for the batch.
	var logs string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if logs = p.stderr.String(); strings.Count(logs, `"msg":"request"`) >= 2 {
			break
		}
	}
	if strings.Contains(logs, e2eToken) || strings.Contains(logs, "wrong-token-value") {
		t.Fatal("a credential reached the log")
	}
	var found bool
	for _, line := range strings.Split(logs, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "request" {
			continue
		}
		if rec["operation_id"] == "me" && rec["status"] == 200.0 && rec["caller"] == "e2e" && rec["request_id"] != "" && rec["latency_us"] != nil {
			found = true
		}
	}
	if !found {
		t.Fatalf("no access line for GET /me with operation_id, status, caller:\n%s", logs)
	}
}

// TestDevToken: --dev-token prints a token and a curl line that work.
func TestDevToken(t *testing.T) {
	t.Parallel()
	p := startServer(t, t.TempDir(), "", "--dev-token")
	var tok string
	re := regexp.MustCompile(`Bearer (fwh_[A-Za-z0-9_-]+)`)
	for i := 0; i < 100 && tok == ""; i++ {
		if m := re.FindStringSubmatch(p.stdout.String()); m != nil {
			tok = m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	if tok == "" {
		t.Fatalf("no token printed:\n%s", p.stdout.String())
	}
	p.token = tok
	status, r := p.do(t, "POST", "/run-task/development/examples/greet", `{"name": "Ada"}`)
	if status != 200 {
		t.Fatalf("the printed token does not work: %d %v", status, r)
	}
	// Stop the server so every log line is written (they go out in batches), then look.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	logs := p.stderr.String()
	if !strings.Contains(logs, `"msg":"stopped"`) {
		t.Fatalf("the log is incomplete:\n%s", logs)
	}
	if strings.Contains(logs, tok) {
		t.Fatal("the dev token reached the log")
	}
}

// tasksOf lists the pids of live processes whose environment names one of the runs (the
// tasks a server started for them, and what those started in turn).
func tasksOf(runs []string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		if !slices.ContainsFunc(runs, func(r string) bool { return bytes.Contains(env, []byte("FLYTE_WEBHOOK_RUN="+r+"\x00")) }) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && !bytes.Contains(stat, []byte(") Z ")) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// TestKillAndRestart: SIGKILL the server while runs are queued and running; after a restart
// every run that got a 200 is still there and finishes.
func TestKillAndRestart(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	p := startServer(t, data, "")
	var names []string
	for i := 0; i < 20; i++ {
		status, r := p.do(t, "POST", "/run-task/development/examples/slow", `{"seconds": 1}`)
		if status != 200 {
			t.Fatalf("run_task: %d %v", status, r)
		}
		names = append(names, r["name"].(string))
	}
	// Some are running now, the rest queued; the detector below sees the running ones.
	for deadline := time.Now().Add(10 * time.Second); len(tasksOf(names)) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no task process seen running")
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	// No task process outlives the server (process groups, and Pdeathsig on Linux).
	deadline := time.Now().Add(5 * time.Second)
	for orphans := tasksOf(names); len(orphans) > 0; orphans = tasksOf(names) {
		if time.Now().After(deadline) {
			t.Fatalf("task processes outlived the killed server: %v", orphans)
		}
		time.Sleep(50 * time.Millisecond)
	}

	q := startServer(t, data, "")
	for _, name := range names {
		r := q.waitDone(t, name)
		if r["phase"] != "succeeded" && !(r["phase"] == "failed" && strings.Contains(fmt.Sprint(r["error"]), "interrupted")) {
			t.Errorf("run %s after restart: %v", name, r)
		}
	}
}
