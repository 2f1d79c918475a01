// Package local is the embedded control plane: the webhook's default backend, which needs
// nothing installed. Tasks are declared in a workspace file; runs are stored in SQLite (pure
// Go, WAL) and executed as local subprocesses. Open it with a Config, Close it; Reload
// re-reads the workspace (cmd calls it on SIGHUP).
//
// # Workspace
//
// The workspace file (Config.Workspace) declares tasks, apps and triggers; see workspaceFile
// in workspace.go, appSpec in workspace_apps.go and triggerSpec in workspace_triggers.go for
// every key. Decoding is strict: an unknown key is an error naming it. Relative
// working directories resolve against the workspace file's folder, which is also the default
// working directory. A task's type defaults to "shell" (get_task's task_type).
//
// Several versions of a task may be declared. "Latest" is the most recently registered
// version: versions are registered (in SQLite) the first time a workspace load sees them, in
// file order, so a version added by a later reload is newer than every version seen before,
// wherever it sits in the file, and registration survives restarts.
//
// # Durability
//
// A run is written to SQLite (synchronous=FULL, so it survives a power cut, not only a crash)
// before RunTask returns. Concurrent RunTask calls are committed together in one transaction
// (group commit), so durability costs one fsync per batch, not per run. One server owns a
// data_dir at a time (a lock file, released by the kernel on any exit).
//
// Each change of a run's state (an attempt starts, an attempt fails and is retried, the run
// ends) is written until it lands: a write that fails (a full disk) is retried with backoff,
// and the run reaches its real phase once the disk has room. Every attempt has a record
// (the attempts table: started, ended, outcome succeeded | failed | timed_out | aborted |
// interrupted, error).
//
// An attempt the server cuts short is an interruption, not the task's failure (Flyte keeps
// system failures apart from user failures the same way): Close (on SIGTERM) stops taking
// runs, lets running attempts finish until its ctx ends (the shutdown timeout), then stops
// them and records them as interrupted; after a crash or kill -9, Open finds them still
// running and does the same. An interrupted run is queued again for the next start, with
// its interruption counted but none of the task's retries used up, up to
// Config.MaxInterruptions; interrupted more often, it ends failed saying so. Queued runs
// stay queued across a stop and run at the next start. So a task runs at least once, and
// may see a second attempt (FLYTE_WEBHOOK_ATTEMPT) after a crash or a stop that outlasts
// the shutdown timeout: tasks must tolerate it.
//
// # Idempotency keys
//
// An Idempotency-Key belongs to the caller who sent it (their verified subject): the same key
// from the same caller within Config.IdempotencyTTL answers the first run (or a conflict for
// other inputs); from another caller it starts a run of theirs. Keys stored by versions
// before keys were scoped are kept unscoped: they match any caller's key until they expire
// with the TTL and are forgotten, as every key is.
//
// # Execution
//
// A pool of Config.Concurrency workers runs attempts; queued runs wait in order, none is
// dropped. Each attempt is a subprocess in its own process group, started in the task's
// working directory with a small environment (least privilege): PATH, HOME, LANG and TMPDIR
// from the server, nothing else of the server's environment; then the task's env, the task's
// secrets (each the server's environment variable of that name; a missing one fails the run
// without retrying), and:
//
//	FLYTE_WEBHOOK_INPUTS   path of a JSON file holding the run's inputs (an object; defaults
//	                       applied; integers written exactly, as digits)
//	FLYTE_WEBHOOK_OUTPUTS  path where the task writes its outputs (a JSON object)
//	FLYTE_WEBHOOK_RUN      the run's name
//	FLYTE_WEBHOOK_ATTEMPT  the attempt number, from 1
//
// The inputs and outputs files live in a folder of the attempt in the server's private scratch
// directory (on the /dev/shm tmpfs by default on Linux; see scratch.go) while the attempt runs,
// and are removed with that folder after it; SQLite keeps both. stdout and stderr go to data_dir/logs/<run>.<attempt>.{stdout,stderr}.log, each capped
// at Config.LogMaxBytes and created only when the task writes to it. Phases: queued → running → succeeded | failed | aborted |
// timed_out. A failed attempt (non-zero exit, or outputs missing, undeclared or of the wrong
// type) is retried while retries remain; the run's error says why the last one failed (exit
// code and the last lines of its log). An abort or a timeout is final: a task that hung once
// rarely finishes on a second try, and the timeout bounds each attempt. Abort, timeout and
// a stop that outlasts the shutdown timeout send SIGTERM to the process group and SIGKILL
// after Config.AbortGrace.
//
// No task process outlives its server: on Linux the kernel kills a task's process when the
// server dies (Pdeathsig), and the next Open kills whatever those tasks had started (found by
// their FLYTE_WEBHOOK_RUN). Elsewhere a SIGKILLed server can leave task processes behind.
// Apps are handled the same way (see Apps).
//
// # Logs
//
// At info, one line when a run is accepted ("run accepted": run, task, version, caller,
// request_id, idempotency_key given or not, never the key itself; trigger when a trigger
// started it) and one when it ends ("run ended": run, phase, attempts, duration_ms from
// acceptance to the end, error). A state write that cannot land is logged when it first
// fails, about every minute after, and when it lands.
//
// # Triggers
//
// A trigger fires its task on a schedule (five cron fields or @hourly-style descriptors, in
// its time zone, by Config.Clock): each fire starts a run with the trigger's inputs, plus
// the scheduled time (RFC 3339, in the trigger's zone) in its kickoff input, of the version
// it names or the task's latest when it fires. The run records the trigger's name and the
// scheduled time (controlplane.Run.Trigger and ScheduledAt), and its "run accepted" line
// names the trigger, with caller "trigger:<task>/<trigger>": a trigger is a system actor,
// not a user. (trigger, scheduled time) is the fire's unique key, written with the run in
// one transaction, so a schedule time never starts two runs, across restarts too; after
// downtime each active trigger fires once, for its most recent missed time, and a trigger
// that was inactive fires for nothing it missed. SetTriggerActive stores the state, which
// holds across restarts and reloads until the trigger's declaration changes in the file
// (then the declared active: applies again). Reload takes added, removed and changed
// triggers at once; Close stops the scheduler first. See scheduler.go and store_triggers.go.
//
// # Lists, labels and retention
//
// A run records its caller's subject and its labels (RunTaskRequest.Labels); ListRuns lists
// runs newest first in keyset pages, each filter an index range scan in that order, the
// caller's visibility checked in the same query (see store_lists.go). Config.Retention
// (default 30 days, 0 for ever) deletes the finished runs that ended longer ago, with their
// attempts, labels, logs and Idempotency-Keys, by a sweep at Open and hourly that deletes in
// small batches through the writer (see retention.go and store_retention.go).
//
// # Task cache
//
// A task's cache (behavior disable | auto | override, version_override, serialize) is
// honoured: see taskcache.go. A run served from the cache succeeds without an attempt.
//
// # Identity
//
// Every method first asks Config.Verifier who the caller is (see package identity) and fails
// with its error; a nil Verifier treats every caller as "anonymous" (for tests and embedding
// only).
//
// # Apps
//
// An app is a long-running HTTP server declared in the workspace (workspace_apps.go). A
// supervisor goroutine per app (appsup.go) keeps its process in the state it is wanted in:
// activated, it is started in its own process group with the tasks' small environment plus
// PORT (a free 127.0.0.1 port at each start for port: auto), FLYTE_WEBHOOK_APP and
// FLYTE_WEBHOOK_APP_INSTANCE (a random marker per start); status starting until GET on its
// health_path answers 2xx, then running. A process that exits by itself is a crash (status
// crashed, the exit and the last lines of its log in last_error), restarted after 1s, 2s,
// 4s… at most a minute, 1s again after a run of a minute or more; restarts counts them since
// the last activation. Deactivated, it gets SIGTERM (its group), SIGKILL after AbortGrace.
// stdout and stderr go to data_dir/logs/app-<name>.{stdout,stderr}.log, capped at
// LogMaxBytes; the previous process's are kept as app-<name>.prev.*.log.
//
// get_app's is_active is wanted active and running the current declaration; is_deactivated
// is wanted inactive and stopped; both are false in between. revision starts at 1 and goes up
// each time a load sees the app's declaration change (its hash, in SQLite). The endpoint is
// http://127.0.0.1:<port> while a process runs; url is BaseURL + "/app/" + name.
//
// The wanted state is in SQLite (the apps table, store_apps.go): Open starts the apps that
// were wanted active, after killing what a killed server's app processes left behind (found by
// the FLYTE_WEBHOOK_APP_INSTANCE recorded before each start; the app's own process died with
// the server by Pdeathsig). Close stops every app and leaves the wanted states as they are. A
// Reload stops an app whose declaration changed and, when it is wanted active, starts it with
// the new one; it stops an app the file no longer declares and records it as not wanted (so
// declaring it again does not start it by surprise).
//
// CallApp (appcall.go) sends one request to an active app: no redirects followed, a Location
// on the loopback left out, the answer capped at CallMaxBytes and the whole call at
// CallTimeout, only Content-Type and User-Agent sent, plus the caller's Authorization and
// Cookie for an app declared with forward_credentials. The path rules and the query merge are
// the HTTP layer's (controlplane.AppPath, MergeQuery); CallApp checks the path again.
//
// Image builds and model prefetches are not implemented by this backend yet: those
// methods answer controlplane.CodeUnimplemented.
package local
