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
// Verify returns a *controlplane.Error with CodeUnauthenticated for credentials it does not
// accept (package identity implements it).
type Verifier interface {
	Verify(ctx context.Context, c controlplane.Credentials) (controlplane.Identity, error)
}

// DefaultDataDir is Config.DataDir's default, relative to the working directory (cmd resolves
// it against the config file's folder).
const DefaultDataDir = ".flyte-webhook"

// Config configures the local control plane. It is decoded strictly from the user's config
// file under backend.local; fields tagged `yaml:"-"` are set by the program. Durations are
// written as Go duration strings ("5s", "24h"); a bare number is refused.
type Config struct {
	// Workspace is the path of the workspace file declaring tasks (see workspace.go). Defaults
	// to none: no tasks are served, and Reload has nothing to read (it fails saying so).
	Workspace string `yaml:"workspace"`
	// DataDir holds the SQLite database (flyte-webhook.db) and the task logs (logs/). Defaults
	// to DefaultDataDir (".flyte-webhook").
	DataDir string `yaml:"data_dir"`
	// ScratchDir is where the server makes its private scratch directory
	// (flyte-webhook-<uid>-<hash of data_dir>, 0700), which holds each running attempt's
	// inputs and outputs files in a folder removed when the attempt ends. Defaults to /dev/shm
	// on Linux when it is a tmpfs with 16 MiB free per concurrent attempt and at least 256
	// MiB, else the scratch directory is data_dir/scratch. On a tmpfs these files take memory
	// while the attempt runs; a task writing huge files there is bounded only by the tmpfs
	// size (outputs over 8 MiB fail the attempt anyway), so set scratch_dir to a disk path for
	// untrusted tasks.
	ScratchDir string `yaml:"scratch_dir"`
	// Concurrency is how many attempts run at once; queued runs wait. Defaults to the number
	// of CPUs. At most 1024.
	Concurrency int `yaml:"concurrency"`
	// LogMaxBytes caps each attempt's stdout and stderr files; the rest is counted and dropped.
	// Defaults to 1 MiB.
	LogMaxBytes int64 `yaml:"log_max_bytes"`
	// AbortGrace is how long a task's process group has between SIGTERM and SIGKILL on abort,
	// timeout and shutdown. Defaults to 5s.
	AbortGrace time.Duration `yaml:"abort_grace"`
	// IdempotencyTTL is how long an Idempotency-Key is remembered. Defaults to 24h.
	IdempotencyTTL time.Duration `yaml:"idempotency_ttl"`
	// Retention is how long a finished run is kept after it ended: then it is deleted with
	// its attempt records, labels and log files (get_run answers 404 for it), and an
	// Idempotency-Key is never kept longer either. A background sweep deletes them, at Open
	// and hourly. Defaults to DefaultRetention (720h, 30 days); 0 keeps everything.
	Retention *time.Duration `yaml:"retention"`
	// MaxInterruptions is how often the server may cut a run's attempts short (a stop that
	// outlasts the shutdown timeout, a crash) and still queue the run again for its next
	// start; a run interrupted more often ends failed, saying so. Interruptions do not use up
	// the task's retries. Defaults to 3. At most 100.
	MaxInterruptions int `yaml:"max_interruptions"`
	// CallTimeout bounds one call_app request to an app, from sending it to the last byte of
	// the answer; a slower app is CodeDeadlineExceeded (504). Defaults to 30s, the Python
	// app's timeout.
	CallTimeout time.Duration `yaml:"call_timeout"`
	// CallMaxBytes caps the body of an app's answer to call_app; a larger one is
	// CodeBadGateway (502). Defaults to 10 MiB.
	CallMaxBytes int64 `yaml:"call_max_bytes"`
	// Builds configures image builds (build_image): the builder and its flags, the default
	// base image, a base image allowlist, a registry to push to (see BuildConfig).
	Builds BuildConfig `yaml:"builds"`
	// BaseURL is the webhook's public URL; a run's url is BaseURL + "/run/" + name, an app's
	// BaseURL + "/app/" + name. Defaults to "" (a url relative to the webhook).
	BaseURL string `yaml:"-"`
	// WebhookName is the webhook's own name: apps may not take it (the API refuses to
	// address it), and call_app sends User-Agent: flyte-webhook/<WebhookName>, as the Python
	// app does. Defaults to "flyte-webhook".
	WebhookName string `yaml:"-"`
	// WebhookPort is the port the webhook listens on: apps may not declare it. 0: none known.
	WebhookPort int `yaml:"-"`
	// Verifier checks every caller, on every method. Nil treats every caller as subject
	// "anonymous": for tests and embedding, never for a server that requires auth.
	Verifier Verifier `yaml:"-"`
	// Logger receives the backend's logs. Defaults to discarding them.
	Logger *slog.Logger `yaml:"-"`
	// Clock is the time triggers fire by. Defaults to the wall clock; tests inject their own.
	Clock Clock `yaml:"-"`

	// appHooks lets tests see and hold the supervisor's restart backoff (export_test.go).
	appHooks *appHooks
}

// withDefaults fills in zero fields. Negative values are left for validate to refuse.
func (c Config) withDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Concurrency == 0 {
		c.Concurrency = runtime.NumCPU()
	}
	if c.LogMaxBytes == 0 {
		c.LogMaxBytes = 1 << 20
	}
	if c.AbortGrace == 0 {
		c.AbortGrace = 5 * time.Second
	}
	if c.IdempotencyTTL == 0 {
		c.IdempotencyTTL = 24 * time.Hour
	}
	if c.MaxInterruptions == 0 {
		c.MaxInterruptions = 3
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 30 * time.Second
	}
	if c.CallMaxBytes == 0 {
		c.CallMaxBytes = 10 << 20
	}
	c.Builds = c.Builds.withDefaults()
	if c.WebhookName == "" {
		c.WebhookName = "flyte-webhook"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	return c
}

// EffectiveRetention is Retention with its default: how long finished runs are kept, 0 for
// ever.
func (c Config) EffectiveRetention() time.Duration {
	if c.Retention == nil {
		return DefaultRetention
	}
	return *c.Retention
}

// Validate checks the config as Open will, with its defaults applied, naming the field at
// fault as the user's config file spells it (for a config checker that does not open the
// backend).
func (c Config) Validate() error { return c.withDefaults().validate() }

// validate names the field at fault, as the user's config file spells it.
func (c Config) validate() error {
	switch {
	case c.Concurrency < 0 || c.Concurrency > 1024:
		return fmt.Errorf("local: concurrency: %d is not in 1-1024", c.Concurrency)
	case c.LogMaxBytes < 0:
		return fmt.Errorf("local: log_max_bytes: %d is negative", c.LogMaxBytes)
	case c.AbortGrace < 0:
		return fmt.Errorf("local: abort_grace: %s is negative", c.AbortGrace)
	case c.IdempotencyTTL < 0:
		return fmt.Errorf("local: idempotency_ttl: %s is negative", c.IdempotencyTTL)
	case c.EffectiveRetention() < 0:
		return fmt.Errorf("local: retention: %s is negative (0 keeps everything)", c.EffectiveRetention())
	case c.MaxInterruptions < 0 || c.MaxInterruptions > 100:
		return fmt.Errorf("local: max_interruptions: %d is not in 1-100", c.MaxInterruptions)
	case c.CallTimeout < 0:
		return fmt.Errorf("local: call_timeout: %s is negative", c.CallTimeout)
	case c.CallMaxBytes < 0:
		return fmt.Errorf("local: call_max_bytes: %d is negative", c.CallMaxBytes)
	}
	return c.Builds.validate()
}
