package controlplane_test

import (
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// TestImageBuildCheck: what real requests send passes; whatever could reach a builder, pip or
// apt-get as an option or a second instruction is refused, naming the field.
func TestImageBuildCheck(t *testing.T) {
	t.Parallel()
	ok := []controlplane.ImageBuild{
		{},
		{BaseImage: "python:3.12-slim", PythonVersion: "3.12", FlyteVersion: "2.0.0b3", Name: "team/app", Pre: true},
		{BaseImage: "ghcr.io/org/base:1.2.3@sha256:" + strings.Repeat("ab", 32), Name: "app:v1_2"},
		{BaseImage: "127.0.0.1:5000/base", Name: "a.b/c-d__e"},
		{PipPackages: []string{"numpy", "numpy==1.26.4", "pandas>=2,<3", "flyte[all]~=2.0", "torch==2.3.1+cpu", "a.b_c-d", "x===1.0", "y!=2.*"}},
		{AptPackages: []string{"curl", "libssl3:amd64", "git=1:2.39.2-1.1", "g++", "libc6.1"}},
		{Platforms: []string{"linux/amd64", "linux/arm64/v8"}},
	}
	for _, r := range ok {
		if err := r.Check(); err != nil {
			t.Errorf("%+v: %v, want accepted", r, err)
		}
	}
	bad := map[string]controlplane.ImageBuild{
		"base_image":      {BaseImage: "python:3.12\nRUN id"},
		"python_version":  {PythonVersion: "3"},
		"flyte_version":   {FlyteVersion: "latest"},
		"name":            {Name: "-t"},
		"pip_packages[1]": {PipPackages: []string{"ok", "--index-url=https://evil.example"}},
		"pip_packages[0]": {PipPackages: []string{"pkg; sys_platform == 'linux'"}},
		"apt_packages[0]": {AptPackages: []string{"-oDebug::pkgProblemResolver=1"}},
		"platform[0]":     {Platforms: []string{"linux"}},
	}
	for field, r := range bad {
		err := r.Check()
		if controlplane.CodeOf(err) != controlplane.CodeInvalidInput || !strings.HasPrefix(controlplane.MessageOf(err), field+":") {
			t.Errorf("%+v: %v, want invalid input naming %s", r, err, field)
		}
	}
	for _, s := range []string{"pkg'", "pkg\"", "pkg`id`", "pkg$(id)", "pkg|x", "pkg&x", "pkg>x<y", "pkg\\", "pkg x", "pkg\tx", "pkg\r", "pkg\x00"} {
		if err := (controlplane.ImageBuild{PipPackages: []string{s}}).Check(); err == nil {
			t.Errorf("pip package %q accepted", s)
		}
		if err := (controlplane.ImageBuild{AptPackages: []string{s}}).Check(); err == nil {
			t.Errorf("apt package %q accepted", s)
		}
	}
}
