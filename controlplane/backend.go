package controlplane

import "context"

// Backend is a control plane the webhook drives. Every method receives the caller's
// credentials in ctx (see CredentialsFrom) and must refuse with CodeUnauthenticated when they
// do not identify anyone it knows.
//
// Implementations must be safe for concurrent use.
type Backend interface {
	// Me returns the identity the credentials in ctx stand for.
	Me(ctx context.Context) (Identity, error)

	// GetTask returns a task. ref.Version "" means the latest registered version.
	// CodeNotFound when the task or the version does not exist.
	GetTask(ctx context.Context, ref TaskRef) (Task, error)

	// RunTask starts a run. Inputs are checked against the task's interface
	// (CodeInvalidInput naming the input), defaults applied. The run is durable once RunTask
	// returns. With an IdempotencyKey seen before for the same task and inputs, it returns the
	// earlier run; with other inputs, CodeConflict.
	RunTask(ctx context.Context, req RunTaskRequest) (Run, error)

	// GetRun returns a run of any kind. CodeNotFound for an unknown name.
	GetRun(ctx context.Context, name string) (Run, error)

	// GetRunIO returns a run with its inputs, and its outputs once it has succeeded.
	GetRunIO(ctx context.Context, name string) (RunIO, error)

	// AbortRun asks for a run to be aborted and returns it as it is right after the request.
	// CodeNotFound for an unknown run, CodeConflict for one already finished.
	AbortRun(ctx context.Context, name, reason string) (Run, error)

	// GetApp returns an app. CodeNotFound for an unknown one.
	GetApp(ctx context.Context, ref AppRef) (App, error)

	// SetAppActive activates (active) or deactivates an app. With wait it returns once the app
	// has reached that state, or CodeDeadlineExceeded when it did not in the backend's bound.
	SetAppActive(ctx context.Context, ref AppRef, active, wait bool) (App, error)

	// CallApp sends one request to an app's endpoint and returns its answer, whatever its
	// status. CodeConflict when the app is not active, CodeBadGateway when it cannot be
	// reached, CodeDeadlineExceeded when it did not answer in time.
	CallApp(ctx context.Context, call AppCall) (AppResponse, error)

	// SetTriggerActive switches a trigger on or off. CodeNotFound for an unknown trigger.
	SetTriggerActive(ctx context.Context, ref TriggerRef, active bool) (Trigger, error)

	// BuildImage starts an image build run.
	BuildImage(ctx context.Context, req ImageBuild) (ImageBuildResult, error)

	// PrefetchModel starts a model prefetch run (a Run of KindPrefetch).
	PrefetchModel(ctx context.Context, req ModelPrefetch) (Run, error)
}
