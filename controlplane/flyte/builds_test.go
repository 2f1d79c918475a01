package flyte_test

import (
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
)

// The stand-ins for the image build and model prefetch tasks, under their default names.
var (
	buildTask    = flytetest.StringsTask("system", "production", "build-image", []string{"base_image", "python_version", "flyte_version", "name"}, []string{"pip_packages", "apt_packages", "platform"})
	prefetchTask = flytetest.StringsTask("system", "production", "prefetch-hf-model",
		[]string{"repo", "raw_data_path", "artifact_name", "architecture", "task", "serial_format", "model_type", "short_description", "hf_token_key", "cpu", "memory", "disk"},
		[]string{"modality"})
)

// TestBuildsAndPrefetchNeedTheirTasks: without the tasks deployed, both are unimplemented,
// saying which task is missing and which key names another; an unknown caller still hears
// 401 first.
func TestBuildsAndPrefetchNeedTheirTasks(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{})
	b := open(t, s, nil)
	ctx := callerCtx(t)
	_, err := b.BuildImage(ctx, controlplane.ImageBuild{BaseImage: "python:3.12"})
	if controlplane.CodeOf(err) != controlplane.CodeUnimplemented || !strings.Contains(controlplane.MessageOf(err), "system/production/build-image") ||
		!strings.Contains(controlplane.MessageOf(err), "flyte.build_image_task") {
		t.Errorf("build without its task: %v", err)
	}
	_, err = b.PrefetchModel(ctx, controlplane.ModelPrefetch{Repo: "org/model"})
	if controlplane.CodeOf(err) != controlplane.CodeUnimplemented || !strings.Contains(controlplane.MessageOf(err), "prefetch-hf-model") {
		t.Errorf("prefetch without its task: %v", err)
	}
	bad := controlplane.WithCredentials(t.Context(), controlplane.Credentials{Authorization: "Bearer nope"})
	if _, err := b.BuildImage(bad, controlplane.ImageBuild{}); controlplane.CodeOf(err) != controlplane.CodeUnauthenticated {
		t.Errorf("build, bad credentials: %v", err)
	}
}

func TestBuildImage(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{})
	s.Deploy(t, deployToken, buildTask)
	b := open(t, s, nil)
	ctx := callerCtx(t)
	res, err := b.BuildImage(ctx, controlplane.ImageBuild{
		BaseImage: "python:3.12-slim", Name: "ci-image", PipPackages: []string{"flyte", "numpy==2.1"}, Platforms: []string{"linux/amd64"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ImageName != "ci-image" || res.BaseImage != "python:3.12-slim" || len(res.PipPackages) != 2 || res.Run.Kind != controlplane.KindImageBuild {
		t.Errorf("result %+v", res)
	}
	// Its run is found by name, though it lives in the build task's project and domain.
	run := waitDone(t, b, res.Run.Name)
	if run.Kind != controlplane.KindImageBuild || run.Task.Name != "build-image" || run.Phase != controlplane.PhaseSucceeded {
		t.Errorf("build run %+v", run)
	}
	io, err := b.GetRunIO(ctx, controlplane.RunRef{Name: res.Run.Name})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"apt_packages":[],"base_image":"python:3.12-slim","flyte_version":"","name":"ci-image","pip_packages":["flyte","numpy==2.1"],"platform":["linux/amd64"],"python_version":""}`
	if got := canonical(t, io.Inputs); got != want {
		t.Errorf("inputs %s\nwant   %s", got, want)
	}
	// A parameter the task does not take is refused, naming it.
	_, err = b.BuildImage(ctx, controlplane.ImageBuild{Pre: true})
	if controlplane.CodeOf(err) != controlplane.CodeInvalidInput || !strings.Contains(controlplane.MessageOf(err), `"pre"`) {
		t.Errorf("pre for a task without it: %v", err)
	}
}

func TestPrefetchModel(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{})
	s.Deploy(t, deployToken, prefetchTask)
	b := open(t, s, nil)
	ctx := callerCtx(t)
	run, err := b.PrefetchModel(ctx, controlplane.ModelPrefetch{
		Repo: "org/model", Task: "auto", HFTokenKey: "HF_TOKEN", CPU: "2", Memory: "8Gi", Disk: "50Gi", Modalities: []string{"text"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if run.Kind != controlplane.KindPrefetch || run.Task.Project != "system" {
		t.Errorf("run %+v", run)
	}
	got, err := b.GetRun(ctx, controlplane.RunRef{Name: run.Name})
	if err != nil || got.Kind != controlplane.KindPrefetch {
		t.Errorf("GetRun %+v %v: a prefetch run is known as one", got, err)
	}
	io, err := b.GetRunIO(ctx, controlplane.RunRef{Name: run.Name})
	if err != nil || io.Inputs["repo"] != "org/model" || canonical(t, io.Inputs["modality"]) != `["text"]` || io.Inputs["memory"] != "8Gi" {
		t.Errorf("inputs %v %v", io.Inputs, err)
	}
}
