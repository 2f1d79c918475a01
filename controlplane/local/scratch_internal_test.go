package local

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestPickScratchDir: /dev/shm only when it is a tmpfs with room for every concurrent
// attempt's files (16 MiB each) and at least 256 MiB; a container's 64 MiB /dev/shm is not.
func TestPickScratchDir(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	data := t.TempDir()
	for _, c := range []struct {
		tmpfs       bool
		free        uint64
		concurrency int
		shm         bool
	}{
		{true, 8192 * mib, 4, true},
		{true, 64 * mib, 2, false},   // Docker's default
		{true, 255 * mib, 2, false},  // under the floor
		{true, 256 * mib, 16, true},  // 16 x 16 MiB
		{true, 256 * mib, 17, false}, // one attempt too many
		{false, 8192 * mib, 2, false},
	} {
		got := pickScratchDir(data, c.tmpfs, c.free, c.concurrency)
		if onShm := strings.HasPrefix(got, "/dev/shm/flyte-webhook-"); onShm != c.shm {
			t.Errorf("tmpfs %v, %d MiB free, concurrency %d: %s", c.tmpfs, c.free/mib, c.concurrency, got)
		}
		if !c.shm && got != filepath.Join(data, "scratch") {
			t.Errorf("fallback %s, want data_dir/scratch", got)
		}
	}
	other := t.TempDir()
	if pickScratchDir(data, true, 8192*mib, 2) == pickScratchDir(other, true, 8192*mib, 2) {
		t.Error("two data dirs share a scratch dir")
	}
}
