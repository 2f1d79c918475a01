package local

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// Verifier decides who the caller is from the credentials passed through by the webhook.
type Verifier interface {
	Verify(ctx context.Context, c controlplane.Credentials) (controlplane.Identity, error)
}

// Config configures the local control plane. It is decoded strictly from the user's config
// file under backend.local; fields tagged `yaml:"-"` are set by the program.
type Config struct {
	// Workspace is the path of the workspace file declaring tasks. Required.
	Workspace string `yaml:"workspace"`
	// DataDir holds the SQLite database and the run logs. Defaults to ".flyte-webhook".
	DataDir string `yaml:"data_dir"`
	// Concurrency is how many attempts run at once. Defaults to the number of CPUs.
	Concurrency int `yaml:"concurrency"`
	// LogMaxBytes caps each attempt's stdout and stderr files. Defaults to 1 MiB.
	LogMaxBytes int64 `yaml:"log_max_bytes"`
	// AbortGrace is how long a process group has between SIGTERM and SIGKILL. Defaults to 5s.
	AbortGrace time.Duration `yaml:"abort_grace"`
	// IdempotencyTTL is how long an Idempotency-Key is remembered. Defaults to 24h.
	IdempotencyTTL time.Duration `yaml:"idempotency_ttl"`
	// BaseURL is the webhook's public URL; a run's url is BaseURL + "/run/" + name.
	BaseURL string `yaml:"-"`
	// Verifier checks every caller; nil treats every caller as "anonymous".
	Verifier Verifier `yaml:"-"`
	// Logger receives the backend's logs. Defaults to discarding.
	Logger *slog.Logger `yaml:"-"`
}

func (c Config) withDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = ".flyte-webhook"
	}
	if c.Concurrency <= 0 {
		c.Concurrency = runtime.NumCPU()
	}
	if c.LogMaxBytes <= 0 {
		c.LogMaxBytes = 1 << 20
	}
	if c.AbortGrace <= 0 {
		c.AbortGrace = 5 * time.Second
	}
	if c.IdempotencyTTL <= 0 {
		c.IdempotencyTTL = 24 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	if c.Workspace == "" {
		return fmt.Errorf("local: workspace: required")
	}
	if c.Concurrency > 1024 {
		return fmt.Errorf("local: concurrency: %d is more than 1024", c.Concurrency)
	}
	return nil
}
