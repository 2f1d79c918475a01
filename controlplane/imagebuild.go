package controlplane

import "regexp"

// The strict patterns an image build's fields must match before anything runs. They leave out
// everything a builder, pip or apt-get could read as something other than a name: a leading
// '-' (an option such as --index-url=… or -o…), whitespace and newlines (a second Containerfile
// instruction), quotes, shell metacharacters, URLs (pip's "name @ https://…"), environment
// markers (';'). What they let through is safe inside single quotes in a shell and as one
// argument of a builder.
var (
	// pipPackagePattern: a PEP 508 name, optional extras, optional version clauses joined by
	// commas ("numpy", "flyte[all]>=2.0,<3", "torch==2.3.1+cpu"). No spaces, no markers.
	pipPackagePattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?` +
		`(\[[A-Za-z0-9][A-Za-z0-9._-]*(,[A-Za-z0-9][A-Za-z0-9._-]*)*\])?` +
		`((===|==|!=|<=|>=|~=|<|>)[A-Za-z0-9][A-Za-z0-9.*+!_-]*(,(===|==|!=|<=|>=|~=|<|>)[A-Za-z0-9][A-Za-z0-9.*+!_-]*)*)?$`)
	// aptPackagePattern: a Debian package name, optionally :arch and =version
	// ("curl", "libssl3:amd64", "git=1:2.39.2-1.1").
	aptPackagePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]*(:[a-z0-9][a-z0-9-]*)?(=[A-Za-z0-9][A-Za-z0-9.+~:-]*)?$`)
	// imageRefPattern: [host[:port]/]path[:tag][@sha256:…], as the distribution reference
	// grammar has it (lower-case path components; the host may have upper case).
	imageRefPattern = regexp.MustCompile(`^(` + hostPart + `/)?` + pathPart + `(:` + tagPart + `)?(@sha256:[a-f0-9]{64})?$`)
	// imageNamePattern: the name an image is built under, inside the configured registry (or
	// localhost): a path and an optional tag, no host.
	imageNamePattern = regexp.MustCompile(`^` + pathPart + `(:` + tagPart + `)?$`)
	// registryPattern: host[:port] and an optional path.
	registryPattern = regexp.MustCompile(`^` + hostPart + `(/` + pathPart + `)?$`)
	// pythonVersionPattern: 3.12, 3.12.4.
	pythonVersionPattern = regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?$`)
	// flyteVersionPattern: a PEP 440 release with optional pre, post and dev parts
	// (2.0.0, 2.0.0b3, 2.1.0rc1.post2.dev4).
	flyteVersionPattern = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*((a|b|rc)[0-9]+)?(\.post[0-9]+)?(\.dev[0-9]+)?$`)
	// platformPattern: os/arch[/variant] (linux/amd64, linux/arm64/v8).
	platformPattern = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$`)
)

const (
	hostPart  = `[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?`
	component = `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
	pathPart  = component + `(/` + component + `)*`
	tagPart   = `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`
)

// ValidImageRef reports whether s is an image reference ImageBuild.Check accepts as a base
// image: [host[:port]/]path[:tag][@sha256:digest], nothing else (no option, no whitespace).
func ValidImageRef(s string) bool { return len(s) <= 512 && imageRefPattern.MatchString(s) }

// ValidRegistry reports whether s is a registry an image can be pushed to: host[:port] and
// an optional path ("ghcr.io/team", "127.0.0.1:5000").
func ValidRegistry(s string) bool { return len(s) <= 255 && registryPattern.MatchString(s) }

// ValidPythonVersion reports whether s is a Python version such as 3.12 or 3.12.4.
func ValidPythonVersion(s string) bool { return pythonVersionPattern.MatchString(s) }

// Check refuses a request with a field outside its strict pattern, with CodeInvalidInput
// naming the field (and the list item): base_image and name are image references, pip and
// apt packages names with optional version constraints, python_version and flyte_version
// versions, platform os/arch[/variant]. Empty strings pass (they mean the backend's
// defaults); an empty list item does not. A backend checks before it starts anything, so no
// value can reach a builder, pip or apt-get as an option or a second instruction.
func (r ImageBuild) Check() error {
	str := func(field, v string, ok func(string) bool, want string) error {
		if v == "" || ok(v) {
			return nil
		}
		return Errorf(CodeInvalidInput, "%s: %q is not %s", field, v, want)
	}
	list := func(field string, vs []string, ok func(string) bool, want string) error {
		for i, v := range vs {
			if !ok(v) {
				return Errorf(CodeInvalidInput, "%s[%d]: %q is not %s", field, i, v, want)
			}
		}
		return nil
	}
	for _, err := range []error{
		str("base_image", r.BaseImage, ValidImageRef, "an image reference ([host[:port]/]path[:tag][@sha256:digest])"),
		str("python_version", r.PythonVersion, ValidPythonVersion, "a Python version such as 3.12"),
		str("flyte_version", r.FlyteVersion, flyteVersionPattern.MatchString, "a version such as 2.0.0 or 2.0.0b3"),
		str("name", r.Name, func(s string) bool { return len(s) <= 255 && imageNamePattern.MatchString(s) },
			"an image name (lower-case path components and an optional :tag, without a registry host)"),
		list("pip_packages", r.PipPackages, func(s string) bool { return len(s) <= 256 && pipPackagePattern.MatchString(s) },
			"a package name with optional [extras] and version constraints, such as numpy or flyte[all]>=2.0,<3 (no options, URLs, spaces or markers)"),
		list("apt_packages", r.AptPackages, func(s string) bool { return len(s) <= 255 && aptPackagePattern.MatchString(s) },
			"a Debian package name with an optional =version, such as curl or git=1:2.39.2-1.1 (no options)"),
		list("platform", r.Platforms, platformPattern.MatchString, "a platform such as linux/amd64"),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}
