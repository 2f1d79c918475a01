package local_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
)

// server is the test binary acting as a webhook server (FWH_SERVER set): it opens the backend
// on FWH_WORKSPACE and FWH_DATA, starts one "hang" and one "hang-retry" run, then keeps
// accepting "echo" runs. It prints "accepted <run> <task>" once RunTask has returned, and
// never exits by itself: the test kills it with SIGKILL.
func server() int {
	ctx := context.Background()
	b, err := local.Open(ctx, restartConfig(os.Getenv("FWH_WORKSPACE"), os.Getenv("FWH_DATA")))
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	run := func(task string, inputs map[string]any) {
		r, err := b.RunTask(ctx, controlplane.RunTaskRequest{Task: ref(task), Inputs: inputs})
		if err != nil {
			fmt.Fprintln(os.Stderr, "run:", err)
			os.Exit(1)
		}
		fmt.Printf("accepted %s %s\n", r.Name, task) // one write: a line is whole or absent
	}
	run("hang", nil)
	run("hang-retry", nil)
	for i := 0; i < 40; i++ {
		run("echo", map[string]any{"name": "run " + strconv.Itoa(i)})
		time.Sleep(5 * time.Millisecond)
	}
	select {}
}

func restartConfig(workspace, data string) local.Config {
	return local.Config{Workspace: workspace, DataDir: data, Concurrency: 2, AbortGrace: 500 * time.Millisecond}
}

// TestRestartAfterSIGKILL kills a real server process with SIGKILL while runs are running and
// queued (and while it is still accepting more), opens its data dir again and checks that
// nothing accepted is lost: queued runs run, the interrupted runs are queued again and
// succeed on their second attempt (with or without retries: an interruption is the server's
// doing, not the task's), and no process of the killed server's tasks survives (the task itself dies with the server; what it started is killed
// by the next Open).
func TestRestartAfterSIGKILL(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig and /proc are Linux features")
	}
	t.Parallel()
	dir := t.TempDir()
	marks := filepath.Join(dir, "marks")
	if err := os.Mkdir(marks, 0o700); err != nil {
		t.Fatal(err)
	}
	env := "FWH_DIR: " + strconv.Quote(marks)
	ws := filepath.Join(dir, "workspace.yaml")
	yaml := workspaceYAML(t, []helperTask{
		{name: "hang", kind: "hang-once", outputs: "[{name: attempt, type: integer}]", env: env},
		{name: "hang-retry", kind: "hang-once", outputs: "[{name: attempt, type: integer}]", env: env, extra: "    retries: 1\n"},
		{name: "echo", kind: "echo", inputs: "[{name: name, type: string}, {name: times, type: integer, default: 1}]", outputs: "[{name: greeting, type: string}]"},
	})
	if err := os.WriteFile(ws, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")

	srv := exec.Command(os.Args[0], "-test.run=^$")
	srv.Env = append(os.Environ(), "FWH_SERVER=1", "FWH_WORKSPACE="+ws, "FWH_DATA="+data)
	srv.Stderr = os.Stderr
	srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	accepted := map[string]string{} // run → task
	echoes := func() (n int) {
		for _, task := range accepted {
			if task == "echo" {
				n++
			}
		}
		return n
	}
	record := func(line string) {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "accepted" {
			accepted[f[1]] = f[2]
		}
	}
	deadline := time.After(60 * time.Second)
	for pidFiles(t, marks) < 2 || echoes() < 10 {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("the server exited early")
			}
			record(line)
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("the server did not get going: %d pid files, %d runs accepted", pidFiles(t, marks), len(accepted))
		}
	}
	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for line := range lines { // every line written before the kill
		record(line)
	}
	_ = srv.Wait()
	t.Logf("killed the server with %d runs accepted", len(accepted))

	var children, grandchildren []int
	for _, f := range listPidFiles(t, marks) {
		var child, grandchild int
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Sscan(string(raw), &child, &grandchild); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		children, grandchildren = append(children, child), append(grandchildren, grandchild)
	}
	for _, pid := range children {
		waitGone(t, pid, "a task process outlived its killed server (Pdeathsig)")
	}
	for _, pid := range grandchildren {
		if !alive(pid) {
			t.Fatalf("grandchild %d died before the restart: this test would prove nothing", pid)
		}
	}

	b, err := local.Open(context.Background(), restartConfig(ws, data))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	for _, pid := range grandchildren {
		waitGone(t, pid, "a process started by a task outlived the restart")
	}
	for name, task := range accepted {
		r := waitDone(t, b, name)
		switch task {
		case "hang", "hang-retry":
			// Interrupted by the crash: queued again, with or without retries.
			if r.Phase != controlplane.PhaseSucceeded || r.Attempts != 2 {
				t.Errorf("%s (%s): %s after %d attempts %q, want succeeded on attempt 2", name, task, r.Phase, r.Attempts, r.Error)
			}
			if o, err := local.AttemptOutcomes(b, name); err != nil || !slices.Equal(o, []string{"interrupted", "succeeded"}) {
				t.Errorf("%s (%s): attempts %q %v", name, task, o, err)
			}
		default:
			if r.Phase != controlplane.PhaseSucceeded {
				t.Errorf("%s (queued): %s %q", name, r.Phase, r.Error)
			}
		}
	}
}

func listPidFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.pids"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func pidFiles(t *testing.T, dir string) int { return len(listPidFiles(t, dir)) }

// alive reports whether pid is a live process (a zombie waiting for its reaper is dead).
func alive(pid int) bool {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil {
		return true
	}
	// The state follows the command name in parentheses: "pid (comm) S ...".
	i := strings.LastIndexByte(string(raw), ')')
	return i < 0 || i+2 >= len(raw) || (raw[i+2] != 'Z' && raw[i+2] != 'X')
}

func waitGone(t *testing.T, pid int, why string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); alive(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("pid %d still alive: %s", pid, why)
		}
	}
}
