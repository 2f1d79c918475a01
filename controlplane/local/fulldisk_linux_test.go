package local_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
)

// TestEndOfRunSurvivesAFullDisk is TestEndOfRunSurvivesFailingWrites with a real full disk:
// data_dir on a small tmpfs of its own, filled while the run runs. It needs root (to mount);
// elsewhere it is skipped.
func TestEndOfRunSurvivesAFullDisk(t *testing.T) {
	t.Parallel()
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=8m,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
	var logs syncBuf
	gates := t.TempDir()
	b, _ := open(t, []helperTask{gated(gates, "")}, func(c *local.Config) {
		logTo(&logs)(c)
		c.DataDir = filepath.Join(mnt, "data")
		c.ScratchDir = t.TempDir() // the task's outputs file is not what this test fills
	})
	name := start(t, b, "gate", nil)
	waitPhase(t, b, name, controlplane.PhaseRunning)

	filler := filepath.Join(mnt, "filler")
	fill(t, filler)
	openGate(t, gates, name)
	waitLog(t, &logs, "cannot record the end of a run")
	if r, err := b.GetRun(context.Background(), controlplane.RunRef{Name: name}); err != nil || r.Phase != controlplane.PhaseRunning {
		t.Fatalf("while the disk is full: %s %v", r.Phase, err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if r := waitDone(t, b, name); r.Phase != controlplane.PhaseSucceeded || r.Attempts != 1 {
		t.Fatalf("once the disk has room: %s after %d attempts: %q", r.Phase, r.Attempts, r.Error)
	}
	waitLog(t, &logs, "recorded the end of a run after retrying")
}

// fill writes path until the file system has no room left.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	for {
		if _, err := f.Write(page); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}
