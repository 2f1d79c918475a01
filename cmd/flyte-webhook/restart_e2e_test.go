package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// interruptedWorkspace declares one task with no retries. Its first attempt sleeps
// first_seconds: the tests make that much longer than the server is given to stop, so a
// stop has to interrupt it however slow the machine is. Later attempts take a second. Each
// attempt says which it is on stdout, so each has a log file of its own.
const interruptedWorkspace = `tasks:
  - domain: development
    project: e2e
    name: work
    version: v1
    inputs:
      - {name: first_seconds, type: integer, default: 1}
    outputs:
      - {name: attempt, type: integer}
    retries: 0
    command:
      - sh
      - -c
      - |
        echo "attempt $FLYTE_WEBHOOK_ATTEMPT starts"
        if [ "$FLYTE_WEBHOOK_ATTEMPT" = 1 ]; then
          sleep "$(sed -E 's/.*"first_seconds":([0-9]+).*/\1/' "$FLYTE_WEBHOOK_INPUTS")"
        else
          sleep 1
        fi
        printf '{"attempt": %s}' "$FLYTE_WEBHOOK_ATTEMPT" > "$FLYTE_WEBHOOK_OUTPUTS"
`

// TestRestartInterruptsRuns: SIGTERM (with a shutdown_timeout the running attempts outlast)
// and kill -9 while runs of a task with retries: 0 are running and one is queued. After a
// restart every run succeeds: the running ones on their second attempt, the first one
// recorded as interrupted (the server's doing, not the task's: it used up no retry), each
// attempt with its own log; the queued one on its first, never started before the stop.
func TestRestartInterruptsRuns(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ws := filepath.Join(dir, "workspace.yaml")
			if err := os.WriteFile(ws, []byte(interruptedWorkspace), 0o600); err != nil {
				t.Fatal(err)
			}
			data := filepath.Join(dir, "data")
			// The extra lines continue backend.local (four spaces), then the top level.
			extra := "    concurrency: 2\n    abort_grace: 1s\nshutdown_timeout: 1s\n"
			p := startServerOn(t, ws, data, extra)

			var names []string
			for _, body := range []string{`{"first_seconds": 120}`, `{"first_seconds": 120}`, `{}`} {
				status, r := p.do(t, "POST", "/run-task/development/e2e/work", body)
				if status != 200 {
					t.Fatalf("run_task: %d %v", status, r)
				}
				names = append(names, r["name"].(string))
			}
			running, queued := names[:2], names[2]
			// Both running attempts have started their task (its first line is in its log).
			for _, n := range running {
				waitFile(t, filepath.Join(data, "logs", n+".1.stdout.log"))
			}
			if _, r := p.do(t, "GET", "/run/"+queued, ""); r["phase"] != "queued" {
				t.Fatalf("the third run is %v, want queued (concurrency 2)", r["phase"])
			}

			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-p.exited:
			case <-time.After(60 * time.Second):
				t.Fatalf("the server did not exit after %s:\n%s", sig, p.stderr.String())
			}
			if sig == syscall.SIGTERM {
				if logs := p.stderr.String(); !strings.Contains(logs, `"msg":"draining 2 attempts"`) {
					t.Fatalf("no drain in the log:\n%s", logs)
				}
				// The stop ended the attempts it interrupted, with everything they started.
				waitNoTasks(t, names)
			}

			q := startServerOn(t, ws, data, extra)
			if sig == syscall.SIGKILL {
				// What the killed server's tasks started is gone once the next one opens.
				waitNoTasks(t, running)
			}
			defer func() {
				if t.Failed() {
					t.Logf("first server:\n%s\nrestarted server:\n%s", p.stderr.String(), q.stderr.String())
				}
			}()
			for _, n := range names {
				r := q.waitDone(t, n)
				want := 2.0
				if n == queued {
					want = 1
				}
				if r["phase"] != "succeeded" || r["attempts"] != want {
					t.Errorf("run %s: %v after %v attempts (%v), want succeeded after %v", n, r["phase"], r["attempts"], r["error"], want)
				}
				if _, io := q.do(t, "GET", "/run/"+n+"/io", ""); fmt.Sprint(io["outputs"]) != fmt.Sprintf("map[attempt:%v]", want) {
					t.Errorf("run %s outputs: %v", n, io["outputs"])
				}
			}
			for _, n := range running {
				for _, a := range []string{"1", "2"} {
					if raw, err := os.ReadFile(filepath.Join(data, "logs", n+"."+a+".stdout.log")); err != nil || !strings.Contains(string(raw), "attempt "+a+" starts") {
						t.Errorf("run %s attempt %s log: %q %v", n, a, raw, err)
					}
				}
			}

			// The attempt records, read from the database once the server has stopped.
			if err := q.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case <-q.exited:
			case <-time.After(60 * time.Second):
				t.Fatal("the restarted server did not stop")
			}
			for _, n := range names {
				want := []string{"interrupted", "succeeded"}
				if n == queued {
					want = []string{"succeeded"}
				}
				if got := attemptOutcomes(t, data, n); !slices.Equal(got, want) {
					t.Errorf("run %s attempts: %q, want %q", n, got, want)
				}
			}
		})
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
	}
}

// waitNoTasks waits (bounded) until no process of the runs is alive.
func waitNoTasks(t *testing.T, runs []string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		left := tasksOf(runs)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task processes outlived their server: %v", left)
		}
	}
}

// attemptOutcomes reads a run's attempt records from a stopped server's database.
func attemptOutcomes(t *testing.T, data, run string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "flyte-webhook.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(context.Background(), `SELECT outcome FROM attempts WHERE run = ? ORDER BY attempt`, run)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
