package controlplanetest

import (
	"context"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// method is one Backend method, called with harmless arguments: the auth and capability
// cases only look at the error's code.
type method struct {
	name   string
	family Capability // "" for Me
	call   func(ctx context.Context, b controlplane.Backend, s *suite) error
}

// methods lists every Backend method. A method added to Backend is added here too, so the
// auth and capability cases cover it.
var methods = []method{
	{"Me", "", func(ctx context.Context, b controlplane.Backend, _ *suite) error {
		_, err := b.Me(ctx)
		return err
	}},
	{"GetTask", Tasks, func(ctx context.Context, b controlplane.Backend, s *suite) error {
		_, err := b.GetTask(ctx, s.ref("echo", ""))
		return err
	}},
	{"RunTask", Tasks, func(ctx context.Context, b controlplane.Backend, s *suite) error {
		_, err := b.RunTask(ctx, controlplane.RunTaskRequest{Task: s.ref("echo", ""), Inputs: map[string]any{"name": "x"}})
		return err
	}},
	{"GetRun", Runs, func(ctx context.Context, b controlplane.Backend, _ *suite) error {
		_, err := b.GetRun(ctx, run("rnosuchrun"))
		return err
	}},
	{"GetRunIO", Runs, func(ctx context.Context, b controlplane.Backend, _ *suite) error {
		_, err := b.GetRunIO(ctx, run("rnosuchrun"))
		return err
	}},
	{"AbortRun", Runs, func(ctx context.Context, b controlplane.Backend, _ *suite) error {
		_, err := b.AbortRun(ctx, controlplane.AbortRunRequest{Run: run("rnosuchrun"), Reason: "conformance"})
		return err
	}},
	{"GetApp", Apps, func(ctx context.Context, b controlplane.Backend, _ *suite) error {
		_, err := b.GetApp(ctx, controlplane.AppRef{Name: "no-such-app"})
		return err
	}},
	{"SetAppActive", Apps, func(ctx context.Context, b controlplane.Backend, _ *suite) error {
		_, err := b.SetAppActive(ctx, controlplane.SetAppActiveRequest{App: controlplane.AppRef{Name: "no-such-app"}})
		return err
	}},
	{"CallApp", Apps, func(ctx context.Context, b controlplane.Backend, _ *suite) error {
		_, err := b.CallApp(ctx, controlplane.AppCall{App: controlplane.AppRef{Name: "no-such-app"}, Method: "GET", Path: "/"})
		return err
	}},
	{"SetTriggerActive", Triggers, func(ctx context.Context, b controlplane.Backend, _ *suite) error {
		_, err := b.SetTriggerActive(ctx, controlplane.SetTriggerActiveRequest{Trigger: controlplane.TriggerRef{TaskName: "no-such-task", Name: "no-such-trigger"}})
		return err
	}},
	{"BuildImage", Builds, func(ctx context.Context, b controlplane.Backend, _ *suite) error {
		// An image reference no builder can pull: a backend that checks input first refuses
		// it, one that starts a build run fails that run; neither touches a registry.
		_, err := b.BuildImage(ctx, controlplane.ImageBuild{BaseImage: "localhost/conformance-never-pulled:0"})
		return err
	}},
	{"ListRuns", Lists, func(ctx context.Context, b controlplane.Backend, s *suite) error {
		_, err := b.ListRuns(ctx, controlplane.ListRunsRequest{Task: &controlplane.TaskRef{Domain: s.h.Domain, Project: s.h.Project, Name: "echo"}, Limit: 1})
		return err
	}},
	{"WatchRun", Follow, func(ctx context.Context, b controlplane.Backend, _ *suite) error {
		w, err := b.WatchRun(ctx, controlplane.WatchRunRequest{Run: run("rnosuchrun")})
		if w != nil {
			w.Close()
		}
		return err
	}},
	{"RunLogs", Follow, func(ctx context.Context, b controlplane.Backend, _ *suite) error {
		_, err := b.RunLogs(ctx, controlplane.RunLogsRequest{Run: run("rnosuchrun")})
		return err
	}},
	{"PrefetchModel", Prefetch, func(ctx context.Context, b controlplane.Backend, _ *suite) error {
		_, err := b.PrefetchModel(ctx, controlplane.ModelPrefetch{Repo: "conformance/never-fetched"})
		return err
	}},
}
