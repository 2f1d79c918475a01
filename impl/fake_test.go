package impl_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// fakeBackend is an in-memory controlplane.Backend for the HTTP-layer tests: the real backends
// have their own conformance suite. It records what reached it, so tests can tell whether a
// request got past auth and the allowlists.
type fakeBackend struct {
	mu       sync.Mutex
	calls    []string
	creds    []controlplane.Credentials
	inputs   map[string]any
	last     map[string]any // method → the request it last received (see got)
	runs     map[string]controlplane.Run
	failWith error         // when set, every method returns it
	fs       *followState  // watches (fake_follow_test.go)
	sluggish time.Duration // how long the app "sluggish" takes to reach a state with wait
}

func newFake() *fakeBackend {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	return &fakeBackend{runs: map[string]controlplane.Run{
		"r-running":  {Name: "r-running", Kind: controlplane.KindTask, Task: controlplane.TaskRef{Domain: "development", Project: "flytesnacks", Name: "greet", Version: "v1"}, Phase: controlplane.PhaseRunning, URL: "http://x/run/r-running", Attempts: 1, CreatedAt: now, StartedAt: now},
		"r-done":     {Name: "r-done", Kind: controlplane.KindTask, Task: controlplane.TaskRef{Domain: "development", Project: "flytesnacks", Name: "greet", Version: "v1"}, Phase: controlplane.PhaseSucceeded, URL: "http://x/run/r-done", CreatedAt: now, EndedAt: now},
		"r-secret":   {Name: "r-secret", Kind: controlplane.KindTask, Task: controlplane.TaskRef{Domain: "production", Project: "vault", Name: "rotate", Version: "v1"}, Phase: controlplane.PhaseQueued, URL: "http://x/run/r-secret"},
		"r-prefetch": {Name: "r-prefetch", Kind: controlplane.KindPrefetch, Task: controlplane.TaskRef{Domain: "production", Project: "system", Name: "prefetch-hf-model"}, Phase: controlplane.PhaseRunning, URL: "http://x/run/r-prefetch"},
	}}
}

func (f *fakeBackend) record(ctx context.Context, call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	f.creds = append(f.creds, controlplane.CredentialsFrom(ctx))
	return f.failWith
}

// keep records req as the last request of method.
func (f *fakeBackend) keep(method string, req any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == nil {
		f.last = map[string]any{}
	}
	f.last[method] = req
}

// got returns the last request method received (nil when none).
func (f *fakeBackend) got(method string) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last[method]
}

func (f *fakeBackend) called(call string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if c == call {
			return true
		}
	}
	return false
}

func (f *fakeBackend) count(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == call {
			n++
		}
	}
	return n
}

func (f *fakeBackend) lastCreds() controlplane.Credentials {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.creds) == 0 {
		return controlplane.Credentials{}
	}
	return f.creds[len(f.creds)-1]
}

func (f *fakeBackend) Me(ctx context.Context) (controlplane.Identity, error) {
	if err := f.record(ctx, "Me"); err != nil {
		return controlplane.Identity{}, err
	}
	if controlplane.CredentialsFrom(ctx).Authorization == "Bearer bad" {
		return controlplane.Identity{}, controlplane.Errorf(controlplane.CodeUnauthenticated, "invalid or expired credentials")
	}
	return controlplane.Identity{Subject: "user-1", Name: "Ada"}, nil
}

func (f *fakeBackend) GetTask(ctx context.Context, ref controlplane.TaskRef) (controlplane.Task, error) {
	if err := f.record(ctx, "GetTask"); err != nil {
		return controlplane.Task{}, err
	}
	if ref.Name == "missing" {
		return controlplane.Task{}, controlplane.Errorf(controlplane.CodeNotFound, "task %s not found", ref.Name)
	}
	if ref.Name == "uncached" { // a backend that does not say how it caches
		return controlplane.Task{Ref: ref, Type: "python"}, nil
	}
	if ref.Version == "" {
		ref.Version = "v2"
	}
	return controlplane.Task{
		Ref: ref, Type: "python",
		Inputs: []controlplane.Variable{
			{Name: "name", Type: "string", Description: "Who to greet."},
			{Name: "times", Type: "integer", HasDefault: true, Default: 1},
			{Name: "seed", Type: "integer", HasDefault: true, Default: json.Number("9007199254740993")}, // 2^53 + 1
			{Name: "note", Type: "string", HasDefault: true, Default: nil},                              // a null default
		},
		Outputs: []controlplane.Variable{{Name: "greeting", Type: "string", Description: "The greeting."}},
		Cache:   controlplane.Cache{Behavior: "override", VersionOverride: "c1", Serialize: true},
	}, nil
}

func (f *fakeBackend) RunTask(ctx context.Context, req controlplane.RunTaskRequest) (controlplane.Run, error) {
	if err := f.record(ctx, "RunTask"); err != nil {
		return controlplane.Run{}, err
	}
	f.mu.Lock()
	f.inputs = req.Inputs
	f.mu.Unlock()
	f.keep("RunTask", req)
	switch {
	case req.Task.Name == "missing":
		return controlplane.Run{}, controlplane.Errorf(controlplane.CodeNotFound, "task %s not found", req.Task.Name)
	case req.Inputs["bad"] != nil:
		return controlplane.Run{}, controlplane.Errorf(controlplane.CodeInvalidInput, "input %q: unknown input", "bad")
	case req.IdempotencyKey == "reused":
		return controlplane.Run{}, controlplane.Errorf(controlplane.CodeConflict, "Idempotency-Key was used with other inputs")
	}
	return controlplane.Run{Name: "r-new", Kind: controlplane.KindTask, Task: req.Task, Phase: controlplane.PhaseQueued, URL: "http://x/run/r-new"}, nil
}

func (f *fakeBackend) getRun(name string) (controlplane.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.runs[name]
	if !ok {
		return controlplane.Run{}, controlplane.Errorf(controlplane.CodeNotFound, "run %q not found", name)
	}
	return r, nil
}

func (f *fakeBackend) GetRun(ctx context.Context, ref controlplane.RunRef) (controlplane.Run, error) {
	if err := f.record(ctx, "GetRun"); err != nil {
		return controlplane.Run{}, err
	}
	f.keep("GetRunRef", ref)
	return f.getRun(ref.Name)
}

func (f *fakeBackend) GetRunIO(ctx context.Context, ref controlplane.RunRef) (controlplane.RunIO, error) {
	if err := f.record(ctx, "GetRunIO"); err != nil {
		return controlplane.RunIO{}, err
	}
	f.keep("GetRunIORef", ref)
	r, err := f.getRun(ref.Name)
	if err != nil {
		return controlplane.RunIO{}, err
	}
	io := controlplane.RunIO{Run: r, Inputs: map[string]any{"name": "Ada"}}
	if r.Phase == controlplane.PhaseSucceeded {
		io.Outputs = map[string]any{"greeting": "hello Ada"}
	}
	return io, nil
}

func (f *fakeBackend) AbortRun(ctx context.Context, req controlplane.AbortRunRequest) (controlplane.Run, error) {
	name := req.Run.Name
	if err := f.record(ctx, "AbortRun:"+req.Reason); err != nil {
		return controlplane.Run{}, err
	}
	f.keep("AbortRunRef", req.Run)
	f.keep("AbortRun", req.Reason)
	r, err := f.getRun(name)
	if err != nil {
		return r, err
	}
	if r.Phase.Done() {
		return r, controlplane.Errorf(controlplane.CodeConflict, "run %q has already finished (%s)", name, r.Phase)
	}
	return r, nil
}

func (f *fakeBackend) GetApp(ctx context.Context, ref controlplane.AppRef) (controlplane.App, error) {
	if err := f.record(ctx, "GetApp"); err != nil {
		return controlplane.App{}, err
	}
	if ref.Name == "missing" {
		return controlplane.App{}, controlplane.Errorf(controlplane.CodeNotFound, "app %q not found", ref.Name)
	}
	if ref.Name == "crashy" {
		return controlplane.App{Name: ref.Name, Revision: 4, URL: "http://x/app/" + ref.Name, Status: controlplane.AppCrashed, Restarts: 2, LastError: "exit code 1"}, nil
	}
	return controlplane.App{Name: ref.Name, Revision: 3, Endpoint: "http://127.0.0.1:9999", Active: true, URL: "http://x/app/" + ref.Name}, nil
}

func (f *fakeBackend) SetAppActive(ctx context.Context, req controlplane.SetAppActiveRequest) (controlplane.App, error) {
	ref, active, wait := req.App, req.Active, req.Wait
	if err := f.record(ctx, "SetAppActive"); err != nil {
		return controlplane.App{}, err
	}
	f.keep("SetAppActive", wait)
	if wait && ref.Name == "slow" {
		return controlplane.App{}, controlplane.Errorf(controlplane.CodeDeadlineExceeded, "app %q did not become active in time", ref.Name)
	}
	if wait && ref.Name == "sluggish" { // reaches its state after f.sluggish, or not at all
		select {
		case <-time.After(f.sluggish):
		case <-ctx.Done():
			return controlplane.App{}, ctx.Err()
		}
	}
	app := controlplane.App{Name: ref.Name, Revision: 3, Active: active, Deactivated: !active, URL: "http://x/app/" + ref.Name}
	if active {
		app.Endpoint = "http://127.0.0.1:9999"
	}
	return app, nil
}

func (f *fakeBackend) CallApp(ctx context.Context, call controlplane.AppCall) (controlplane.AppResponse, error) {
	if err := f.record(ctx, "CallApp"); err != nil {
		return controlplane.AppResponse{}, err
	}
	f.keep("CallApp", call)
	switch call.Path {
	case "/text":
		return controlplane.AppResponse{Status: 200, ContentType: "text/plain", Body: []byte("pong")}, nil
	case "/list":
		return controlplane.AppResponse{Status: 200, ContentType: "application/json", Body: []byte(`[1,2,3]`)}, nil
	case "/broken":
		return controlplane.AppResponse{Status: 500, ContentType: "text/plain", Body: []byte("boom")}, nil
	case "/unreachable":
		return controlplane.AppResponse{}, controlplane.Wrap(controlplane.CodeBadGateway, errors.New("dial tcp 127.0.0.1:9999: connection refused"), "app \"x\" cannot be reached")
	case "/binary":
		return controlplane.AppResponse{Status: 200, ContentType: "text/plain", Body: []byte{'a', 0, 0xff, 0xfe}}, nil
	case "/png":
		return controlplane.AppResponse{Status: 200, ContentType: "image/png", Body: []byte("PNG but ASCII")}, nil
	case "/plainjson":
		return controlplane.AppResponse{Status: 200, ContentType: "text/plain", Body: []byte(`{"a": 1}`)}, nil
	case "/ansi":
		return controlplane.AppResponse{Status: 200, ContentType: "text/plain", Body: []byte("\x1b[32mok\x1b[0m")}, nil
	case "/empty":
		return controlplane.AppResponse{Status: 200}, nil
	case "/binary-error":
		return controlplane.AppResponse{Status: 503, ContentType: "application/octet-stream", Body: []byte{0, 1, 2}}, nil
	}
	if code, ok := strings.CutPrefix(call.Path, "/status/"); ok {
		n, _ := strconv.Atoi(code)
		r := controlplane.AppResponse{Status: n, ContentType: "application/json", Body: []byte(`{"status": ` + code + `}`)}
		if n >= 300 && n < 400 {
			r.Location = "https://example.com/next"
		}
		return r, nil
	}
	return controlplane.AppResponse{Status: 200, ContentType: "application/json; charset=utf-8", Body: []byte(`{"ok":true,"method":"` + call.Method + `"}`)}, nil
}

func (f *fakeBackend) SetTriggerActive(ctx context.Context, req controlplane.SetTriggerActiveRequest) (controlplane.Trigger, error) {
	ref, active := req.Trigger, req.Active
	if err := f.record(ctx, "SetTriggerActive"); err != nil {
		return controlplane.Trigger{}, err
	}
	f.keep("TriggerRef", ref)
	if ref.Name == "missing" {
		return controlplane.Trigger{}, controlplane.Errorf(controlplane.CodeNotFound, "trigger %s/%s not found", ref.TaskName, ref.Name)
	}
	return controlplane.Trigger{TaskName: ref.TaskName, Name: ref.Name, Active: active}, nil
}

func (f *fakeBackend) BuildImage(ctx context.Context, req controlplane.ImageBuild) (controlplane.ImageBuildResult, error) {
	if err := f.record(ctx, "BuildImage"); err != nil {
		return controlplane.ImageBuildResult{}, err
	}
	f.keep("BuildImage", req)
	res := controlplane.ImageBuildResult{
		Run:       controlplane.Run{Name: "r-build", Kind: controlplane.KindImageBuild, Phase: controlplane.PhaseQueued, URL: "http://x/run/r-build"},
		BaseImage: "debian:bookworm", PipPackages: req.PipPackages,
	}
	if req.Name != "" { // as backends answer: no image name without a name asked for
		res.ImageName = "img:" + req.Name
	}
	return res, nil
}

func (f *fakeBackend) PrefetchModel(ctx context.Context, req controlplane.ModelPrefetch) (controlplane.Run, error) {
	if err := f.record(ctx, "PrefetchModel"); err != nil {
		return controlplane.Run{}, err
	}
	f.keep("PrefetchModel", req)
	return controlplane.Run{Name: "r-prefetch", Kind: controlplane.KindPrefetch, Phase: controlplane.PhaseQueued, URL: "http://x/run/r-prefetch"}, nil
}
