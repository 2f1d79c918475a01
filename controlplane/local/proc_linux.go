package local

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// sysProcAttr puts the child in its own process group (so abort and timeout reach everything
// it started) and has the kernel kill it if the server dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killLeftovers SIGKILLs the processes a previous server left behind for the given runs.
// Pdeathsig kills a task's own process when the server dies, but not what the task started
// in turn; those still carry FLYTE_WEBHOOK_RUN in their environment, and run names are random
// enough (100 bits) that no other process carries one of ours. Only processes of our own
// user are readable, which are the only ones we could have started. Returns how many it
// signalled.
func killLeftovers(runs map[string]bool) int { return killMarked("FLYTE_WEBHOOK_RUN", runs) }

// killMarked SIGKILLs every process of ours whose environment sets key to one of values
// (random markers, as run names and app instances are), and returns how many it signalled.
func killMarked(key string, values map[string]bool) int {
	if len(values) == 0 {
		return 0
	}
	prefix := []byte(key + "=")
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	self := os.Getpid()
	killed := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, prefix); ok && values[string(v)] {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					killed++
				}
				break
			}
		}
	}
	return killed
}
