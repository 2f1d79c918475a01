package controlplane

import "context"

// Unimplemented answers CodeUnimplemented from every Backend method. Embed it in a
// backend and override the methods the backend serves: what a backend serves is exactly what
// it does not leave to Unimplemented, and a method added to Backend later answers 501 on
// every backend until it is implemented (as connect-go's generated Unimplemented handlers
// do).
//
// The credentials are checked first, through Authenticate: an unauthenticated caller gets
// CodeUnauthenticated, never a hint of what the backend serves.
type Unimplemented struct {
	// Backend names the backend in messages, e.g. "the local backend". Defaults to "this
	// backend".
	Backend string
	// Authenticate verifies the caller's credentials in ctx; nil accepts every caller.
	Authenticate func(ctx context.Context) error
}

var _ Backend = Unimplemented{}

func (u Unimplemented) refuse(ctx context.Context, what string) error {
	if u.Authenticate != nil {
		if err := u.Authenticate(ctx); err != nil {
			return err
		}
	}
	name := u.Backend
	if name == "" {
		name = "this backend"
	}
	return Errorf(CodeUnimplemented, "%s: not supported by %s", what, name)
}

// Me answers CodeUnimplemented: every real backend overrides it.
func (u Unimplemented) Me(ctx context.Context) (Identity, error) {
	return Identity{}, u.refuse(ctx, "identity")
}

// GetTask answers CodeUnimplemented.
func (u Unimplemented) GetTask(ctx context.Context, _ TaskRef) (Task, error) {
	return Task{}, u.refuse(ctx, "tasks")
}

// RunTask answers CodeUnimplemented.
func (u Unimplemented) RunTask(ctx context.Context, _ RunTaskRequest) (Run, error) {
	return Run{}, u.refuse(ctx, "tasks")
}

// GetRun answers CodeUnimplemented.
func (u Unimplemented) GetRun(ctx context.Context, _ RunRef) (Run, error) {
	return Run{}, u.refuse(ctx, "runs")
}

// GetRunIO answers CodeUnimplemented.
func (u Unimplemented) GetRunIO(ctx context.Context, _ RunRef) (RunIO, error) {
	return RunIO{}, u.refuse(ctx, "runs")
}

// AbortRun answers CodeUnimplemented.
func (u Unimplemented) AbortRun(ctx context.Context, _ AbortRunRequest) (Run, error) {
	return Run{}, u.refuse(ctx, "runs")
}

// GetApp answers CodeUnimplemented.
func (u Unimplemented) GetApp(ctx context.Context, _ AppRef) (App, error) {
	return App{}, u.refuse(ctx, "apps")
}

// SetAppActive answers CodeUnimplemented.
func (u Unimplemented) SetAppActive(ctx context.Context, _ SetAppActiveRequest) (App, error) {
	return App{}, u.refuse(ctx, "apps")
}

// CallApp answers CodeUnimplemented.
func (u Unimplemented) CallApp(ctx context.Context, _ AppCall) (AppResponse, error) {
	return AppResponse{}, u.refuse(ctx, "apps")
}

// SetTriggerActive answers CodeUnimplemented.
func (u Unimplemented) SetTriggerActive(ctx context.Context, _ SetTriggerActiveRequest) (Trigger, error) {
	return Trigger{}, u.refuse(ctx, "triggers")
}

// BuildImage answers CodeUnimplemented.
func (u Unimplemented) BuildImage(ctx context.Context, _ ImageBuild) (ImageBuildResult, error) {
	return ImageBuildResult{}, u.refuse(ctx, "image builds")
}

// PrefetchModel answers CodeUnimplemented.
func (u Unimplemented) PrefetchModel(ctx context.Context, _ ModelPrefetch) (Run, error) {
	return Run{}, u.refuse(ctx, "model prefetch")
}

// ListRuns answers CodeUnimplemented.
func (u Unimplemented) ListRuns(ctx context.Context, _ ListRunsRequest) (RunPage, error) {
	return RunPage{}, u.refuse(ctx, "run lists")
}

// WatchRun answers CodeUnimplemented.
func (u Unimplemented) WatchRun(ctx context.Context, _ WatchRunRequest) (RunWatch, error) {
	return nil, u.refuse(ctx, "watching runs")
}

// RunLogs answers CodeUnimplemented.
func (u Unimplemented) RunLogs(ctx context.Context, _ RunLogsRequest) (RunLogs, error) {
	return RunLogs{}, u.refuse(ctx, "run logs")
}
