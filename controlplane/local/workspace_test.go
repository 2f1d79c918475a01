package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
)

// TestWorkspaceDecodeErrors: the workspace file's decoding errors name the YAML path and
// line, and the keys allowed there, never a Go type.
func TestWorkspaceDecodeErrors(t *testing.T) {
	t.Parallel()
	const task = "  - domain: d\n    project: p\n    name: n\n    version: v\n    command: [x]\n"
	cases := []struct{ name, body, want string }{
		{"top-level key", "tasks: []\ntask: []\n", ":2: task: unknown key; the keys here are tasks, apps, triggers"},
		{"task key", "tasks:\n" + task + task + "    bogus: 1\n",
			":12: tasks[1].bogus: unknown key; the keys here are domain, project, name, version, type, inputs, outputs, command, env, workdir, timeout, retries, cache, secrets"},
		{"input key", "tasks:\n" + task + "    inputs:\n      - {name: a, type: string}\n      - {name: b, type: string, descr: x}\n",
			":9: tasks[0].inputs[1].descr: unknown key; the keys here are name, type, description, default"},
		{"cache key", "tasks:\n" + task + "    cache: {behaviour: auto}\n", ":7: tasks[0].cache.behaviour: unknown key; the keys here are behavior, version_override, serialize"},
		{"retries not a number", "tasks:\n" + task + "    retries: twice\n", `:7: tasks[0].retries: want an integer, got "twice"`},
		{"env not a mapping", "tasks:\n" + task + "    env: [A]\n", ":7: tasks[0].env: want a mapping, got a list"},
		{"timeout bare number", "tasks:\n" + task + "    timeout: 30\n", `:7: tasks[0].timeout: want a duration like "30s" or "1h30m", got "30"`},
		{"tasks not a list", "tasks: {a: 1}\n", ":1: tasks: want a list, got a mapping"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ws := filepath.Join(t.TempDir(), "w.yaml")
			if err := os.WriteFile(ws, []byte(c.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := local.CheckWorkspace(local.Config{Workspace: ws})
			if err == nil || !strings.Contains(err.Error(), ws+c.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), "local.") || strings.Contains(err.Error(), "not found in type") {
				t.Fatalf("a Go type leaked: %v", err)
			}
		})
	}
}

// TestWorkspaceWithoutTasksKey: a file that is empty, only comments, or has no (or a null)
// tasks key is refused at Open and on Reload, keeping the current workspace; "tasks: []" is
// accepted.
func TestWorkspaceWithoutTasksKey(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"empty":          "",
		"whitespace":     "  \n\n",
		"comments only":  "# tasks come later\n",
		"no tasks key":   "{}\n",
		"null tasks key": "tasks:\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ws := filepath.Join(dir, "w.yaml")
			if err := os.WriteFile(ws, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := local.Open(context.Background(), local.Config{Workspace: ws, DataDir: filepath.Join(dir, "d")})
			if err == nil || !strings.Contains(err.Error(), `no tasks key`) || !strings.Contains(err.Error(), `tasks: []`) {
				t.Fatalf("Open: %v", err)
			}

			b, cfg := open(t, nil, nil)
			if err := os.WriteFile(cfg.Workspace, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := b.Reload(); err == nil || !strings.Contains(err.Error(), "no tasks key") {
				t.Fatalf("Reload: %v", err)
			}
			if _, err := b.GetTask(context.Background(), ref("echo")); err != nil {
				t.Fatalf("the current workspace was not kept: %v", err)
			}
		})
	}
	t.Run("tasks: []", func(t *testing.T) {
		t.Parallel()
		b, cfg := open(t, nil, nil)
		if err := os.WriteFile(cfg.Workspace, []byte("tasks: []  # none on purpose\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := b.Reload(); err != nil {
			t.Fatal(err)
		}
		if _, err := b.GetTask(context.Background(), ref("echo")); err == nil {
			t.Fatal("an explicit tasks: [] still serves the old tasks")
		}
		if n, err := local.CheckWorkspace(cfg); err != nil || n != 0 {
			t.Fatalf("CheckWorkspace: %d %v", n, err)
		}
	})
}

// TestNoWorkspace: without a workspace file the backend opens with no tasks, and Reload says
// it has nothing to read.
func TestNoWorkspace(t *testing.T) {
	t.Parallel()
	b, err := local.Open(context.Background(), local.Config{DataDir: filepath.Join(t.TempDir(), "d")})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	if _, err := b.GetTask(context.Background(), ref("echo")); err == nil {
		t.Fatal("a task without a workspace")
	}
	if err := b.Reload(); err == nil || !strings.Contains(err.Error(), "no workspace file configured") {
		t.Fatalf("Reload: %v", err)
	}
	if _, err := local.CheckWorkspace(local.Config{Workspace: filepath.Join(t.TempDir(), "missing.yaml")}); err == nil {
		t.Fatal("a missing workspace file was accepted")
	}
}
