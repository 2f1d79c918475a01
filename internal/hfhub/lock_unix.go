//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package hfhub

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockDir takes dir's lock (a flock on .hfhub/lock, dropped by the kernel when its holder
// dies), waiting while another snapshot into the same folder holds it, until ctx ends.
func lockDir(ctx context.Context, dir *os.Root, lg *logger) (func(), error) {
	f, err := dir.OpenFile(stateDir+"/lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	for wait, said := 10*time.Millisecond, false; ; wait = min(wait*2, time.Second) {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock: %w", err)
		}
		if !said {
			lg.printf("waiting for another download into %s to finish", dir.Name())
			said = true
		}
		if err := sleep(ctx, wait); err != nil {
			f.Close()
			return nil, err
		}
	}
}
