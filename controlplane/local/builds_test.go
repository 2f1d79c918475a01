package local_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
)

// openBuilds opens a backend without tasks that builds with the stand-in builder.
func openBuilds(t *testing.T, adjust func(*local.Config)) (*local.Backend, local.Config) {
	t.Helper()
	builder := fakeBuilder(t)
	return open(t, []helperTask{{name: "sleep", kind: "sleep", inputs: "[{name: seconds, type: integer, default: 30}]", outputs: "[{name: slept, type: integer}]"}},
		func(c *local.Config) {
			c.Builds.Builder = builder
			if adjust != nil {
				adjust(c)
			}
		})
}

func build(t *testing.T, b *local.Backend, req controlplane.ImageBuild) controlplane.ImageBuildResult {
	t.Helper()
	res, err := b.BuildImage(context.Background(), req)
	if err != nil {
		t.Fatalf("BuildImage: %v", err)
	}
	return res
}

func runIO(t *testing.T, b *local.Backend, name string) controlplane.RunIO {
	t.Helper()
	io, err := b.GetRunIO(context.Background(), controlplane.RunRef{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return io
}

func runLog(t *testing.T, cfg local.Config, run, stream string) string {
	t.Helper()
	raw, _ := os.ReadFile(filepath.Join(cfg.DataDir, "logs", run+".1."+stream+".log"))
	return string(raw)
}

// TestBuildRunsTheBuilder: the builder gets the Containerfile, the tag and the configured
// flags, its output is the run's logs, and the outputs say what was built.
func TestBuildRunsTheBuilder(t *testing.T) {
	t.Parallel()
	b, cfg := openBuilds(t, func(c *local.Config) {
		c.Builds.BuilderFlags = []string{"--storage-driver", "vfs"}
		c.Builds.BuildFlags = []string{"--isolation", "chroot"}
	})
	res := build(t, b, controlplane.ImageBuild{BaseImage: "localhost/base:1", Name: "team/app:1.0", PipPackages: []string{"numpy"},
		Platforms: []string{runtime.GOOS + "/" + runtime.GOARCH}})
	if res.ImageName != "localhost/team/app:1.0" || res.Run.Task.Name != "build-image" || res.Run.Task.Project != "system" {
		t.Errorf("result %+v: want image localhost/team/app:1.0 and the task system/production/build-image", res)
	}
	if r := waitDone(t, b, res.Run.Name); r.Phase != controlplane.PhaseSucceeded || r.Attempts != 1 {
		t.Fatalf("build %s after %d attempts (%s)", r.Phase, r.Attempts, r.Error)
	}
	log := runLog(t, cfg, res.Run.Name, "stdout")
	for _, want := range []string{"fake buildah build --storage-driver vfs --isolation chroot --iidfile ", " -t localhost/team/app:1.0 ",
		"--platform " + runtime.GOOS + "/" + runtime.GOARCH, "Successfully tagged localhost/team/app:1.0"} {
		if !strings.Contains(log, want) {
			t.Errorf("the run's log lacks %q:\n%s", want, log)
		}
	}
	out := runIO(t, b, res.Run.Name).Outputs
	if out["builder"] != cfg.Builds.Builder || out["image"] != "localhost/team/app:1.0" || out["image_id"] != out["digest"] || out["pushed"] != nil {
		t.Errorf("outputs %v", out)
	}
	if _, ok := out["duration_seconds"]; !ok {
		t.Errorf("outputs %v: no duration_seconds", out)
	}
}

// TestBuildWithoutBuilder: no builder on PATH fails the run saying so, and the outputs still
// carry the generated Containerfile. Not parallel: it empties PATH.
func TestBuildWithoutBuilder(t *testing.T) {
	b, _ := open(t, []helperTask{}, nil)
	t.Setenv("PATH", t.TempDir())
	res := build(t, b, controlplane.ImageBuild{PipPackages: []string{"numpy==1.26.4"}, AptPackages: []string{"curl"}})
	if res.BaseImage != "docker.io/library/python:3.12-slim-bookworm" {
		t.Errorf("default base image %q", res.BaseImage)
	}
	r := waitDone(t, b, res.Run.Name)
	if r.Phase != controlplane.PhaseFailed || !strings.Contains(r.Error, "no image builder on the server's PATH (looked for buildah, podman, docker)") {
		t.Fatalf("build without a builder: %s (%s)", r.Phase, r.Error)
	}
	cf, _ := runIO(t, b, res.Run.Name).Outputs["containerfile"].(string)
	if !strings.Contains(cf, "FROM docker.io/library/python:3.12-slim-bookworm") || !strings.Contains(cf, "'numpy==1.26.4'") {
		t.Errorf("the failed build's outputs lack the Containerfile: %q", cf)
	}
}

// TestBuildRefusedBeforeAnyBuilder: a bad request is refused (400 naming the field) by a
// backend that has no builder at all, and nothing is started.
func TestBuildRefusedBeforeAnyBuilder(t *testing.T) {
	t.Parallel()
	b, _ := open(t, []helperTask{}, func(c *local.Config) { c.Builds.Builder = "/nonexistent/buildah" })
	_, err := b.BuildImage(context.Background(), controlplane.ImageBuild{PipPackages: []string{"--extra-index-url=http://evil.example"}})
	if controlplane.CodeOf(err) != controlplane.CodeInvalidInput || !strings.Contains(controlplane.MessageOf(err), "pip_packages[0]") {
		t.Fatalf("%v", err)
	}
	_, err = b.BuildImage(context.Background(), controlplane.ImageBuild{BaseImage: "debian:12\nRUN id"})
	if controlplane.CodeOf(err) != controlplane.CodeInvalidInput || !strings.Contains(controlplane.MessageOf(err), "base_image") {
		t.Fatalf("%v", err)
	}
}

func TestBuildBaseImageAllowlist(t *testing.T) {
	t.Parallel()
	allow := []string{"localhost/base:1", "docker.io/library/python:*"}
	b, _ := openBuilds(t, func(c *local.Config) { c.Builds.BaseImageAllowlist = &allow })
	for base, ok := range map[string]bool{
		"localhost/base:1": true, "docker.io/library/python:3.11-slim": true, "": true, // "": the default
		"localhost/base:2": false, "docker.io/library/pythonic:1": false, "ghcr.io/evil/python:3": false,
	} {
		_, err := b.BuildImage(context.Background(), controlplane.ImageBuild{BaseImage: base})
		switch {
		case ok && err != nil:
			t.Errorf("%q: %v, want allowed", base, err)
		case !ok && (controlplane.CodeOf(err) != controlplane.CodePermissionDenied || !strings.Contains(controlplane.MessageOf(err), "base_image")):
			t.Errorf("%q: %v, want permission denied naming base_image", base, err)
		}
	}
}

// TestBuildAbortStopsTheBuilder: aborting a build in progress stops the builder's process
// group; the aborted run keeps its Containerfile.
func TestBuildAbortStopsTheBuilder(t *testing.T) {
	t.Parallel()
	b, _ := openBuilds(t, nil)
	res := build(t, b, controlplane.ImageBuild{BaseImage: "localhost/base:1", PipPackages: []string{"fake-builder-sleeps"}})
	waitPhase(t, b, res.Run.Name, controlplane.PhaseRunning)
	if _, err := b.AbortRun(context.Background(), controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: res.Run.Name}, Reason: "wrong packages"}); err != nil {
		t.Fatal(err)
	}
	r := waitDone(t, b, res.Run.Name) // bounded at 30s: the stand-in sleeps a minute unless stopped
	if r.Phase != controlplane.PhaseAborted || !strings.Contains(r.Error, "wrong packages") {
		t.Fatalf("aborted build: %s (%s)", r.Phase, r.Error)
	}
	if cf, _ := runIO(t, b, res.Run.Name).Outputs["containerfile"].(string); !strings.Contains(cf, "fake-builder-sleeps") {
		t.Errorf("the aborted build's outputs lack the Containerfile: %q", cf)
	}
}

func TestBuildTimeout(t *testing.T) {
	t.Parallel()
	b, _ := openBuilds(t, func(c *local.Config) { c.Builds.Timeout = 300 * time.Millisecond })
	res := build(t, b, controlplane.ImageBuild{BaseImage: "localhost/base:1", PipPackages: []string{"fake-builder-sleeps"}})
	if r := waitDone(t, b, res.Run.Name); r.Phase != controlplane.PhaseTimedOut {
		t.Fatalf("build %s (%s), want timed_out", r.Phase, r.Error)
	}
}

func TestBuildFailureSaysWhy(t *testing.T) {
	t.Parallel()
	b, _ := openBuilds(t, nil)
	res := build(t, b, controlplane.ImageBuild{BaseImage: "localhost/base:1", PipPackages: []string{"fake-builder-fails"}})
	r := waitDone(t, b, res.Run.Name)
	if r.Phase != controlplane.PhaseFailed || !strings.Contains(r.Error, "buildah build failed: exit code 1") || !strings.Contains(r.Error, `building at STEP "RUN pip install"`) {
		t.Fatalf("build %s (%s)", r.Phase, r.Error)
	}
}

// TestBuildForeignPlatform: a platform that is not the machine's fails the run saying it
// needs emulation (where the machine has none registered for it).
func TestBuildForeignPlatform(t *testing.T) {
	t.Parallel()
	arch, qemu := "arm64", "aarch64"
	if runtime.GOARCH == "arm64" {
		arch, qemu = "amd64", "x86_64"
	}
	if _, err := os.Stat("/proc/sys/fs/binfmt_misc/qemu-" + qemu); err == nil {
		t.Skipf("this machine emulates %s (binfmt_misc has qemu-%s)", arch, qemu)
	}
	b, _ := openBuilds(t, nil)
	res := build(t, b, controlplane.ImageBuild{BaseImage: "localhost/base:1", Platforms: []string{"linux/" + arch}})
	r := waitDone(t, b, res.Run.Name)
	if r.Phase != controlplane.PhaseFailed || !strings.Contains(r.Error, "needs emulation (qemu") {
		t.Fatalf("build for linux/%s: %s (%s)", arch, r.Phase, r.Error)
	}
}

// TestBuildPush: with a registry the image is registry/name:tag and pushed; the credentials
// reach the builder in an auth file, never on its command line. Not parallel: it sets the
// secret in the environment.
func TestBuildPush(t *testing.T) {
	t.Setenv("FWH_TEST_REGISTRY_CREDS", "ci-bot:s3cret-password")
	b, cfg := openBuilds(t, func(c *local.Config) {
		c.Builds.Registry, c.Builds.RegistrySecret = "127.0.0.1:5000/team", "FWH_TEST_REGISTRY_CREDS"
		c.Builds.PushFlags = []string{"--tls-verify=false"}
	})
	res := build(t, b, controlplane.ImageBuild{BaseImage: "localhost/base:1", Name: "app"})
	if !strings.HasPrefix(res.ImageName, "127.0.0.1:5000/team/app:") {
		t.Fatalf("image %q, want it in the registry", res.ImageName)
	}
	if r := waitDone(t, b, res.Run.Name); r.Phase != controlplane.PhaseSucceeded {
		t.Fatalf("build %s (%s)", r.Phase, r.Error)
	}
	log := runLog(t, cfg, res.Run.Name, "stdout")
	for _, want := range []string{"fake buildah push --tls-verify=false --authfile ", "--digestfile", "auth for 127.0.0.1:5000 as ci-bot"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "s3cret") {
		t.Errorf("the password reached the log:\n%s", log)
	}
	out := runIO(t, b, res.Run.Name).Outputs
	if out["pushed"] != true || out["digest"] == out["image_id"] {
		t.Errorf("outputs %v: want pushed with the registry's digest", out)
	}
}

// TestBuildQueuedSurvivesRestart: a build still queued when the server stops is built by the
// next start, from its stored request.
func TestBuildQueuedSurvivesRestart(t *testing.T) {
	t.Parallel()
	b, cfg := openBuilds(t, func(c *local.Config) { c.Concurrency = 1 })
	blocker := start(t, b, "sleep", map[string]any{"seconds": json.Number("60")})
	waitPhase(t, b, blocker, controlplane.PhaseRunning)
	res := build(t, b, controlplane.ImageBuild{BaseImage: "localhost/base:1", Name: "after-restart", PipPackages: []string{"numpy"}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = b.Close(ctx) // the sleep is interrupted; the build was never started
	b2, err := local.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b2.Close(context.Background()) })
	if _, err := b2.AbortRun(context.Background(), controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: blocker}}); err != nil {
		t.Fatal(err)
	}
	r := waitDone(t, b2, res.Run.Name)
	if r.Phase != controlplane.PhaseSucceeded || r.Kind != controlplane.KindImageBuild {
		t.Fatalf("the build after the restart: %s %s (%s)", r.Kind, r.Phase, r.Error)
	}
	if img := runIO(t, b2, res.Run.Name).Outputs["image"]; img != res.ImageName {
		t.Errorf("built %v, want %s", img, res.ImageName)
	}
}

func TestBuildConfigErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := []string{"bad ref"}
	cases := map[string]local.BuildConfig{
		"builds.builder":              {Builder: "kaniko"},
		"builds.python_version":       {PythonVersion: "three"},
		"builds.base_image":           {BaseImage: "--x"},
		"builds.base_image_allowlist": {BaseImageAllowlist: &empty},
		"builds.registry":             {Registry: "https://ghcr.io"},
		"builds.registry_secret":      {RegistrySecret: "A-B"},
		"builds.timeout":              {Timeout: -time.Second},
		"builds.build_flags":          {BuildFlags: []string{"--a\n--b"}},
	}
	for want, bc := range cases {
		cfg := local.Config{Workspace: "w", DataDir: filepath.Join(dir, "data"), Builds: bc}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want an error naming %s", bc, err, want)
		}
	}
}

// TestBuildLogsAreWatched: a build's output reaches watch_run's log events, in order before
// its end, as a task's does (runs the server executes itself keep a lines file too).
func TestBuildLogsAreWatched(t *testing.T) {
	t.Parallel()
	b, _ := openBuilds(t, nil)
	res := build(t, b, controlplane.ImageBuild{BaseImage: "localhost/base:1", Name: "team/app:1.0"})
	evs := watchAll(t, b, controlplane.WatchRunRequest{Run: controlplane.RunRef{Name: res.Run.Name}, Logs: true}, nil)
	got := describeEvents(evs)
	tagged := strings.Index(got, "log:stdout:Successfully tagged localhost/team/app:1.0")
	if tagged < 0 || tagged > strings.Index(got, "attempt_ended:1:succeeded") || !strings.HasSuffix(got, "end:succeeded") {
		t.Errorf("events %s: want the builder's output as log events before the attempt's end", got)
	}
}
