package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// lockDataDir takes an exclusive lock on data_dir for as long as the returned file is open.
// Two servers on one data_dir would each recover (and kill) the other's running tasks; the
// second is refused instead. The kernel drops the lock when the holder dies, even by SIGKILL,
// so a crash never leaves a stale lock behind.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("local: data_dir: %w", err)
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	// A flock belongs to the open file, and a child forked by this process (for a task or an
	// app, by another goroutine) shares it until it execs, when close-on-exec drops it. So
	// right after a backend of this process released dir (unlockDataDir empties the file
	// first), the lock can still be held for a moment by a fork that has not exec'd yet: an
	// empty file held locked means exactly that, and is waited for (bounded). A holder that
	// names itself is a live server, refused at once.
	for deadline := time.Now().Add(5 * time.Second); errors.Is(err, syscall.EWOULDBLOCK) && time.Now().Before(deadline); {
		if holder, _ := os.ReadFile(path); len(holder) != 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("local: data_dir: %s is in use by another server (pid %s)", dir, strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("local: data_dir: lock %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

// unlockDataDir releases the lock lockDataDir took: it empties the file first, so that an
// Open in this process that finds the lock still held (by a fork not yet exec'd) knows it is
// being released rather than held by a live server.
func unlockDataDir(f *os.File) error {
	_ = f.Truncate(0)
	return f.Close()
}
