package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// Runs the server executes itself. An image build or a model prefetch is a run like a task's
// (the same queue, attempts table, abort, timeout, interruption and restart rules, the same
// `run ended` line, the run endpoints), but its attempt runs a Go job in the server instead of
// a workspace command. A kind of such run is a jobKind in jobKinds; its run stores the job's
// whole request as the run's inputs, so the job is rebuilt from them at every attempt and a
// run queued before a restart still executes after it.
//
// Plugging in a kind (the prefetch, say, whose download code lives in a package of its own):
//
//	// prefetch.go
//	var prefetchKind = jobKind{
//		task:    controlplane.TaskRef{Project: "system", Domain: "production", Name: "prefetch-hf-model", Version: "v1"},
//		timeout: func(c Config) time.Duration { return c.Prefetch.Timeout },
//		decode: func(b *Backend, in map[string]any) (job, error) {
//			var req prefetchRequest
//			if err := decodeInputs(in, &req); err != nil {
//				return nil, err
//			}
//			return prefetchJob{req: req, cfg: b.cfg.Prefetch}, nil
//		},
//	}
//
//	func (j prefetchJob) run(ctx context.Context, env *jobEnv) (map[string]any, error) {
//		fmt.Fprintf(env.Stdout, "fetching %s\n", j.req.Repo) // the run's logs
//		res, err := hf.Fetch(ctx, hf.Request{...}, env.Stdout, env.Stderr)
//		if err != nil {
//			return nil, fmt.Errorf("prefetch of %s failed: %v", j.req.Repo, err) // shown to callers
//		}
//		return map[string]any{"path": res.Path}, nil
//	}
//
//	// PrefetchModel: the caller first (401 before 400), then the request's checks, then
//	run, err := b.startJob(ctx, who, controlplane.KindPrefetch, inputs)
//
// and one line in jobKinds below.

// jobKinds are the kinds of run the server executes itself.
var jobKinds = map[controlplane.Kind]jobKind{
	controlplane.KindImageBuild: buildKind,
	controlplane.KindPrefetch:   prefetchKind,
}

// job is one attempt's work for a run the server executes itself. run does the work and
// returns the run's outputs (a JSON object; nil is {}). An error fails the run (no retries:
// a job that can succeed on a second try retries inside run) with err.Error() as the run's
// error, which callers see: say what failed and what to do, never a secret. Outputs returned
// with an error are kept too, and shown by GetRunIO once the run has ended (an image build
// without a builder still hands out its Containerfile).
//
// ctx ends when the run is aborted, times out (jobKind.timeout) or the server stops; run must
// then return promptly (a subprocess started with env.Command is stopped for it), and the
// run's phase follows from why ctx ended (aborted, timed_out, or queued again for the next
// start), whatever run returns.
type job interface {
	run(ctx context.Context, env *jobEnv) (outputs map[string]any, err error)
}

// jobKind is one kind of run the server executes itself.
type jobKind struct {
	// task is the run's Task: a synthetic reference, named as the Flyte backend's defaults
	// for the same service (project system, domain production, name build-image or
	// prefetch-hf-model: the run accepted line shows production/system/build-image), so a run
	// reads the same on both backends. Its Version is the version of the stored inputs'
	// format (decode can tell an older one).
	task controlplane.TaskRef
	// timeout bounds one attempt; 0 means none.
	timeout func(Config) time.Duration
	// decode rebuilds the job from the run's stored inputs, at each attempt (after a restart
	// too). It re-checks what it reads; an error fails the run with its message.
	decode func(b *Backend, inputs map[string]any) (job, error)
}

// jobEnv is what an attempt hands its job.
type jobEnv struct {
	// Run and Attempt name the attempt.
	Run     string
	Attempt int
	// Dir is a private scratch folder (0700) for the attempt, removed with everything in it
	// when the attempt ends.
	Dir string
	// Stdout and Stderr are the run's logs (data_dir/logs/<run>.<attempt>.stdout.log and
	// .stderr.log), capped at log_max_bytes like a task's.
	Stdout, Stderr io.Writer
	// Log is the server's log, with the run's name.
	Log *slog.Logger

	grace          time.Duration
	stdout, stderr *cappedFile
}

// Command returns a subprocess for the job, started the way a task's process is: in its own
// process group, with the server's small environment (PATH, HOME, LANG, TMPDIR; see
// smallEnv) plus env, its output in the run's logs. When ctx ends (abort, timeout, shutdown)
// the group gets SIGTERM, and SIGKILL abort_grace later. Run it with env.Exec.
func (e *jobEnv) Command(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	base, _ := smallEnv(nil, nil)
	cmd.Env = append(base, env...)
	cmd.Dir = e.Dir
	cmd.Stdout, cmd.Stderr = e.Stdout, e.Stderr
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return signalGroup(cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = e.grace
	return cmd
}

// Exec starts cmd (made by Command) and waits for it; then it kills whatever the process
// left behind in its group. The error of a process that exited non-zero says how, with the
// last lines of its output ("exit code 1: Error: …").
func (e *jobEnv) Exec(cmd *exec.Cmd) error {
	// As in attempt: Pdeathsig fires when the thread that started the child exits.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return err
	}
	err := cmd.Wait()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("%s%s", exitText(exit), tail(e.stderr.path, e.stdout.path))
	}
	return err
}

// startJob stores a run of kind whose job's request is inputs (a JSON object: it is the
// run's inputs, shown by GetRunIO, and what decode rebuilds the job from), durably, and
// queues it. who is the verified caller, for the `run accepted` line.
func (b *Backend) startJob(ctx context.Context, who controlplane.Identity, kind controlplane.Kind, inputs map[string]any) (runRow, error) {
	k, ok := jobKinds[kind]
	if !ok {
		return runRow{}, fmt.Errorf("local: no job kind %s", kind)
	}
	if b.draining.Err() != nil {
		return runRow{}, errClosed
	}
	js, err := json.Marshal(inputs)
	if err != nil {
		return runRow{}, fmt.Errorf("local: %s inputs: %w", kind, err)
	}
	row := runRow{
		Name: newRunName(), Kind: string(kind),
		Domain: k.task.Domain, Project: k.task.Project, Task: k.task.Name, Version: k.task.Version,
		Phase: controlplane.PhaseQueued, Inputs: string(js), CreatedAt: time.Now().UnixNano(),
		Caller: who.Subject, // list_runs' caller filter finds builds and prefetches too
	}
	if _, err := b.st.insertRun(ctx, newRun{Row: row, Subject: who.Subject}); err != nil {
		return runRow{}, err
	}
	b.logAccepted(ctx, row, who, false, "")
	b.queue.push(row.Name)
	return row, nil
}

// runnable is what executes a run: its workspace task version, or for a run the server
// executes itself a stand-in task holding the job rebuilt from the run's inputs (no retries,
// no cache, the kind's timeout).
func (b *Backend) runnable(row runRow) (*task, error) {
	kind := controlplane.Kind(row.Kind)
	if kind == controlplane.KindTask || kind == "" {
		return b.taskVersion(row)
	}
	k, ok := jobKinds[kind]
	if !ok {
		return nil, fmt.Errorf("runs of kind %s are not executed by this server", kind)
	}
	in, err := decodeObject(row.Inputs)
	if err != nil {
		return nil, fmt.Errorf("the run's inputs cannot be read: %v", err)
	}
	j, err := k.decode(b, in)
	if err != nil {
		return nil, err
	}
	var timeout time.Duration
	if k.timeout != nil {
		timeout = k.timeout(b.cfg)
	}
	return &task{Task: controlplane.Task{Ref: k.task, Cache: controlplane.Cache{Behavior: "disable"}}, Timeout: timeout, job: j}, nil
}

// jobAttempt is attempt for a run the server executes itself: t.job runs in the server.
func (b *Backend) jobAttempt(ctx context.Context, t *task, name string, attempt int) attemptResult {
	dir, err := b.scratch.attemptDir(name, attempt)
	if err != nil {
		return attemptResult{phase: controlplane.PhaseFailed, msg: fmt.Sprintf("cannot prepare the attempt: %v", err)}
	}
	defer os.RemoveAll(dir)
	logs := b.openAttemptLogs(name, attempt) // as a task's: watch_run and get_run_logs follow them
	defer logs.close()
	stdout, stderr := logs.stdout, logs.stderr
	actx := ctx
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeoutCause(ctx, t.Timeout, errTimeout)
		defer cancel()
	}
	if actx.Err() != nil {
		return stopped(actx, t, stdout, stderr)
	}
	env := &jobEnv{Run: name, Attempt: attempt, Dir: dir,
		Log: b.log.With("run", name, "attempt", attempt), grace: b.cfg.AbortGrace, stdout: stdout, stderr: stderr}
	env.Stdout, env.Stderr = logs.writers()
	outputs, err := t.job.run(actx, env)
	if outputs == nil && err == nil {
		outputs = map[string]any{}
	}
	if actx.Err() != nil {
		r := stopped(actx, t, stdout, stderr)
		if !r.shutdown {
			r.outputs = outputs
		}
		return r
	}
	if err != nil {
		return attemptResult{phase: controlplane.PhaseFailed, msg: err.Error(), outputs: outputs, final: true}
	}
	return attemptResult{phase: controlplane.PhaseSucceeded, outputs: outputs}
}

// decodeInputs decodes a run's stored inputs into v (a struct with json tags), refusing
// unknown keys: a job's stored request is read back exactly as it was written.
func decodeInputs(in map[string]any, v any) error {
	js, err := json.Marshal(in)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("the run's inputs cannot be read: %v", err)
	}
	return nil
}
