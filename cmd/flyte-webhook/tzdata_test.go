package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestTimeZonesWithoutZoneinfo: the binary loads a trigger's time zone on a machine without
// the system's zone files (tzdata.go). It runs check-config in a private mount namespace in
// which they are hidden; it needs root (as CI has) for that.
func TestTimeZonesWithoutZoneinfo(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("hiding the zone files needs a private mount namespace: Linux, as root")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare(1)")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	ws := "tasks:\n  - {domain: d, project: p, name: n, version: v1, command: [x]}\n" +
		"triggers:\n  - {name: nightly, task: d/p/n, schedule: \"0 3 * * *\", time_zone: America/New_York}\n"
	if err := os.WriteFile(filepath.Join(dir, "workspace.yaml"), []byte(ws), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	// Where Go looks for zone files on Linux (the toolchain's zoneinfo.zip too, which a
	// binary built without -trimpath finds); each one there is covered by an empty folder.
	script := "set -e\n"
	for _, d := range []string{"/usr/share/zoneinfo", "/usr/share/lib/zoneinfo", "/usr/lib/locale/TZ", "/etc/zoneinfo",
		filepath.Join(strings.TrimSpace(string(goroot)), "lib", "time")} {
		if _, err := os.Stat(d); err == nil {
			script += "mount --bind " + empty + " " + d + " || exit 99\n"
		}
	}
	script += "test ! -e /usr/share/zoneinfo/America/New_York\nexec \"$0\" check-config \"$1\"\n"
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c", script, bin, cfg)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ZONEINFO=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 99 {
		t.Skipf("cannot mount in a private mount namespace here:\n%s", out)
	}
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("check-config without zone files: %v\n%s", err, out)
	}
}
