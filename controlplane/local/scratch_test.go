package local_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
)

// TestScratchFiles: the task's inputs and outputs files sit in a private scratch directory
// (on /dev/shm by default on Linux), and nothing is left there once the run has finished or
// once the backend has closed.
func TestScratchFiles(t *testing.T) {
	t.Parallel()
	b, _ := open(t, []helperTask{{name: "env", kind: "env", outputs: "[{name: env, type: string}]"}}, nil)
	name := start(t, b, "env", nil)
	if r := waitDone(t, b, name); r.Phase != controlplane.PhaseSucceeded {
		t.Fatalf("%s %q", r.Phase, r.Error)
	}
	io, err := b.GetRunIO(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := io.Outputs["env"].(string)
	var inputs, outputs string
	for _, kv := range strings.Split(env, "\n") {
		if v, ok := strings.CutPrefix(kv, "FLYTE_WEBHOOK_INPUTS="); ok {
			inputs = v
		}
		if v, ok := strings.CutPrefix(kv, "FLYTE_WEBHOOK_OUTPUTS="); ok {
			outputs = v
		}
	}
	scratch := filepath.Dir(inputs)
	if filepath.Base(inputs) != name+".1.inputs.json" || outputs != filepath.Join(scratch, name+".1.outputs.json") {
		t.Fatalf("inputs %q, outputs %q", inputs, outputs)
	}
	if runtime.GOOS == "linux" && roomyTmpfs("/dev/shm") && !strings.HasPrefix(scratch, "/dev/shm/flyte-webhook-") {
		t.Errorf("default scratch dir %s is not on /dev/shm", scratch)
	}
	fi, err := os.Lstat(scratch)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("scratch dir %s: %v %v", scratch, fi, err)
	}
	if left := entries(t, scratch); len(left) != 0 {
		t.Errorf("files left in scratch after the run: %v", left)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(scratch); !os.IsNotExist(err) {
		t.Errorf("default scratch dir still there after Close: %v", err)
	}
}

// TestScratchDirChecks: a configured scratch_dir is made private, cleared of what earlier
// attempts left (and of nothing else), and refused when it is a symlink, a file or another
// user's.
func TestScratchDirChecks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	scratch := filepath.Join(dir, "scratch")
	if err := os.Mkdir(scratch, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"r-old.1.inputs.json", "r-old.2.outputs.json", "keep.txt", "r-old.1.stdout.log"} {
		if err := os.WriteFile(filepath.Join(scratch, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := open(t, nil, func(c *local.Config) { c.ScratchDir = scratch })
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(entries(t, scratch), ","); got != "keep.txt,r-old.1.stdout.log" {
		t.Errorf("scratch after start: %s (want only the attempt files removed)", got)
	}
	if fi, _ := os.Stat(scratch); fi.Mode().Perm() != 0o700 {
		t.Errorf("scratch dir mode %v, want 0700", fi.Mode().Perm())
	}

	link := filepath.Join(dir, "link")
	if err := os.Symlink(scratch, link); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{link: "not a directory", file: "not a directory"}
	if os.Geteuid() == 0 {
		foreign := filepath.Join(dir, "foreign")
		if err := os.Mkdir(foreign, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(foreign, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		bad[foreign] = "belongs to uid 65534"
	}
	ws := filepath.Join(dir, "workspace.yaml")
	if err := os.WriteFile(ws, []byte(workspaceYAML(t, fixtures)), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range bad {
		b, err := local.Open(context.Background(), local.Config{
			Workspace: ws, DataDir: filepath.Join(dir, "data-"+filepath.Base(path)), ScratchDir: path,
		})
		if err == nil {
			_ = b.Close(context.Background())
		}
		if err == nil || !strings.Contains(err.Error(), "scratch_dir "+path) || !strings.Contains(err.Error(), want) {
			t.Errorf("scratch_dir %s: %v, want an error saying %q", path, err, want)
		}
	}
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// roomyTmpfs: dir is a tmpfs with the room the default asks for at the harness's
// concurrency of 4 (256 MiB free).
func roomyTmpfs(dir string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(dir, &st) == nil && st.Type == 0x01021994 && uint64(st.Bavail)*uint64(st.Bsize) >= 256<<20
}
