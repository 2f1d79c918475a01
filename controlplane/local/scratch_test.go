package local_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
)

// TestScratchFiles: the task's inputs and outputs files sit in a folder of the attempt in a
// private scratch directory (on /dev/shm by default on Linux when it has room), and nothing
// is left there once the run has finished or once the backend has closed.
func TestScratchFiles(t *testing.T) {
	t.Parallel()
	b, _ := open(t, []helperTask{{name: "env", kind: "env", outputs: "[{name: env, type: string}]"}}, nil)
	name := start(t, b, "env", nil)
	if r := waitDone(t, b, name); r.Phase != controlplane.PhaseSucceeded {
		t.Fatalf("%s %q", r.Phase, r.Error)
	}
	inputs, outputs := scratchPaths(t, b, name)
	attemptDir := filepath.Dir(inputs)
	scratch := filepath.Dir(attemptDir)
	if filepath.Base(attemptDir) != name+".1" || filepath.Base(inputs) != "inputs.json" || outputs != filepath.Join(attemptDir, "outputs.json") {
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
		t.Errorf("left in scratch after the run: %v", left)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(scratch); !os.IsNotExist(err) {
		t.Errorf("scratch dir still there after Close: %v", err)
	}
}

// scratchPaths runs nothing: it reads the FLYTE_WEBHOOK_INPUTS/OUTPUTS an "env" run saw.
func scratchPaths(t *testing.T, b controlplane.Backend, run string) (inputs, outputs string) {
	t.Helper()
	io, err := b.GetRunIO(context.Background(), controlplane.RunRef{Name: run})
	if err != nil {
		t.Fatal(err)
	}
	env, _ := io.Outputs["env"].(string)
	for _, kv := range strings.Split(env, "\n") {
		if v, ok := strings.CutPrefix(kv, "FLYTE_WEBHOOK_INPUTS="); ok {
			inputs = v
		}
		if v, ok := strings.CutPrefix(kv, "FLYTE_WEBHOOK_OUTPUTS="); ok {
			outputs = v
		}
	}
	return inputs, outputs
}

// TestScratchDirChecks: under a configured scratch_dir the server makes its own private
// directory and leaves the rest of scratch_dir (contents and mode) alone; it empties its own
// directory of what an earlier server left, and refuses one that is a symlink, a file or
// another user's.
func TestScratchDirChecks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base := filepath.Join(dir, "shared")
	if err := os.Mkdir(base, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o777|os.ModeSticky); err != nil { // past the umask
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "someone-elses.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	var mine string
	b, _ := open(t, []helperTask{{name: "env", kind: "env", outputs: "[{name: env, type: string}]"}}, func(c *local.Config) {
		c.ScratchDir = base
		// What a previous server with this data_dir left in its scratch directory.
		mine = filepath.Join(base, privateName(t, c.DataDir))
		if err := os.MkdirAll(filepath.Join(mine, "r-old.1"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mine, "r-old.1", "outputs.json"), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	if got := entries(t, mine); len(got) != 0 {
		t.Errorf("what an earlier server left is still there: %v", got)
	}
	if fi, _ := os.Stat(mine); fi.Mode().Perm() != 0o700 {
		t.Errorf("private scratch dir mode %v, want 0700", fi.Mode().Perm())
	}
	name := start(t, b, "env", nil)
	waitDone(t, b, name)
	if inputs, _ := scratchPaths(t, b, name); !strings.HasPrefix(inputs, mine+string(filepath.Separator)) {
		t.Errorf("inputs at %s, not under %s", inputs, mine)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(entries(t, base), ","); got != "someone-elses.txt" {
		t.Errorf("scratch_dir after Close: %s", got)
	}
	if fi, _ := os.Stat(base); fi.Mode() != os.ModeDir|os.ModeSticky|0o777 {
		t.Errorf("scratch_dir's own mode changed to %v", fi.Mode())
	}

	ws := filepath.Join(dir, "workspace.yaml")
	if err := os.WriteFile(ws, []byte(workspaceYAML(t, fixtures)), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{"symlink": "not a directory", "file": "not a directory"}
	if os.Geteuid() == 0 {
		bad["foreign"] = "belongs to uid 65534"
	}
	for kind, want := range bad {
		data := filepath.Join(dir, "data-"+kind)
		taken := filepath.Join(base, privateName(t, data))
		var err error
		switch kind {
		case "symlink":
			err = os.Symlink(dir, taken)
		case "file":
			err = os.WriteFile(taken, nil, 0o600)
		case "foreign":
			if err = os.Mkdir(taken, 0o700); err == nil {
				err = os.Chown(taken, 65534, 65534)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := local.Open(context.Background(), local.Config{Workspace: ws, DataDir: data, ScratchDir: base})
		if err == nil {
			_ = b.Close(context.Background())
		}
		if err == nil || !strings.Contains(err.Error(), "scratch directory "+taken) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s in the way: %v, want an error saying %q", kind, err, want)
		}
	}
}

// TestScratchDirComesBack: when the scratch directory vanishes under a running server
// (systemd-logind clears a user's /dev/shm when their last session ends), the next attempt
// makes it again.
func TestScratchDirComesBack(t *testing.T) {
	t.Parallel()
	b, _ := open(t, []helperTask{{name: "env", kind: "env", outputs: "[{name: env, type: string}]"}}, nil)
	first := start(t, b, "env", nil)
	waitDone(t, b, first)
	inputs, _ := scratchPaths(t, b, first)
	scratch := filepath.Dir(filepath.Dir(inputs))
	if err := os.RemoveAll(scratch); err != nil {
		t.Fatal(err)
	}
	if r := waitDone(t, b, start(t, b, "env", nil)); r.Phase != controlplane.PhaseSucceeded {
		t.Fatalf("after the scratch dir vanished: %s %q", r.Phase, r.Error)
	}
	if fi, err := os.Lstat(scratch); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("scratch dir not made again: %v %v", fi, err)
	}
}

// privateName is the name the server gives its scratch directory for dataDir.
func privateName(t *testing.T, dataDir string) string {
	t.Helper()
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(abs))
	return "flyte-webhook-" + strconv.Itoa(os.Geteuid()) + "-" + hex.EncodeToString(sum[:6])
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
