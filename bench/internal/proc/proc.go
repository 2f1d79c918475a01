// Package proc runs the webhook binary for the benchmarks: started on a free loopback port
// (FLYTE_WEBHOOK_PORT), waited for until /health answers, stopped with SIGTERM, and read for
// its CPU time, RSS and limits from /proc.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the kernel's clock tick for /proc/*/stat times (USER_HZ, 100 on Linux).
const userHZ = 100

// Process is the binary, running.
type Process struct {
	URL     string
	Startup time.Duration // from exec to the first /health answered 200
	cmd     *exec.Cmd
	exited  chan struct{}
	err     error
}

// Start runs `bin serve --config config` on a free loopback port with env added to this
// process's environment, its output to logs, and waits up to wait for /health to answer
// 200. It fails at once when the binary exits first.
func Start(bin, config string, env []string, logs io.Writer, wait time.Duration) (*Process, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	p := &Process{URL: "http://127.0.0.1:" + strconv.Itoa(port), exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "--config", config)
	p.cmd.Env = append(append(os.Environ(), "FLYTE_WEBHOOK_PORT="+strconv.Itoa(port)), env...)
	p.cmd.Stdout, p.cmd.Stderr = logs, logs
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	for deadline := start.Add(wait); time.Now().Before(deadline); {
		if res, err := http.Get(p.URL + "/health"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				p.Startup = time.Since(start)
				return p, nil
			}
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("%s exited at start: %v", bin, p.err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	return nil, fmt.Errorf("%s did not answer /health in %s", bin, wait)
}

// Stop sends SIGTERM and waits for the exit (SIGKILL after a minute): an error when it was
// not clean.
func (p *Process) Stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.err
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return errors.New("no exit a minute after SIGTERM")
	}
}

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// CPU is the CPU time (user and system) the process has used so far; 0 where there is no /proc.
func (p *Process) CPU() time.Duration { return CPU(strconv.Itoa(p.Pid())) }

// CPU is the CPU time (user and system) of /proc/<pid> ("self" for this process) so far,
// from /proc/<pid>/stat; 0 where there is none.
func CPU(pid string) time.Duration {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: count fields after its closing parenthesis.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / userHZ
}

// RSS is the process's VmRSS in kB.
func (p *Process) RSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS in /proc/PID/status")
}

// FreePort is a loopback TCP port free at the time of the call.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
