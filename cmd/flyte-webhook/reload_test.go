package main

import (
	"context"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestReloadOn: reloads run one at a time on each signal; stopping waits for a reload in
// progress, and no reload starts after the stop, even for a signal that came with it. (The
// backend is closed right after: a reload then would touch a closed database.)
func TestReloadOn(t *testing.T) {
	t.Parallel()
	t.Run("stop waits for a running reload", func(t *testing.T) {
		t.Parallel()
		sig := make(chan os.Signal, 1)
		started, release := make(chan struct{}), make(chan struct{})
		var running, calls atomic.Int32
		ctx, cancel := context.WithCancel(context.Background())
		stopped := reloadOn(ctx, sig, func() {
			if running.Add(1) != 1 {
				t.Error("two reloads at once")
			}
			if calls.Add(1) == 1 {
				close(started)
				<-release
			}
			running.Add(-1)
		})
		sig <- syscall.SIGHUP
		<-started
		cancel()
		select {
		case <-stopped:
			t.Fatal("stopped while a reload was still running")
		case <-time.After(50 * time.Millisecond):
		}
		close(release)
		<-stopped
		if running.Load() != 0 {
			t.Fatal("a reload still running after the stop")
		}
		sig <- syscall.SIGHUP
		time.Sleep(20 * time.Millisecond)
		if n := calls.Load(); n != 1 {
			t.Fatalf("%d reloads, want 1", n)
		}
	})
	t.Run("a signal that comes with the stop does not reload", func(t *testing.T) {
		t.Parallel()
		// Each round ends ctx and queues a signal inside a reload: when it returns, both are
		// ready and select alone would pick the signal half of the time.
		for range 64 {
			sig := make(chan os.Signal, 1)
			var calls atomic.Int32
			ctx, cancel := context.WithCancel(context.Background())
			stopped := reloadOn(ctx, sig, func() {
				calls.Add(1)
				sig <- syscall.SIGHUP
				cancel()
			})
			sig <- syscall.SIGHUP
			<-stopped
			if n := calls.Load(); n != 1 {
				t.Fatalf("%d reloads, want 1: one ran after the stop", n)
			}
		}
	})
}
