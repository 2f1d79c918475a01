package main

import (
	"fmt"
	"time"

	"github.com/flyte-webhook/flyte-webhook/impl"
)

// FollowConfig bounds following runs: the waits of get_run and run_task (`wait`) and the
// event streams of watch_run and get_run_logs with follow.
type FollowConfig struct {
	// MaxWait bounds a wait; `wait=true` means it and a longer wait is cut to it. A wait
	// lifts its connection's write deadline for itself, so it may be longer than
	// write_timeout. Defaults to 60s.
	MaxWait time.Duration `yaml:"max_wait"`
	// Heartbeat is how long a stream may stay silent before a comment line keeps proxies
	// from closing it. Defaults to 15s.
	Heartbeat time.Duration `yaml:"heartbeat"`
	// StreamWriteTimeout bounds each write to a stream: a reader that does not take an
	// event within it is dropped (nothing is buffered for it). Defaults to 10s.
	StreamWriteTimeout time.Duration `yaml:"stream_write_timeout"`
	// MaxStreams bounds the streams open at once (503 with Retry-After beyond). Defaults to
	// 10000.
	MaxStreams int `yaml:"max_streams"`
}

// maxMaxWait bounds follow.max_wait: a request held longer is a job for watch_run.
const maxMaxWait = time.Hour

func (f *FollowConfig) defaults() {
	if f.MaxWait == 0 {
		f.MaxWait = impl.DefaultMaxWait
	}
	if f.Heartbeat == 0 {
		f.Heartbeat = impl.DefaultHeartbeat
	}
	if f.StreamWriteTimeout == 0 {
		f.StreamWriteTimeout = impl.DefaultStreamWriteTimeout
	}
	if f.MaxStreams == 0 {
		f.MaxStreams = impl.DefaultMaxStreams
	}
}

func (f FollowConfig) validate() error {
	switch {
	case f.MaxWait < time.Second || f.MaxWait > maxMaxWait:
		return fmt.Errorf("config: follow.max_wait: %s is out of range 1s-%s (watch_run follows a run for longer)", f.MaxWait, maxMaxWait)
	case f.Heartbeat < 0:
		return fmt.Errorf("config: follow.heartbeat: must not be negative")
	case f.StreamWriteTimeout < 0:
		return fmt.Errorf("config: follow.stream_write_timeout: must not be negative")
	case f.MaxStreams < 0:
		return fmt.Errorf("config: follow.max_streams: must not be negative")
	}
	return nil
}
