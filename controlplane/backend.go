package controlplane

import "context"

// Backend is a control plane the webhook drives. Every method receives the caller's
// credentials in ctx (see CredentialsFrom) and must refuse with CodeUnauthenticated when they
// do not identify anyone it knows, before anything else (an unimplemented method too: a caller
// without valid credentials learns nothing about what the backend serves).
//
// Methods take a context and one value (a reference or a request struct), so a field added
// later (a project, a page token) never changes a signature. A backend embeds Unimplemented
// and overrides what it serves: a method added here later (ListRuns, WatchRun, RunLogs) then
// answers CodeUnimplemented on every backend until each implements it, and no implementation
// breaks.
//
// Implementations must be safe for concurrent use. A backend that holds resources also
// implements Closer.
type Backend interface {
	// Me returns the identity the credentials in ctx stand for. The webhook calls it before
	// its allowlists answer (caching a success briefly by a hash of the credentials), so an
	// unknown caller gets 401 and never learns what an allowlist holds. A backend that cannot
	// tell answers CodeUnimplemented, which turns that early check off; CodeUnavailable is a
	// 503.
	Me(ctx context.Context) (Identity, error)

	// GetTask returns a task. ref.Version "" means the latest registered version.
	// CodeNotFound when the task or the version does not exist.
	GetTask(ctx context.Context, ref TaskRef) (Task, error)

	// RunTask starts a run. Inputs are checked against the task's interface
	// (CodeInvalidInput naming the input), defaults applied. The run is durable once RunTask
	// returns. With an IdempotencyKey the same caller sent before for the same task and
	// inputs, it returns the earlier run; with other inputs, CodeConflict.
	RunTask(ctx context.Context, req RunTaskRequest) (Run, error)

	// GetRun returns a run of any kind. CodeNotFound for an unknown name.
	GetRun(ctx context.Context, ref RunRef) (Run, error)

	// GetRunIO returns a run with its inputs, and its outputs once it has succeeded.
	GetRunIO(ctx context.Context, ref RunRef) (RunIO, error)

	// AbortRun asks for a run to be aborted and returns it as it is right after the request.
	// CodeNotFound for an unknown run, CodeConflict for one already finished.
	AbortRun(ctx context.Context, req AbortRunRequest) (Run, error)

	// GetApp returns an app. CodeNotFound for an unknown one.
	GetApp(ctx context.Context, ref AppRef) (App, error)

	// SetAppActive activates or deactivates an app. With Wait it returns once the app has
	// reached that state, or CodeDeadlineExceeded when it did not in the backend's bound.
	SetAppActive(ctx context.Context, req SetAppActiveRequest) (App, error)

	// CallApp sends one request to an app's endpoint and returns its answer, whatever its
	// status. CodeConflict when the app is not active, CodeBadGateway when it cannot be
	// reached, CodeDeadlineExceeded when it did not answer in time.
	CallApp(ctx context.Context, call AppCall) (AppResponse, error)

	// SetTriggerActive switches a trigger on or off and returns it as it is then. Switching a
	// trigger to the state it has already is not an error. The state is durable once
	// SetTriggerActive returns. CodeNotFound for an unknown trigger or task (triggers are
	// addressed by the task's name and their own: a pair is unique).
	SetTriggerActive(ctx context.Context, req SetTriggerActiveRequest) (Trigger, error)

	// BuildImage starts an image build run (a Run of KindImageBuild). A backend that builds
	// itself refuses a request that fails ImageBuild.Check (CodeInvalidInput naming the
	// field) before anything runs.
	BuildImage(ctx context.Context, req ImageBuild) (ImageBuildResult, error)

	// PrefetchModel starts a model prefetch run (a Run of KindPrefetch).
	PrefetchModel(ctx context.Context, req ModelPrefetch) (Run, error)

	// ListRuns returns a page of the runs that match req's filters and that req.Visible
	// lets the caller see, newest first (see ListRunsRequest). CodeInvalidInput for a page
	// token made for other filters or not made by this backend, or a filter the backend
	// cannot apply in that combination; CodeUnimplemented for one it cannot apply at all.
	ListRuns(ctx context.Context, req ListRunsRequest) (RunPage, error)

	// WatchRun opens a watch of a run's events (see RunEvent): its phase changes, attempts
	// starting and ending, its log lines when req.Logs, and last EventEnd. CodeNotFound for
	// an unknown run, before anything is watched; ErrEnded when req.After is the position of
	// a finished run's EventEnd. The watch ends with ctx (and when the backend closes); close
	// it when done.
	WatchRun(ctx context.Context, req WatchRunRequest) (RunWatch, error)

	// RunLogs returns the last lines of one attempt's stdout and stderr, bounded. CodeNotFound
	// for an unknown run or attempt. A run without an attempt yet has no lines.
	RunLogs(ctx context.Context, req RunLogsRequest) (RunLogs, error)
}

// Closer is implemented by backends that hold resources (processes, files, connections).
// Close stops taking work and releases them. It waits for work in progress until ctx ends,
// then stops it and returns ctx's error (as net/http's Server.Shutdown does); a second call
// waits for the first to finish and returns its result.
type Closer interface {
	Close(ctx context.Context) error
}
