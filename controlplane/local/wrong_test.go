package local_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// wrongBackends are the local backend with one wrong answer each, one per family of
// conformance cases. TestConformanceCatchesWrongBackends runs the suite against each and
// expects it to fail: a suite that passes a wrong backend checks nothing.
var wrongBackends = map[string]func(controlplane.Backend) controlplane.Backend{
	// Auth: Me believes anyone.
	"me-believes-anyone": func(b controlplane.Backend) controlplane.Backend { return meBelievesAnyone{b} },
	// Auth: GetRun answers without looking at the credentials.
	"getrun-unchecked": func(b controlplane.Backend) controlplane.Backend { return getRunUnchecked{b} },
	// Capabilities: image builds, declared, answer unimplemented.
	"builds-unimplemented": func(b controlplane.Backend) controlplane.Backend { return buildsUnimplemented{b} },
	// Builds: the pip packages are lost on the way to the build.
	"builds-lose-packages": func(b controlplane.Backend) controlplane.Backend { return buildsLosePackages{b} },
	// Prefetch: the request's artifact metadata is lost on the way to the run.
	"prefetch-loses-metadata": func(b controlplane.Backend) controlplane.Backend { return prefetchLosesMetadata{b} },
	// Tasks: the latest version is the first registered.
	"latest-is-oldest": func(b controlplane.Backend) controlplane.Backend { return latestIsOldest{b} },
	// Tasks: Idempotency-Keys are shared between callers.
	"keys-shared": func(b controlplane.Backend) controlplane.Backend { return keysShared{b} },
	// Runs: aborting a finished run is accepted.
	"abort-finished-ok": func(b controlplane.Backend) controlplane.Backend { return abortFinishedOK{b} },
	// Runs: outputs shown before the run succeeded.
	"early-outputs": func(b controlplane.Backend) controlplane.Backend { return earlyOutputs{b} },
	// Triggers: deactivating a trigger leaves it on.
	"trigger-stays-on": func(b controlplane.Backend) controlplane.Backend { return triggerStaysOn{b} },
	// Apps: an app's error status is taken for the backend's failure, not relayed.
	"app-errors-fail": func(b controlplane.Backend) controlplane.Backend { return appErrorsFail{b} },
	// Lists: pages by offset, so runs added meanwhile push runs already listed onto the next
	// page again.
	"list-offset-pages": func(b controlplane.Backend) controlplane.Backend { return listOffsetPages{b} },
	// Lists: filtering for the caller's visibility is left out.
	"list-shows-all": func(b controlplane.Backend) controlplane.Backend { return listShowsAll{b} },
	// Follow: a watch starts at the beginning whatever event the caller has seen.
	"watch-ignores-after": func(b controlplane.Backend) controlplane.Backend { return watchIgnoresAfter{b} },
}

type watchIgnoresAfter struct{ controlplane.Backend }

func (w watchIgnoresAfter) WatchRun(ctx context.Context, req controlplane.WatchRunRequest) (controlplane.RunWatch, error) {
	req.After = ""
	return w.Backend.WatchRun(ctx, req)
}

type meBelievesAnyone struct{ controlplane.Backend }

func (meBelievesAnyone) Me(context.Context) (controlplane.Identity, error) {
	return controlplane.Identity{Subject: "ci", Name: "anyone"}, nil
}

type getRunUnchecked struct{ controlplane.Backend }

func (w getRunUnchecked) GetRun(ctx context.Context, ref controlplane.RunRef) (controlplane.Run, error) {
	if _, err := w.Me(ctx); err != nil {
		return controlplane.Run{Name: ref.Name}, controlplane.Errorf(controlplane.CodeNotFound, "run %q not found", ref.Name)
	}
	return w.Backend.GetRun(ctx, ref)
}

type buildsUnimplemented struct{ controlplane.Backend }

func (w buildsUnimplemented) BuildImage(ctx context.Context, req controlplane.ImageBuild) (controlplane.ImageBuildResult, error) {
	return controlplane.Unimplemented{Backend: "the wrong backend", Authenticate: func(ctx context.Context) error {
		_, err := w.Me(ctx)
		return err
	}}.BuildImage(ctx, req)
}

type buildsLosePackages struct{ controlplane.Backend }

func (w buildsLosePackages) BuildImage(ctx context.Context, req controlplane.ImageBuild) (controlplane.ImageBuildResult, error) {
	asked := req.PipPackages
	req.PipPackages = nil
	res, err := w.Backend.BuildImage(ctx, req)
	res.PipPackages = asked // the answer looks right; the build is not
	return res, err
}

type latestIsOldest struct{ controlplane.Backend }

func (w latestIsOldest) GetTask(ctx context.Context, ref controlplane.TaskRef) (controlplane.Task, error) {
	if ref.Version == "" {
		ref.Version = "v1"
	}
	return w.Backend.GetTask(ctx, ref)
}

type keysShared struct{ controlplane.Backend }

// RunTask makes every caller the harness's first caller for the backend.
func (w keysShared) RunTask(ctx context.Context, req controlplane.RunTaskRequest) (controlplane.Run, error) {
	if _, err := w.Me(ctx); err != nil {
		return controlplane.Run{}, err
	}
	ctx = controlplane.WithCredentials(ctx, controlplane.Credentials{Authorization: "Bearer " + callerToken})
	return w.Backend.RunTask(ctx, req)
}

type abortFinishedOK struct{ controlplane.Backend }

func (w abortFinishedOK) AbortRun(ctx context.Context, req controlplane.AbortRunRequest) (controlplane.Run, error) {
	r, err := w.Backend.AbortRun(ctx, req)
	if controlplane.CodeOf(err) == controlplane.CodeConflict {
		return r, nil
	}
	return r, err
}

type appErrorsFail struct{ controlplane.Backend }

func (w appErrorsFail) CallApp(ctx context.Context, call controlplane.AppCall) (controlplane.AppResponse, error) {
	res, err := w.Backend.CallApp(ctx, call)
	if err == nil && res.Status >= 400 {
		return controlplane.AppResponse{}, controlplane.Errorf(controlplane.CodeBadGateway, "app %q answered %d", call.App.Name, res.Status)
	}
	return res, err
}

type earlyOutputs struct{ controlplane.Backend }

func (w earlyOutputs) GetRunIO(ctx context.Context, ref controlplane.RunRef) (controlplane.RunIO, error) {
	io, err := w.Backend.GetRunIO(ctx, ref)
	if err == nil && io.Outputs == nil {
		io.Outputs = map[string]any{}
	}
	return io, err
}

type triggerStaysOn struct{ controlplane.Backend }

func (w triggerStaysOn) SetTriggerActive(ctx context.Context, req controlplane.SetTriggerActiveRequest) (controlplane.Trigger, error) {
	req.Active = true
	return w.Backend.SetTriggerActive(ctx, req)
}

type listOffsetPages struct{ controlplane.Backend }

// ListRuns reads the whole list and cuts the page at an offset, the token.
func (w listOffsetPages) ListRuns(ctx context.Context, req controlplane.ListRunsRequest) (controlplane.RunPage, error) {
	offset := 0
	if req.PageToken != "" {
		key, n, _ := strings.Cut(req.PageToken, "@")
		if key != req.FilterKey() {
			return controlplane.RunPage{}, controlplane.Errorf(controlplane.CodeInvalidInput, "page_token: made for other filters")
		}
		offset, _ = strconv.Atoi(n)
	}
	all := req
	all.PageToken, all.Limit = "", controlplane.MaxListLimit
	page, err := w.Backend.ListRuns(ctx, all)
	if err != nil {
		return page, err
	}
	runs := page.Runs[min(offset, len(page.Runs)):]
	out := controlplane.RunPage{Runs: runs}
	if n := req.PageSize(); len(runs) > n {
		out.Runs, out.NextPageToken = runs[:n], req.FilterKey()+"@"+strconv.Itoa(offset+n)
	}
	return out, nil
}

type listShowsAll struct{ controlplane.Backend }

func (w listShowsAll) ListRuns(ctx context.Context, req controlplane.ListRunsRequest) (controlplane.RunPage, error) {
	req.Visible = controlplane.Visibility{}
	return w.Backend.ListRuns(ctx, req)
}

type prefetchLosesMetadata struct{ controlplane.Backend }

func (w prefetchLosesMetadata) PrefetchModel(ctx context.Context, req controlplane.ModelPrefetch) (controlplane.Run, error) {
	req.ArtifactName, req.Modalities = "", nil
	return w.Backend.PrefetchModel(ctx, req)
}

// TestConformanceCatchesWrongBackends runs the conformance suite, in a child test process,
// against each wrong backend: each run must fail, and fail in a case of the family it broke.
func TestConformanceCatchesWrongBackends(t *testing.T) {
	if os.Getenv("FWH_WRONG_BACKEND") != "" {
		t.Skip("inside a child run")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	expect := map[string]string{
		"me-believes-anyone":      "TestConformance/Auth/",
		"getrun-unchecked":        "TestConformance/Auth/Unauthenticated/GetRun",
		"builds-unimplemented":    "TestConformance/Capabilities/BuildImage",
		"builds-lose-packages":    "TestConformance/Builds/Lifecycle",
		"prefetch-loses-metadata": "TestConformance/Prefetch/Lifecycle",
		"latest-is-oldest":        "TestConformance/Tasks/GetTask",
		"keys-shared":             "TestConformance/Tasks/IdempotencyPerCaller",
		"abort-finished-ok":       "TestConformance/Runs/Abort",
		"early-outputs":           "TestConformance/Runs/",
		"trigger-stays-on":        "TestConformance/Triggers/Deactivate",
		"app-errors-fail":         "TestConformance/Apps/Lifecycle",
		"list-offset-pages":       "TestConformance/Lists/PagingWhileAdding",
		"list-shows-all":          "TestConformance/Lists/Visibility",
		"watch-ignores-after":     "TestConformance/Follow/Resume",
	}
	if len(expect) != len(wrongBackends) {
		t.Fatalf("%d wrong backends, %d expectations", len(wrongBackends), len(expect))
	}
	for name, failing := range expect {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(exe, "-test.run", "^TestConformance$", "-test.count", "1")
			cmd.Env = append(os.Environ(), "FWH_WRONG_BACKEND="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the conformance suite passed a backend that is wrong (%s):\n%s", name, tail(out))
			}
			if !strings.Contains(string(out), "--- FAIL: "+failing) {
				t.Errorf("the suite failed, but not in %s:\n%s", failing, tail(out))
			}
		})
	}
}

func tail(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}
