// Package local is the embedded control plane: the webhook's default backend, which needs
// nothing installed. Tasks are declared in a workspace file; runs are stored in SQLite (pure
// Go, WAL) and executed as local subprocesses.
//
// # Durability
//
// A run is written to SQLite (synchronous=FULL, so it survives a power cut, not only a crash)
// before RunTask returns. Concurrent RunTask calls are committed together in one transaction
// (group commit), so durability costs one fsync per batch, not per run. After a crash or
// kill -9, Open finds every accepted run: queued runs run, and runs that were running are
// retried when they have retries left, else failed with "interrupted: server restarted".
//
// # Execution
//
// A pool of Config.Concurrency workers runs attempts; queued runs wait, none is dropped. Each
// attempt is a subprocess in its own process group (and, on Linux, killed if the server dies),
// started in the task's working directory with a small environment: PATH, HOME, LANG and TMPDIR
// from the server (nothing else of the server's environment leaks), the task's env, the task's
// secrets (read from the server's environment by name), and:
//
//	FLYTE_WEBHOOK_INPUTS   path of a JSON file with the run's inputs (an object)
//	FLYTE_WEBHOOK_OUTPUTS  path where the task writes its outputs (a JSON object)
//	FLYTE_WEBHOOK_RUN      the run's name
//	FLYTE_WEBHOOK_ATTEMPT  the attempt number, from 1
//
// stdout and stderr go to per-attempt files under data_dir/runs/<run>/<attempt>/, each capped
// at Config.LogMaxBytes. Phases: queued → running → succeeded | failed | aborted | timed_out.
// A failed attempt (non-zero exit, or outputs that don't fit the declared ones) is retried while
// retries remain; an abort or a timeout is final (a task that hung once rarely finishes on a
// second try, and the timeout bounds the whole attempt). Abort sends SIGTERM to the process
// group and SIGKILL after Config.AbortGrace; a timeout does the same.
//
// # Tasks and versions
//
// Several versions of a task may be declared. "Latest" is the most recently registered
// version: versions are registered (in SQLite) the first time a workspace load sees them, in
// file order, so a version added by a later reload is newer than every version seen before.
//
// # Identity
//
// Every method first asks Config.Verifier who the caller is (see package identity); a nil
// Verifier treats every caller as "anonymous" (for tests and embedding only).
//
// Apps, triggers, image builds and model prefetches are not implemented by this backend yet:
// those methods answer controlplane.CodeUnimplemented.
package local
