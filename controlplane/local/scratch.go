package local

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"syscall"
)

// An attempt hands its task two files: the inputs to read and a path to write the outputs
// to. They are transient (both are kept in SQLite), so they live in a scratch directory and
// are removed when the attempt ends. On Linux the default scratch directory is on the
// /dev/shm tmpfs: making a file there costs microseconds, while on a large ext4 data disk
// allocating an inode was measured at about 1 ms of CPU, which made creating these two files
// the largest cost of running a short task. /dev/shm is used only when it has room for
// every running attempt's files (16 MiB each: outputs are capped at 8 MiB, inputs at the
// request body limit), and at least 256 MiB: a container's default 64 MiB /dev/shm is
// passed over. Otherwise, and off Linux, it is data_dir/scratch.

const tmpfsMagic = 0x01021994

// defaultScratchDir is the scratch directory for a data_dir: one per data_dir (its absolute
// path hashed into the name) and per user, so two servers never share one.
func defaultScratchDir(dataDir string, concurrency int) string {
	var st syscall.Statfs_t
	onTmpfs := runtime.GOOS == "linux" && syscall.Statfs("/dev/shm", &st) == nil && int64(st.Type) == tmpfsMagic
	return pickScratchDir(dataDir, onTmpfs, uint64(st.Bavail)*uint64(st.Bsize), concurrency)
}

func pickScratchDir(dataDir string, shmIsTmpfs bool, shmFree uint64, concurrency int) string {
	if shmIsTmpfs && shmFree >= max(256<<20, uint64(concurrency)*(16<<20)) {
		if abs, err := filepath.Abs(dataDir); err == nil {
			sum := sha256.Sum256([]byte(abs))
			return filepath.Join("/dev/shm", "flyte-webhook-"+strconv.Itoa(os.Geteuid())+"-"+hex.EncodeToString(sum[:6]))
		}
	}
	return filepath.Join(dataDir, "scratch")
}

// prepareScratch creates dir (0700) or checks the one there: a directory, not a symlink,
// owned by this user and closed to others; a shared place like /dev/shm must not let another
// user read a task's inputs or plant its outputs. Files a previous server left are removed
// (the caller holds the data_dir lock, so none is in use); only files named the way attempts
// name theirs, so a scratch_dir pointed at the wrong place loses nothing else.
func prepareScratch(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return fmt.Errorf("local: scratch_dir %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("local: scratch_dir %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("local: scratch_dir %s is not a directory (a symlink is refused)", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("local: scratch_dir %s belongs to uid %d, not to this user (%d)", dir, st.Uid, os.Geteuid())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("local: scratch_dir %s: %w", dir, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("local: scratch_dir %s: %w", dir, err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() && scratchFile.MatchString(e.Name()) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

// scratchFile matches the names attempts give their files: <run>.<attempt>.(inputs|outputs).json.
var scratchFile = regexp.MustCompile(`^[a-z][-a-z0-9]*\.[0-9]+\.(inputs|outputs)\.json$`)
