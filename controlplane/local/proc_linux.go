package local

import "syscall"

// sysProcAttr puts the child in its own process group (so abort and timeout reach everything
// it started) and has the kernel kill it if the server dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
