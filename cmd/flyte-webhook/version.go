package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// versionCmd prints what the binary was built from, read from the build information the Go
// toolchain embeds (kept by -trimpath and -ldflags='-s -w'): the main module's version (a
// pseudo-version from the VCS, or "(devel)"), the VCS revision and whether the tree had
// uncommitted changes, and the Go version.
func versionCmd(_ context.Context, args []string, stdout, _ io.Writer, _ func(string) string) error {
	fs := newFlagSet("version", stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	info, ok := debug.ReadBuildInfo()
	writeVersion(stdout, info, ok)
	return nil
}

// writeVersion prints info as versionCmd does; ok false means the binary has none.
func writeVersion(w io.Writer, info *debug.BuildInfo, ok bool) {
	if !ok {
		fmt.Fprintf(w, "flyte-webhook (no build information)\ngo:       %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return
	}
	setting := map[string]string{}
	for _, s := range info.Settings {
		setting[s.Key] = s.Value
	}
	rev := setting["vcs.revision"]
	switch {
	case rev == "":
		rev = "unknown (not built in a git checkout, or built with -buildvcs=false)"
	case setting["vcs.modified"] == "true":
		rev += " (modified: built with uncommitted changes)"
	}
	fmt.Fprintf(w, "flyte-webhook %s\n", info.Main.Version)
	fmt.Fprintf(w, "module:   %s\n", info.Main.Path)
	fmt.Fprintf(w, "revision: %s\n", rev)
	if t := setting["vcs.time"]; t != "" {
		fmt.Fprintf(w, "time:     %s\n", t)
	}
	fmt.Fprintf(w, "go:       %s %s/%s\n", info.GoVersion, runtime.GOOS, runtime.GOARCH)
}
