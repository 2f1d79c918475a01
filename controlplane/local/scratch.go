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
// the largest cost of running a short task. Elsewhere, or when /dev/shm is not a tmpfs, it
// is data_dir/scratch.

const tmpfsMagic = 0x01021994

// defaultScratchDir is the scratch directory for a data_dir: one per data_dir (its absolute
// path hashed into the name) and per user, so two servers never share one.
func defaultScratchDir(dataDir string) string {
	if runtime.GOOS == "linux" && isTmpfs("/dev/shm") {
		abs, err := filepath.Abs(dataDir)
		if err == nil {
			sum := sha256.Sum256([]byte(abs))
			return filepath.Join("/dev/shm", "flyte-webhook-"+strconv.Itoa(os.Geteuid())+"-"+hex.EncodeToString(sum[:6]))
		}
	}
	return filepath.Join(dataDir, "scratch")
}

func isTmpfs(dir string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(dir, &st) == nil && int64(st.Type) == tmpfsMagic
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
