package local_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
)

// appServer is the test binary acting as a webhook server with an app (FWH_APP_SERVER set):
// it opens the backend on FWH_WORKSPACE and FWH_DATA, activates the app "parent" and prints
// "active" once it is healthy. It never exits by itself: the test kills it with SIGKILL.
func appServer() int {
	ctx := context.Background()
	b, err := local.Open(ctx, local.Config{Workspace: os.Getenv("FWH_WORKSPACE"), DataDir: os.Getenv("FWH_DATA"), AbortGrace: 500 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	if _, err := b.SetAppActive(ctx, controlplane.SetAppActiveRequest{App: appRef("parent"), Active: true, Wait: true}); err != nil {
		fmt.Fprintln(os.Stderr, "activate:", err)
		return 1
	}
	fmt.Println("active")
	select {}
}

// TestAppsAfterSIGKILL kills a real server process with SIGKILL while its app runs: the
// app's process dies with it (Pdeathsig), what the app started is killed by the next Open
// (found by its FLYTE_WEBHOOK_APP_INSTANCE), and the app, wanted active, starts again.
func TestAppsAfterSIGKILL(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig and /proc are Linux features")
	}
	t.Parallel()
	dir := t.TempDir()
	marks := filepath.Join(dir, "marks")
	if err := os.Mkdir(marks, 0o700); err != nil {
		t.Fatal(err)
	}
	ws := filepath.Join(dir, "workspace.yaml")
	apps := []helperApp{{name: "parent", mode: "grandchild", env: "FWH_DIR: " + strconv.Quote(marks)}}
	if err := os.WriteFile(ws, []byte("tasks: []\n"+appsYAML(t, apps)), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")

	srv := exec.Command(os.Args[0], "-test.run=^$")
	srv.Env = append(os.Environ(), "FWH_APP_SERVER=1", "FWH_WORKSPACE="+ws, "FWH_DATA="+data)
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
	active := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ok := sc.Scan() && sc.Text() == "active"
		active <- ok
	}()
	select {
	case ok := <-active:
		if !ok {
			t.Fatal("the server did not activate its app")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the server did not activate its app in time")
	}
	raw, err := os.ReadFile(filepath.Join(marks, "parent.pids"))
	if err != nil {
		t.Fatal(err)
	}
	var leader, grandchild int
	if _, err := fmt.Sscan(string(raw), &leader, &grandchild); err != nil {
		t.Fatal(err)
	}
	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = srv.Wait()
	waitGone(t, leader, "an app's process outlived its killed server (Pdeathsig)")
	if !alive(grandchild) {
		t.Fatalf("the app's grandchild %d died before the restart: this test would prove nothing", grandchild)
	}

	b, err := local.Open(context.Background(), local.Config{Workspace: ws, DataDir: data, AbortGrace: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	waitGone(t, grandchild, "a process started by an app outlived the restart")
	a := waitApp(t, b, "parent", func(a controlplane.App) bool { return a.Active })
	if e := envOf(t, b, "parent"); e.Pid == leader || !strings.HasSuffix(a.Endpoint, ":"+portOf(e.Env)) {
		t.Errorf("restored app %+v, pid %d (the killed one was %d)", a, e.Pid, leader)
	}
}

func portOf(env []string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PORT="); ok {
			return v
		}
	}
	return ""
}
