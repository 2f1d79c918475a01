//go:build !linux

package local

import "syscall"

// sysProcAttr puts the child in its own process group.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// killLeftovers finds nothing to kill where there is no /proc: on these systems a task's
// processes can outlive a server that was killed with SIGKILL.
func killLeftovers(map[string]bool) int { return 0 }

// killMarked finds nothing to kill where there is no /proc (see killLeftovers).
func killMarked(string, map[string]bool) int { return 0 }
