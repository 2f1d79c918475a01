package local

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
)

// An attempt hands its task two files: the inputs to read and a path to write the outputs
// to. They are transient (both are kept in SQLite), so they live in a scratch directory, one
// folder per attempt that is removed with everything in it when the attempt ends (a task may
// write other files beside its outputs).
//
// The scratch directory is private: flyte-webhook-<uid>-<hash of data_dir's absolute path>,
// made by the server (0700) under a base directory, so servers with different data dirs or
// users never share one, and the one holding the data_dir lock owns it alone. The base is
// Config.ScratchDir when set; else, on Linux, /dev/shm when it is a tmpfs with room for every
// running attempt's files (16 MiB each: outputs are capped at 8 MiB, inputs at the request
// body limit) and at least 256 MiB, so a container's default 64 MiB /dev/shm is passed over.
// Making a file on a tmpfs costs microseconds, while on a large ext4 data disk allocating an
// inode was measured at about 1 ms of CPU, which made creating these files the largest cost
// of running a short task. Otherwise the scratch directory is data_dir/scratch.

const tmpfsMagic = 0x01021994

// roomyShm reports whether /dev/shm is a tmpfs with room for concurrency attempts.
func roomyShm(concurrency int) bool {
	var st syscall.Statfs_t
	if runtime.GOOS != "linux" || syscall.Statfs("/dev/shm", &st) != nil || int64(st.Type) != tmpfsMagic {
		return false
	}
	return hasRoom(uint64(st.Bavail)*uint64(st.Bsize), concurrency)
}

func hasRoom(free uint64, concurrency int) bool {
	return free >= max(256<<20, uint64(concurrency)*(16<<20))
}

// privateScratch is the server's own scratch directory under base for dataDir.
func privateScratch(base, dataDir string) (string, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(base, "flyte-webhook-"+strconv.Itoa(os.Geteuid())+"-"+hex.EncodeToString(sum[:6])), nil
}

// scratch is the directory attempts make their folders in.
type scratch struct {
	dir string
	mu  sync.Mutex // serializes remaking dir when it vanished (see attemptDir)
}

// openScratch picks and prepares the scratch directory (see above). shm is the tmpfs to
// prefer when the config names none ("" for none); a /dev/shm directory that is not ours is
// passed over with a warning, a configured one is an error.
func openScratch(cfg Config, shm string, log *slog.Logger) (*scratch, error) {
	base := cfg.ScratchDir
	if base == "" {
		base = shm
	}
	if base != "" {
		dir, err := privateScratch(base, cfg.DataDir)
		if err == nil && cfg.ScratchDir != "" {
			err = os.MkdirAll(base, 0o700) // a configured base may not exist yet
		}
		if err == nil {
			err = prepareScratch(dir, true)
		}
		if err == nil {
			return &scratch{dir: dir}, nil
		}
		if cfg.ScratchDir != "" {
			return nil, err
		}
		log.Warn("not using /dev/shm for scratch files; using data_dir/scratch", "error", err.Error())
	}
	dir := filepath.Join(cfg.DataDir, "scratch")
	if err := prepareScratch(dir, true); err != nil {
		return nil, err
	}
	return &scratch{dir: dir}, nil
}

// prepareScratch makes dir (0700) or checks the one there: a directory, not a symlink, owned
// by this user. The name is ours alone (see privateScratch), so it may be made private again
// and, with clear, emptied of what a previous server left (the caller holds the data_dir lock,
// so none of it is in use).
func prepareScratch(dir string, clear bool) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("local: scratch directory %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("local: scratch directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("local: scratch directory %s is not a directory (a symlink is refused)", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("local: scratch directory %s belongs to uid %d, not to this user (%d)", dir, st.Uid, os.Geteuid())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("local: scratch directory %s: %w", dir, err)
		}
	}
	if !clear {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("local: scratch directory %s: %w", dir, err)
	}
	for _, e := range entries {
		_ = os.RemoveAll(filepath.Join(dir, e.Name()))
	}
	return nil
}

// attemptDir makes the folder of one attempt. When the scratch directory itself is gone
// (systemd-logind removes a user's /dev/shm entries when their last session ends, for one),
// it is made again, with the same checks, without touching other attempts' folders.
func (s *scratch) attemptDir(name string, attempt int) (string, error) {
	dir := filepath.Join(s.dir, name+"."+strconv.Itoa(attempt))
	err := os.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrNotExist) {
		s.mu.Lock()
		err = prepareScratch(s.dir, false)
		s.mu.Unlock()
		if err == nil {
			err = os.Mkdir(dir, 0o700)
		}
	}
	if errors.Is(err, fs.ErrExist) { // left by an attempt the server did not see end
		if err = os.RemoveAll(dir); err == nil {
			err = os.Mkdir(dir, 0o700)
		}
	}
	return dir, err
}

// remove deletes the scratch directory; Close calls it once the workers are done.
func (s *scratch) remove() {
	_ = os.RemoveAll(s.dir)
}
