package impl

import (
	"context"
	"log/slog"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// Defaults of Config, exported so a command line can show and check the effective values
// without repeating them.
const (
	// DefaultName is Config.Name's default.
	DefaultName = "flyte-webhook"
	// DefaultMaxBodyBytes is Config.MaxBodyBytes's default: 1 MiB.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxWait is Config.MaxWait's default.
	DefaultMaxWait = 60 * time.Second
	// DefaultHeartbeat is Config.Heartbeat's default.
	DefaultHeartbeat = 15 * time.Second
	// DefaultStreamWriteTimeout is Config.StreamWriteTimeout's default.
	DefaultStreamWriteTimeout = 10 * time.Second
	// DefaultMaxStreams is Config.MaxStreams's default.
	DefaultMaxStreams = 10000
)

// Config configures the HTTP service. The zero value is usable: every operation enabled,
// credentials required, no allowlists.
type Config struct {
	// Name is the webhook's own name: app endpoints that target it are refused (400).
	// Defaults to DefaultName ("flyte-webhook").
	Name string
	// Title is the title of /openapi.json and /docs. Defaults to "Flyte Webhook: <Name>".
	Title string
	// Description opens the description of /openapi.json and /docs, above the spec's own
	// guide (groups, authentication, errors), which is always kept. Defaults to
	// api.DefaultDescription.
	Description string
	// AuthOptional turns off the 401 for requests without credentials (requires_auth: false).
	// The backend still decides who such a caller is. Defaults to false: credentials required.
	AuthOptional bool
	// EndpointGroups or Endpoints (never both) select the enabled operations; neither means
	// every operation.
	EndpointGroups []string
	Endpoints      []string
	// TaskAllowlist, AppAllowlist and TriggerAllowlist: nil means unrestricted, an empty list
	// allows nothing. Entry formats are the seed's (see ParseTaskAllowlist and friends).
	TaskAllowlist    *[]string
	AppAllowlist     *[]string
	TriggerAllowlist *[]string
	// MaxBodyBytes bounds request bodies (413 beyond). Defaults to DefaultMaxBodyBytes (1 MiB).
	MaxBodyBytes int64
	// Verifier, when set, verifies on the webhook's side the credentials that are its own
	// (tokens of an issuer it is configured for), before the backend's Me is asked; other
	// credentials go to Me as before. For a backend that verifies tokens itself (Flyte), so
	// that claim conditions hold there too. The credentials are still passed on to the
	// backend. Defaults to nil: the backend alone decides.
	Verifier Verifier
	// Logger receives the access log and error logs. Defaults to discarding.
	Logger *slog.Logger

	// MaxWait bounds the wait of get_run and run_task (`wait`); `wait=true` means it, a
	// longer wait is cut to it. Defaults to DefaultMaxWait (60s).
	MaxWait time.Duration
	// Heartbeat is how long an event stream may stay silent before a comment line is sent
	// (so proxies keep it open). Defaults to DefaultHeartbeat (15s).
	Heartbeat time.Duration
	// StreamWriteTimeout bounds each write to an event stream: a reader that does not take
	// an event (or a heartbeat) within it is dropped, nothing is buffered for it. Defaults to
	// DefaultStreamWriteTimeout (10s).
	StreamWriteTimeout time.Duration
	// MaxStreams bounds the event streams open at once (watch_run, get_run_logs with
	// follow); beyond it a request gets 503 with Retry-After. Defaults to DefaultMaxStreams.
	MaxStreams int
	// WriteTimeout is the HTTP server's write timeout, 0 when it has none. Waits and streams
	// lift the connection's deadlines for themselves (a wait to its own length plus
	// WriteTimeout); should that fail, a wait is cut short to fit within WriteTimeout.
	WriteTimeout time.Duration
	// Stopping, when set, ends when the server starts to shut down: waits answer at once
	// with the run as it is, and event streams end with a reconnect event, so neither holds
	// up the drain. Defaults to never.
	Stopping context.Context
}

// Verifier verifies credentials on the webhook's side (see Config.Verifier).
type Verifier interface {
	// VerifyOwn judges the credentials when they are its own: it returns own true and the
	// identity, or own true and the refusal (a *controlplane.Error: CodeUnauthenticated, or
	// CodeUnavailable while it cannot tell yet). own false leaves them to the backend.
	VerifyOwn(ctx context.Context, c controlplane.Credentials) (id controlplane.Identity, own bool, err error)
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxWait <= 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.StreamWriteTimeout <= 0 {
		c.StreamWriteTimeout = DefaultStreamWriteTimeout
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	if c.Stopping == nil {
		c.Stopping = context.Background()
	}
	return c
}

// allowlists are the webhook's parsed allowlists; a nil field is unrestricted.
type allowlists struct{ *controlplane.Allowlists }

func (c Config) allowlists() (allowlists, error) {
	a, err := controlplane.ParseAllowlists(c.TaskAllowlist, c.AppAllowlist, c.TriggerAllowlist)
	return allowlists{a}, err
}

// Validate checks the allowlists' entries, naming the first malformed one. NewHandler
// validates too; this lets a config checker do it without building a handler.
func (c Config) Validate() error {
	_, err := c.allowlists()
	return err
}
