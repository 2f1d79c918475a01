package local

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestScratchRoom: /dev/shm only with room for every concurrent attempt's files (16 MiB
// each) and at least 256 MiB; a container's 64 MiB /dev/shm is not enough.
func TestScratchRoom(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	for _, c := range []struct {
		free        uint64
		concurrency int
		want        bool
	}{
		{8192 * mib, 4, true},
		{64 * mib, 2, false}, // Docker's default
		{255 * mib, 2, false},
		{256 * mib, 16, true},
		{256 * mib, 17, false},
	} {
		if got := hasRoom(c.free, c.concurrency); got != c.want {
			t.Errorf("%d MiB free, concurrency %d: %v", c.free/mib, c.concurrency, got)
		}
	}
}

// TestScratchFallsBack: a shm directory another user made under our name is passed over
// (with a warning) for data_dir/scratch; the same under a configured scratch_dir is an error.
func TestScratchFallsBack(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("making a directory another user owns needs root")
	}
	shm, data := t.TempDir(), t.TempDir()
	taken, err := privateScratch(shm, data)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(taken, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(taken, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	s, err := openScratch(Config{DataDir: data}, shm, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil || s.dir != filepath.Join(data, "scratch") {
		t.Fatalf("scratch %v, %v; want data_dir/scratch", s, err)
	}
	if !strings.Contains(logs.String(), "belongs to uid 65534") {
		t.Errorf("no warning: %s", logs.String())
	}
	if _, err := openScratch(Config{DataDir: data, ScratchDir: shm}, "", slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
		t.Errorf("configured scratch_dir with a foreign directory: %v", err)
	}
}
