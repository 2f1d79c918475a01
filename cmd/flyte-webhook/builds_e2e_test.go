package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestBuildImageWithBuildah is build_image end to end with a real builder: Debian's buildah,
// daemonless (vfs storage in a temporary root, chroot isolation), on the example base image
// (examples/builds/make-base.sh: busybox and stand-in pip and apt-get that only record what
// they are asked, since nothing can be downloaded here). The image exists afterwards, its
// Containerfile holds the requested steps, the stand-ins saw exactly the requested packages,
// and abort_run stops a build in progress. `make test` installs buildah and busybox-static
// (the builder target); without them the test skips saying so.
func TestBuildImageWithBuildah(t *testing.T) {
	t.Parallel()
	buildah, flags := buildahStore(t)

	dataDir := t.TempDir()
	port := freePort(t)
	sum := sha256.Sum256([]byte(e2eToken))
	quoted := func(fs []string) string { return `["` + strings.Join(fs, `", "`) + `"]` }
	p := startConfigured(t, port, fmt.Sprintf(`port: %d
backend:
  local:
    data_dir: %s
    abort_grace: 10s
    auth:
      tokens: [{sha256: %s, subject: e2e, name: E2E}]
    builds:
      builder: buildah
      builder_flags: %s
      build_flags: ["--isolation", "chroot", "--pull=never"]
      base_image: %s
      timeout: 5m
`, port, dataDir, hex.EncodeToString(sum[:]), quoted(flags), exampleBase))
	p.token = e2eToken

	platform := runtime.GOOS + "/" + runtime.GOARCH
	status, res := p.do(t, "POST", "/build-image?name=e2e/app&flyte_version=2.0.0",
		`{"pip_packages": ["numpy==1.26.4", "pandas>=2,<3"], "apt_packages": ["curl", "git"], "platform": ["`+platform+`"]}`)
	image, _ := res["image_name"].(string)
	if status != 200 || !strings.HasPrefix(image, "localhost/e2e/app:") || res["base_image"] != exampleBase {
		t.Fatalf("build_image: %d %v", status, res)
	}
	name := runOf(t, res)
	if r := p.waitDone(t, name); r["phase"] != "succeeded" {
		t.Fatalf("build %v\n%s", r, p.stderr.String())
	}
	_, io := p.do(t, "GET", "/run/"+name+"/io", "")
	outputs, _ := io["outputs"].(map[string]any)
	cf, _ := outputs["containerfile"].(string)
	for _, step := range []string{"FROM " + exampleBase + "\n",
		"RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends 'curl' 'git' && rm -rf /var/lib/apt/lists/*\n",
		"RUN pip install --no-cache-dir 'flyte==2.0.0' 'numpy==1.26.4' 'pandas>=2,<3'\n"} {
		if !strings.Contains(cf, step) {
			t.Errorf("the Containerfile lacks %q:\n%s", step, cf)
		}
	}
	if outputs["image"] != image || outputs["builder"] != buildah || !strings.HasPrefix(fmt.Sprint(outputs["digest"]), "sha256:") {
		t.Errorf("outputs %v", outputs)
	}
	images, err := exec.Command("buildah", append(append([]string{"images"}, flags...), "--format", "{{.Name}}:{{.Tag}} {{.ID}}")...).CombinedOutput()
	if err != nil || !strings.Contains(string(images), image+" ") {
		t.Errorf("buildah images does not list %s (%v):\n%s", image, err, images)
	}
	// The build's log is the run's log; the stand-ins said there exactly what they were asked.
	log := readLogs(t, dataDir, name)
	for _, line := range []string{"stand-in apt-get: update\n", "stand-in apt-get: install -y --no-install-recommends curl git\n",
		"stand-in pip: install --no-cache-dir flyte==2.0.0 numpy==1.26.4 pandas>=2,<3\n"} {
		if strings.Count(log, line) != 1 {
			t.Errorf("the build's log does not have %q once:\n%s", line, log)
		}
	}
	if n := strings.Count(log, "stand-in "); n != 3 {
		t.Errorf("the stand-ins ran %d times, want 3:\n%s", n, log)
	}

	// abort_run stops a build in progress: the builder's process group is signalled, and
	// buildah removes its working container.
	// A package name of this test alone, so the process check below sees no one else's.
	sleeper := fmt.Sprintf("stand-in-sleeps-%d-%d", os.Getpid(), time.Now().UnixNano())
	_, res = p.do(t, "POST", "/build-image", `{"pip_packages": ["`+sleeper+`"]}`)
	slow := runOf(t, res)
	waitFor(t, "the stand-in pip to start", func() bool { return strings.Contains(readLogs(t, dataDir, slow), "stand-in pip:") })
	if status, r := p.do(t, "POST", "/run/"+slow+"/abort?reason=too+slow", ""); status != 200 {
		t.Fatalf("abort_run: %d %v", status, r)
	}
	if r := p.waitDone(t, slow); r["phase"] != "aborted" {
		t.Fatalf("the aborted build is %v", r)
	}
	waitFor(t, "the stand-in pip to be stopped", func() bool { return !processWith(sleeper) })
	waitFor(t, "buildah to remove its working container", func() bool {
		out, err := exec.Command("buildah", append(append([]string{"containers"}, flags...), "--quiet")...).Output()
		return err == nil && strings.TrimSpace(string(out)) == ""
	})
}

const exampleBase = "localhost/flyte-webhook-example-base:1"

// buildahStore skips the test without buildah (as root) and busybox-static; else it makes a
// temporary buildah store holding the example base image, and returns buildah's path and the
// flags that select the store.
func buildahStore(t *testing.T) (string, []string) {
	t.Helper()
	buildah, err := exec.LookPath("buildah")
	if err != nil {
		t.Skip("buildah is not on PATH (make builder installs it, with busybox-static, as root): the real-builder test cannot run")
	}
	if os.Geteuid() != 0 {
		t.Skip("not root: buildah without root needs subordinate uid and gid ranges set up; CI runs as root")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("/bin/busybox is missing (apt-get install busybox-static): the example base image cannot be made")
	}
	store := t.TempDir()
	flags := []string{"--storage-driver", "vfs", "--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "runroot")}
	mk := exec.Command("sh", append([]string{filepath.Join(repoRoot(t), "examples", "builds", "make-base.sh")}, flags...)...)
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make-base.sh: %v\n%s", err, out)
	}
	return buildah, flags
}

func runOf(t *testing.T, res map[string]any) string {
	t.Helper()
	u, _ := res["image_build_run_url"].(string)
	if !strings.Contains(u, "/run/") {
		t.Fatalf("image_build_run_url %q", u)
	}
	return u[strings.LastIndex(u, "/")+1:]
}

// readLogs is a run's first attempt's stdout and stderr logs.
func readLogs(t *testing.T, dataDir, run string) string {
	t.Helper()
	var b strings.Builder
	for _, s := range []string{"stdout", "stderr"} {
		raw, _ := os.ReadFile(filepath.Join(dataDir, "logs", run+".1."+s+".log"))
		b.Write(raw)
	}
	return b.String()
}

// waitFor polls cond, bounded generously.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// processWith reports whether a process has word among its arguments (read from /proc).
func processWith(word string) bool {
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, d := range dirs {
		raw, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		for _, arg := range strings.Split(string(raw), "\x00") {
			if arg == word {
				return true
			}
		}
	}
	return false
}
