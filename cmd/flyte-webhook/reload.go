package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// reloadOnSIGHUP reloads the backend (when it can reload) on every SIGHUP until the returned
// stop is called. The backend logs each reload's outcome, one line, so nothing is logged
// here. After stop returns, no reload is running and none will start: call it before
// closing the backend. SIGHUP stays caught (ignored) after stop, so one that arrives during
// shutdown cannot kill the process, which is its default action.
func reloadOnSIGHUP(backend controlplane.Backend, log *slog.Logger) (stop func()) {
	reload := func() { log.Warn("SIGHUP: this backend has nothing to reload") }
	if r, ok := backend.(interface{ Reload() error }); ok {
		reload = func() { _ = r.Reload() }
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := reloadOn(ctx, hup, reload)
	return func() {
		signal.Ignore(syscall.SIGHUP)
		cancel()
		<-stopped
	}
}

// reloadOn calls reload for each value received on sig, one at a time, until ctx ends. The
// returned channel is closed once it has stopped: no reload is running then, and none will
// start, even for a signal that arrived together with the end of ctx.
func reloadOn(ctx context.Context, sig <-chan os.Signal, reload func()) <-chan struct{} {
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
				// select picks at random among ready cases: an ended ctx wins.
				if ctx.Err() != nil {
					return
				}
				reload()
			}
		}
	}()
	return stopped
}
