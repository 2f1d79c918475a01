package local

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// TestSignalGroupOfAFinishedProcess: a process group with no process left answers
// os.ErrProcessDone, as os/exec's Cmd.Cancel documents for a process that finished by
// itself (else Wait reports a successful task as failed by the signal); a live group is
// signalled. Real processes: the test binary as an unknown helper (exits 3) and as one that
// ignores SIGTERM.
func TestSignalGroupOfAFinishedProcess(t *testing.T) {
	t.Parallel()
	start := func(kind string) *exec.Cmd {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "FWH_HELPER="+kind)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	done := start("no-such-helper")
	_ = done.Wait()
	if err := signalGroup(done.Process.Pid, syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("a finished group: %v, want os.ErrProcessDone", err)
	}
	live := start("stubborn")
	if err := signalGroup(live.Process.Pid, syscall.SIGTERM); err != nil {
		t.Errorf("a live group: %v", err)
	}
	if err := signalGroup(live.Process.Pid, syscall.SIGKILL); err != nil {
		t.Errorf("a live group: %v", err)
	}
	_ = live.Wait()
}
