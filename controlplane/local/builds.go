package local

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// BuildConfig configures image builds (build_image), under backend.local.builds.
type BuildConfig struct {
	// Builder is the image builder: buildah, podman or docker, by name (looked up on PATH) or
	// by path; its base name says which of the three it is (their commands and flags differ).
	// Defaults to the first of buildah, podman and docker found on PATH at each build. Note a
	// docker client without an engine is found like any other: it is used and fails the
	// build saying it cannot reach the daemon.
	Builder string `yaml:"builder"`
	// BuilderFlags are given to every command of the builder (build and push), after the
	// subcommand: storage options such as ["--storage-driver", "vfs"], ["--root", "/x"].
	// Defaults to none.
	BuilderFlags []string `yaml:"builder_flags"`
	// BuildFlags are given to the build command only: ["--isolation", "chroot"] for buildah
	// without an OCI runtime, ["--pull=never"] for local base images only. Defaults to none.
	BuildFlags []string `yaml:"build_flags"`
	// PushFlags are given to the push command only: ["--tls-verify=false"] for a plain-HTTP
	// registry. Defaults to none.
	PushFlags []string `yaml:"push_flags"`
	// BaseImage is the image built on when a request names none; {python_version} in it is
	// replaced by the request's python_version (else PythonVersion). Defaults to
	// "docker.io/library/python:{python_version}-slim-bookworm", Debian's slim Python image.
	BaseImage string `yaml:"base_image"`
	// PythonVersion is the python_version of a request that names none. Defaults to "3.12".
	PythonVersion string `yaml:"python_version"`
	// BaseImageAllowlist, when set, is the base images a request may name: an entry is an
	// image reference matched exactly, or a prefix ending in "*" ("docker.io/library/python:*").
	// Absent allows every base image; present but empty allows only BaseImage's. Defaults to
	// absent.
	BaseImageAllowlist *[]string `yaml:"base_image_allowlist"`
	// Registry, when set, is where built images are pushed: host[:port] and an optional path
	// ("ghcr.io/team"); an image is registry/name:tag. Unset, images stay in the builder's
	// local storage as localhost/name:tag. Defaults to unset.
	Registry string `yaml:"registry"`
	// RegistrySecret names the server's environment variable holding the registry's
	// credentials as user:password (or user:token). They reach the builder in an auth file
	// in the attempt's private scratch folder, never on a command line or in a log. Defaults
	// to none: push without credentials.
	RegistrySecret string `yaml:"registry_secret"`
	// Timeout bounds a build (and its push); then the run is timed_out. Defaults to 1h.
	Timeout time.Duration `yaml:"timeout"`
}

// The builders looked for, in order, when BuildConfig.Builder is unset.
var builderNames = []string{"buildah", "podman", "docker"}

// defaultBaseImage is BuildConfig.BaseImage's default.
const defaultBaseImage = "docker.io/library/python:{python_version}-slim-bookworm"

func (c BuildConfig) withDefaults() BuildConfig {
	if c.BaseImage == "" {
		c.BaseImage = defaultBaseImage
	}
	if c.PythonVersion == "" {
		c.PythonVersion = "3.12"
	}
	if c.Timeout == 0 {
		c.Timeout = time.Hour
	}
	return c
}

// envNamePattern is a secret's name: an environment variable's.
var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c BuildConfig) validate() error {
	if c.Builder != "" && !slices.Contains(builderNames, filepath.Base(c.Builder)) {
		return fmt.Errorf("local: builds.builder: %q is not buildah, podman or docker (by name or path)", c.Builder)
	}
	if !controlplane.ValidPythonVersion(c.PythonVersion) {
		return fmt.Errorf("local: builds.python_version: %q is not a Python version such as 3.12", c.PythonVersion)
	}
	if base := c.baseImage(c.PythonVersion); !controlplane.ValidImageRef(base) {
		return fmt.Errorf("local: builds.base_image: %q is not an image reference", base)
	}
	if c.BaseImageAllowlist != nil {
		for i, e := range *c.BaseImageAllowlist {
			// A prefix is checked as the start of a reference ("…/python:" + "x").
			prefix, isPrefix := strings.CutSuffix(e, "*")
			if isPrefix && (prefix == "" || controlplane.ValidImageRef(prefix+"x")) {
				continue
			}
			if !controlplane.ValidImageRef(e) {
				return fmt.Errorf("local: builds.base_image_allowlist[%d]: %q is not an image reference (or a prefix of one ending in *)", i, e)
			}
		}
	}
	if c.Registry != "" && !controlplane.ValidRegistry(c.Registry) {
		return fmt.Errorf("local: builds.registry: %q is not host[:port][/path]", c.Registry)
	}
	if c.RegistrySecret != "" && !envNamePattern.MatchString(c.RegistrySecret) {
		return fmt.Errorf("local: builds.registry_secret: %q is not an environment variable's name", c.RegistrySecret)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("local: builds.timeout: %s is negative", c.Timeout)
	}
	for key, flags := range map[string][]string{"builder_flags": c.BuilderFlags, "build_flags": c.BuildFlags, "push_flags": c.PushFlags} {
		for i, f := range flags {
			if f == "" || strings.ContainsAny(f, "\x00\n") {
				return fmt.Errorf("local: builds.%s[%d]: empty or holds a NUL or newline", key, i)
			}
		}
	}
	return nil
}

// baseImage is BaseImage for a python version.
func (c BuildConfig) baseImage(python string) string {
	return strings.ReplaceAll(c.BaseImage, "{python_version}", python)
}

// allowsBase reports whether the allowlist lets a request name base.
func (c BuildConfig) allowsBase(base string) bool {
	if c.BaseImageAllowlist == nil {
		return true
	}
	for _, e := range *c.BaseImageAllowlist {
		if e == base || (strings.HasSuffix(e, "*") && strings.HasPrefix(base, strings.TrimSuffix(e, "*"))) {
			return true
		}
	}
	return false
}

// buildKind is image builds' kind of server-executed run (jobs.go).
var buildKind = jobKind{
	task:    controlplane.TaskRef{Project: "system", Domain: "production", Name: "build-image", Version: "v1"},
	timeout: func(c Config) time.Duration { return c.Builds.Timeout },
	decode: func(b *Backend, in map[string]any) (job, error) {
		var s buildSpec
		if err := decodeInputs(in, &s); err != nil {
			return nil, err
		}
		if err := s.check(); err != nil {
			return nil, fmt.Errorf("the build's stored request does not pass its checks: %s", controlplane.MessageOf(err))
		}
		return buildJob{spec: s, cfg: b.cfg.Builds}, nil
	},
}

// BuildImage checks the request (CodeInvalidInput naming the field; CodePermissionDenied for
// a base image outside builds.base_image_allowlist), applies the defaults, and starts a run
// that builds the image with the configured builder (see buildJob).
func (b *Backend) BuildImage(ctx context.Context, req controlplane.ImageBuild) (controlplane.ImageBuildResult, error) {
	who, err := b.caller(ctx)
	if err != nil {
		return controlplane.ImageBuildResult{}, err
	}
	if err := req.Check(); err != nil {
		return controlplane.ImageBuildResult{}, err
	}
	cfg := b.cfg.Builds
	s := buildSpec{PythonVersion: req.PythonVersion, FlyteVersion: req.FlyteVersion, Pre: req.Pre, BaseImage: req.BaseImage,
		PipPackages: nonNilStrings(req.PipPackages), AptPackages: nonNilStrings(req.AptPackages), Platforms: dedupe(req.Platforms)}
	if s.PythonVersion == "" {
		s.PythonVersion = cfg.PythonVersion
	}
	if s.BaseImage == "" {
		s.BaseImage = cfg.baseImage(s.PythonVersion)
	} else if !cfg.allowsBase(s.BaseImage) {
		return controlplane.ImageBuildResult{}, controlplane.Errorf(controlplane.CodePermissionDenied,
			"base_image: %q is not in this webhook's base image allowlist", s.BaseImage)
	}
	if req.Name != "" {
		s.Name = &req.Name
	}
	s.Push = cfg.Registry != ""
	s.Image = imageReference(cfg.Registry, req.Name, s.containerfile())
	var in map[string]any
	js, _ := json.Marshal(s)
	if err := json.Unmarshal(js, &in); err != nil {
		return controlplane.ImageBuildResult{}, fmt.Errorf("local: build inputs: %w", err)
	}
	row, err := b.startJob(ctx, who, controlplane.KindImageBuild, in)
	if err != nil {
		return controlplane.ImageBuildResult{}, err
	}
	res := controlplane.ImageBuildResult{Run: b.toRun(row), BaseImage: s.BaseImage, PipPackages: s.PipPackages, AptPackages: s.AptPackages}
	if s.Name != nil {
		res.ImageName = s.Image
	}
	return res, nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func dedupe(s []string) []string {
	out := []string{}
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// buildJob builds one image: it writes the Containerfile into the attempt's scratch folder
// (with an empty build context beside it), runs the builder's build, and pushes when a
// registry is configured. The builder's output is the run's logs. Its outputs: image (the
// reference), containerfile, builder (the builder's path), duration_seconds, image_id (the
// built image's ID, sha256:…) and digest (the manifest digest in the registry when pushed,
// else the image ID); a build that fails keeps image and containerfile (and builder and
// duration_seconds once a builder ran).
type buildJob struct {
	spec buildSpec
	cfg  BuildConfig
}

func (j buildJob) run(ctx context.Context, env *jobEnv) (map[string]any, error) {
	cf := j.spec.containerfile()
	out := map[string]any{"image": j.spec.Image, "containerfile": cf}
	cfPath := filepath.Join(env.Dir, "Containerfile")
	contextDir := filepath.Join(env.Dir, "context") // empty: the Containerfile copies nothing in
	if err := os.WriteFile(cfPath, []byte(cf), 0o600); err != nil {
		return out, fmt.Errorf("cannot write the Containerfile: %v", err)
	}
	if err := os.Mkdir(contextDir, 0o700); err != nil {
		return out, fmt.Errorf("cannot make the build context: %v", err)
	}
	for _, p := range j.spec.Platforms {
		if err := canBuildFor(p); err != nil {
			return out, err
		}
	}
	builder, err := findBuilder(j.cfg.Builder)
	if err != nil {
		return out, err
	}
	kind := filepath.Base(builder)
	out["builder"] = builder
	iidFile := filepath.Join(env.Dir, "image-id")
	args := append(append(append([]string{"build"}, j.cfg.BuilderFlags...), j.cfg.BuildFlags...),
		"--iidfile", iidFile, "-f", cfPath, "-t", j.spec.Image)
	if len(j.spec.Platforms) > 0 {
		args = append(args, "--platform", strings.Join(j.spec.Platforms, ","))
	}
	args = append(args, contextDir)
	fmt.Fprintf(env.Stdout, "flyte-webhook: building %s with %s\n", j.spec.Image, builder)
	start := time.Now()
	err = env.Exec(env.Command(ctx, nil, builder, args...))
	out["duration_seconds"] = time.Since(start).Round(time.Millisecond).Seconds()
	if err != nil {
		return out, fmt.Errorf("%s build failed: %v", kind, err)
	}
	iid, err := os.ReadFile(iidFile)
	if err != nil || len(bytes.TrimSpace(iid)) == 0 {
		return out, fmt.Errorf("%s build succeeded but wrote no image ID", kind)
	}
	id := string(bytes.TrimSpace(iid))
	if !strings.HasPrefix(id, "sha256:") {
		id = "sha256:" + id
	}
	out["image_id"], out["digest"] = id, id
	if !j.spec.Push {
		return out, nil
	}
	digest, err := j.push(ctx, env, builder, kind)
	out["duration_seconds"] = time.Since(start).Round(time.Millisecond).Seconds()
	if err != nil {
		return out, err
	}
	if digest != "" {
		out["digest"] = digest
	}
	out["pushed"] = true
	return out, nil
}

// push pushes the built image to the configured registry and returns its manifest digest
// ("" when the builder did not say). Credentials go into an auth file in the scratch folder.
func (j buildJob) push(ctx context.Context, env *jobEnv, builder, kind string) (string, error) {
	args := append(append([]string{"push"}, j.cfg.BuilderFlags...), j.cfg.PushFlags...)
	var cmdEnv []string
	if j.cfg.RegistrySecret != "" {
		creds, ok := os.LookupEnv(j.cfg.RegistrySecret)
		if !ok {
			return "", fmt.Errorf("secret %s (builds.registry_secret) is not set in the server's environment", j.cfg.RegistrySecret)
		}
		authDir := filepath.Join(env.Dir, "auth")
		if err := writeAuthFile(authDir, registryHost(j.cfg.Registry), creds); err != nil {
			return "", fmt.Errorf("cannot write the registry auth file: %v", err)
		}
		if kind == "docker" {
			cmdEnv = append(cmdEnv, "DOCKER_CONFIG="+authDir)
		} else {
			args = append(args, "--authfile", filepath.Join(authDir, "config.json"))
		}
	}
	digestFile := filepath.Join(env.Dir, "digest")
	if kind != "docker" {
		args = append(args, "--digestfile", digestFile)
	}
	args = append(args, j.spec.Image)
	fmt.Fprintf(env.Stdout, "flyte-webhook: pushing %s\n", j.spec.Image)
	cmd := env.Command(ctx, cmdEnv, builder, args...)
	var said bytes.Buffer // docker says the digest; the others write it to --digestfile
	cmd.Stdout = io.MultiWriter(env.Stdout, &limitedBuffer{b: &said, max: 64 << 10})
	if err := env.Exec(cmd); err != nil {
		return "", fmt.Errorf("%s push of %s failed: %v", kind, j.spec.Image, err)
	}
	if d, err := os.ReadFile(digestFile); err == nil && len(bytes.TrimSpace(d)) > 0 {
		return string(bytes.TrimSpace(d)), nil
	}
	if m := dockerDigest.FindSubmatch(said.Bytes()); m != nil {
		return string(m[1]), nil
	}
	return "", nil
}

var dockerDigest = regexp.MustCompile(`digest: (sha256:[a-f0-9]{64})`)

// limitedBuffer keeps the first max bytes written to it and never fails a write.
type limitedBuffer struct {
	b   *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// registryHost is the host[:port] of a registry setting.
func registryHost(registry string) string {
	host, _, _ := strings.Cut(registry, "/")
	return host
}

// writeAuthFile writes dir/config.json (0600) in the format buildah, podman (--authfile) and
// docker (DOCKER_CONFIG) read.
func writeAuthFile(dir, host, creds string) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	js, err := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(creds))}}})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), js, 0o600)
}

// findBuilder is the configured builder, else the first of builderNames on PATH.
func findBuilder(configured string) (string, error) {
	if configured != "" {
		path, err := exec.LookPath(configured)
		if err != nil {
			return "", fmt.Errorf("the image builder %s (builds.builder) is not found: install it, or set builds.builder to another; the generated Containerfile is in this run's outputs", configured)
		}
		return path, nil
	}
	for _, name := range builderNames {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("no image builder on the server's PATH (looked for %s): install one (e.g. apt-get install buildah) or set builds.builder; the generated Containerfile is in this run's outputs",
		strings.Join(builderNames, ", "))
}

// nativePlatform is the platform this server builds for without emulation.
var nativePlatform = runtime.GOOS + "/" + runtime.GOARCH

// qemuArch names the binfmt_misc handler qemu-user-static registers for an architecture.
var qemuArch = map[string]string{"amd64": "x86_64", "arm64": "aarch64", "arm": "arm", "386": "i386",
	"ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64", "mips64le": "mips64el"}

// binfmtDir is where registered binfmt_misc handlers are listed (a variable for tests).
var binfmtDir = "/proc/sys/fs/binfmt_misc"

// canBuildFor says whether the machine can build for platform p: its own platform (any
// variant), or another whose emulator is registered with binfmt_misc.
func canBuildFor(p string) error {
	if p == nativePlatform || strings.HasPrefix(p, nativePlatform+"/") {
		return nil
	}
	parts := strings.Split(p, "/")
	if parts[0] == runtime.GOOS {
		if q, ok := qemuArch[parts[1]]; ok {
			if _, err := os.Stat(filepath.Join(binfmtDir, "qemu-"+q)); err == nil {
				return nil
			}
		}
	}
	return fmt.Errorf("platform %s is not this machine's (%s): building it needs emulation (qemu-user-static registered with binfmt_misc), which this machine does not have; build on a %s machine or register the emulator",
		p, nativePlatform, p)
}
