package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/internal/boundedfile"
)

type attemptResult struct {
	phase    controlplane.Phase
	msg      string
	outputs  map[string]any
	final    bool // no retry even when retries remain
	shutdown bool
}

// attemptLogs are an attempt's logs: its stdout and stderr as they came, each capped at
// log_max_bytes, and the lines file that watch_run and get_run_logs read (lines.go). A task's
// process and a run the server executes itself (jobs.go) write them alike.
type attemptLogs struct {
	stdout, stderr *cappedFile
	lines          *lineLog
}

func (b *Backend) openAttemptLogs(name string, attempt int) attemptLogs {
	return attemptLogs{
		stdout: newCappedFile(b.logPath(name, attempt, "stdout.log"), b.cfg.LogMaxBytes),
		stderr: newCappedFile(b.logPath(name, attempt, "stderr.log"), b.cfg.LogMaxBytes),
		lines:  newLineLog(b.logPath(name, attempt, "lines"), 2*b.cfg.LogMaxBytes, func() { b.hub.logWritten(name) }),
	}
}

// writers are where the attempt's output goes: each stream to its own file and to the lines.
func (l attemptLogs) writers() (stdout, stderr io.Writer) {
	return io.MultiWriter(l.stdout, l.lines.stream(tagStdout)), io.MultiWriter(l.stderr, l.lines.stream(tagStderr))
}

// close closes the logs, the lines file first: before the attempt's end is recorded (see
// lineLog.Close).
func (l attemptLogs) close() {
	l.lines.Close()
	l.stderr.Close()
	l.stdout.Close()
}

// logPath is the file data_dir/logs/<run>.<attempt>.<suffix> (stdout.log, stderr.log, lines).
func (b *Backend) logPath(run string, attempt int, suffix string) string {
	return filepath.Join(b.cfg.DataDir, "logs", run+"."+strconv.Itoa(attempt)+"."+suffix)
}

// attempt runs the task's process once.
func (b *Backend) attempt(ctx context.Context, t *task, name string, attempt int, inputs string) attemptResult {
	if t.job != nil { // a run the server executes itself (jobs.go)
		return b.jobAttempt(ctx, t, name, attempt)
	}
	fail := func(format string, args ...any) attemptResult {
		return attemptResult{phase: controlplane.PhaseFailed, msg: fmt.Sprintf(format, args...)}
	}
	// The inputs and outputs files are the task's interface, kept only while it runs, in a
	// folder of their own (see scratch.go); the logs stay, in data_dir/logs, and appear only
	// when the task writes to them. Creating files is most of what an attempt costs the
	// server besides the fork.
	dir, err := b.scratch.attemptDir(name, attempt)
	if err != nil {
		return fail("cannot prepare the attempt: %v", err)
	}
	defer os.RemoveAll(dir)
	inputsPath := filepath.Join(dir, "inputs.json")
	outputsPath := filepath.Join(dir, "outputs.json")
	if err := os.WriteFile(inputsPath, []byte(inputs), 0o600); err != nil {
		return fail("cannot write the inputs: %v", err)
	}
	env, missing := b.childEnv(t, name, attempt, inputsPath, outputsPath)
	if missing != "" {
		r := fail("secret %s is not set in the server's environment", missing)
		r.final = true
		return r
	}
	logs := b.openAttemptLogs(name, attempt)
	defer logs.close()
	stdout, stderr := logs.stdout, logs.stderr

	actx := ctx
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeoutCause(ctx, t.Timeout, errTimeout)
		defer cancel()
	}
	if actx.Err() != nil { // aborted or shut down between attempts: start nothing
		return stopped(actx, t, stdout, stderr)
	}
	// When actx ends (abort, timeout, shutdown), Cancel sends SIGTERM to the whole process
	// group; WaitDelay later the leader gets SIGKILL and the log pipes are closed, so neither
	// a task that ignores SIGTERM nor a grandchild holding the pipes can hold us up.
	cmd := exec.CommandContext(actx, t.Command[0], t.Command[1:]...)
	cmd.Dir = t.Workdir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logs.writers()
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return signalGroup(cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = b.cfg.AbortGrace
	// Pdeathsig fires when the thread that started the child exits, not only the process.
	// Holding this goroutine on its thread until the child is reaped keeps any other
	// goroutine from locking that thread and exiting with it, which would kill the task.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		r := fail("cannot start %q: %v", t.Command[0], err)
		r.final = true
		return r
	}
	werr := cmd.Wait()
	// Whatever the task left behind in its group goes too. Surviving members keep the group's
	// id alive; with none left the call finds no group (a pid is reused only after the pid
	// space wraps around, not in the microseconds since Wait).
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	for _, f := range []*cappedFile{stdout, stderr} {
		if f.openErr != nil { // the output was dropped: say so where the operator looks
			b.log.Warn("cannot write a task's log; its output was dropped", "run", name, "attempt", attempt, "error", f.openErr.Error())
		}
	}

	if actx.Err() != nil {
		return stopped(actx, t, stdout, stderr)
	}
	if werr != nil {
		var exit *exec.ExitError
		if errors.As(werr, &exit) {
			return fail("%s%s", exitText(exit), tail(stderr.path, stdout.path))
		}
		return fail("%v", werr)
	}
	outputs, err := readOutputs(t, outputsPath)
	if err != nil {
		return fail("the task exited 0 but its outputs are wrong: %v", err)
	}
	return attemptResult{phase: controlplane.PhaseSucceeded, outputs: outputs}
}

// signalGroup sends sig to the process group pgid. A group with no process left (ESRCH)
// answers os.ErrProcessDone: os/exec's Cmd.Cancel must say so for a process that finished by
// itself, else Wait turns the task's own success into an error.
func signalGroup(pgid int, sig syscall.Signal) error {
	err := syscall.Kill(-pgid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

func exitText(e *exec.ExitError) string {
	if ws, ok := e.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by signal " + ws.Signal().String()
	}
	return "exit code " + strconv.Itoa(e.ExitCode())
}

// childEnv is the whole environment of a task's process: nothing of the server's but a few
// harmless variables, then the task's env and secrets, then ours.
func (b *Backend) childEnv(t *task, name string, attempt int, inputs, outputs string) ([]string, string) {
	env, missing := smallEnv(t.Env, t.Secrets)
	if missing != "" {
		return nil, missing
	}
	return append(env,
		"FLYTE_WEBHOOK_INPUTS="+inputs,
		"FLYTE_WEBHOOK_OUTPUTS="+outputs,
		"FLYTE_WEBHOOK_RUN="+name,
		"FLYTE_WEBHOOK_ATTEMPT="+strconv.Itoa(attempt),
	), ""
}

// smallEnv is the environment every process the server starts (tasks and apps) begins with:
// PATH, HOME, LANG and TMPDIR from the server, nothing else of its environment; then env, then
// each secret (the server's environment variable of that name). It returns the name of a
// secret the server does not have, if any.
func smallEnv(env map[string]string, secrets []string) ([]string, string) {
	var out []string
	for _, k := range []string{"PATH", "HOME", "LANG", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			out = append(out, k+"="+v)
		}
	}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	for _, s := range secrets {
		v, ok := os.LookupEnv(s)
		if !ok {
			return nil, s
		}
		out = append(out, s+"="+v)
	}
	return out, ""
}

const maxOutputsBytes = 8 << 20

func readOutputs(t *task, path string) (map[string]any, error) {
	raw, err := boundedfile.Read(path, maxOutputsBytes)
	var tooLarge *boundedfile.TooLargeError
	switch {
	case errors.Is(err, os.ErrNotExist):
		if len(t.Outputs) == 0 {
			return map[string]any{}, nil
		}
		return nil, fmt.Errorf("no outputs file was written (FLYTE_WEBHOOK_OUTPUTS)")
	case errors.As(err, &tooLarge):
		// Said without the path: this message reaches callers.
		return nil, fmt.Errorf("the outputs file is larger than %d bytes", maxOutputsBytes)
	case err != nil:
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil || out == nil {
		return nil, fmt.Errorf("the outputs file is not a JSON object")
	}
	return checkOutputs(t, out)
}

// tail returns the last lines of the first non-empty log, for error messages.
func tail(paths ...string) string {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		st, _ := f.Stat()
		off := int64(0)
		if st != nil && st.Size() > 1024 {
			off = st.Size() - 1024
		}
		buf := make([]byte, 1024)
		n, _ := f.ReadAt(buf, off)
		f.Close()
		text := strings.TrimSpace(string(buf[:n]))
		if text == "" {
			continue
		}
		lines := strings.Split(text, "\n")
		if len(lines) > 5 {
			lines = lines[len(lines)-5:]
		}
		return ": " + strings.Join(lines, " | ")
	}
	return ""
}

// cappedFile keeps the first max bytes written and counts the rest, so a chatty task cannot
// fill the disk; it never fails a write (the task must not die of a full log). The file is
// created at the first write: a silent attempt leaves no empty logs behind.
type cappedFile struct {
	f       *os.File
	openErr error
	path    string
	max     int64
	written int64
	dropped int64
}

func newCappedFile(path string, max int64) *cappedFile {
	return &cappedFile{path: path, max: max}
}

func (c *cappedFile) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.f == nil && c.openErr == nil {
		c.f, c.openErr = os.OpenFile(c.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	}
	room := c.max - c.written
	if c.openErr != nil || room <= 0 {
		c.dropped += int64(len(p))
		return len(p), nil
	}
	w := p
	if int64(len(w)) > room {
		w = w[:room]
		c.dropped += int64(len(p)) - room
	}
	n, err := c.f.Write(w)
	c.written += int64(n)
	if err != nil {
		c.dropped += int64(len(w) - n)
	}
	return len(p), nil
}

// Close notes in the log how much was dropped. Writes come from exec's copying goroutine,
// which has finished once Wait returned, before Close.
func (c *cappedFile) Close() error {
	if c.f == nil {
		return c.openErr
	}
	if c.dropped > 0 {
		fmt.Fprintf(c.f, "\n[flyte-webhook: %d more bytes dropped: the log is capped at %d bytes]\n", c.dropped, c.max)
	}
	return c.f.Close()
}

// stopped is the result of an attempt whose context ended: the recorded cause says why.
func stopped(actx context.Context, t *task, stdout, stderr *cappedFile) attemptResult {
	cause := context.Cause(actx)
	var ab abortError
	switch {
	case errors.As(cause, &ab):
		return attemptResult{phase: controlplane.PhaseAborted, msg: ab.Error(), final: true}
	case errors.Is(cause, errTimeout):
		return attemptResult{phase: controlplane.PhaseTimedOut, msg: "timed out after " + t.Timeout.String() + tail(stderr.path, stdout.path), final: true}
	default:
		return attemptResult{shutdown: true}
	}
}
