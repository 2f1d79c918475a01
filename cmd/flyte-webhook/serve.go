package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
	"github.com/flyte-webhook/flyte-webhook/impl"
	"github.com/flyte-webhook/flyte-webhook/internal/logbuf"
)

// serveCmd serves until ctx ends (SIGTERM/SIGINT), in steps: load the config, open the
// logger, listen, open the backend, build the handler, serve, shut down.
func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	c, token, err := loadServeConfig(args, stdout, env)
	if err != nil {
		return err
	}
	logOut, log := openLogger(stderr, c.LogLevel)
	defer logOut.Close()
	log.Info("starting", "config", c.logValue())
	for _, w := range c.warnings() {
		log.Warn(w)
	}

	// Listen first: a port in use fails before anything else starts.
	ln, err := net.Listen("tcp", joinHostPort(c.Host, c.Port))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()

	backend, closeBackend, err := openBackend(ctx, c, log)
	if err != nil {
		return err
	}
	hc := c.handlerConfig()
	hc.Logger = log
	// On SIGTERM waits answer at once and streams end with a reconnect event, so the drain
	// is never held up by them.
	hc.Stopping = ctx
	if f := c.Backend.Flyte; f != nil && len(f.Issuers) > 0 {
		// Flyte verifies tokens itself; the webhook verifies its issuers' tokens too, so
		// their claim conditions and allowlists hold here as well.
		ic := f.issuerConfig()
		ic.Logger = log.With("component", "identity")
		v, err := identity.New(ic)
		if err != nil {
			closeWithin(closeBackend, c.ShutdownTimeout, log)
			return fmt.Errorf("config: %w", err)
		}
		v.Start(ctx)
		hc.Verifier = v
	}
	handler, err := impl.NewHandler(hc, backend)
	if err != nil {
		closeWithin(closeBackend, c.ShutdownTimeout, log)
		return err
	}
	srv := newHTTPServer(ctx, c, handler, log)
	stopReload := reloadOnSIGHUP(backend, log)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// Start-up (loading and filtering the spec, marshaling the docs) leaves garbage behind;
	// hand it back to the OS once instead of carrying it while idle.
	debug.FreeOSMemory()
	log.Info("serving", "url", c.PublicURL, "docs", c.PublicURL+"/docs/")
	if token != "" {
		printDevToken(stdout, c.PublicURL, token)
	}

	select {
	case err = <-served:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		} else {
			err = fmt.Errorf("serve: %w", err)
		}
		stopReload()
		closeWithin(closeBackend, c.ShutdownTimeout, log)
	case <-ctx.Done():
		shutdown(srv, stopReload, closeBackend, c.ShutdownTimeout, log)
	}
	log.Info("stopped")
	return err
}

// loadServeConfig parses serve's flags and loads the config they name; with --dev-token it
// also makes the development token (returned, to print once serving).
func loadServeConfig(args []string, stdout io.Writer, env func(string) string) (Config, string, error) {
	fs := newFlagSet("serve", stdout)
	path := configPath(fs, env)
	host := fs.String("host", "", "address to listen on (overrides the config)")
	port := fs.Int("port", 0, "port to listen on (overrides the config)")
	devToken := fs.Bool("dev-token", false, "make a fresh development token at start (local backend), print it with a ready curl line")
	if err := parseFlags(fs, args); err != nil {
		return Config{}, "", err
	}
	overrides := func(key string) string {
		switch {
		case key == "FLYTE_WEBHOOK_HOST" && *host != "":
			return *host
		case key == "FLYTE_WEBHOOK_PORT" && *port != 0:
			return fmt.Sprint(*port)
		}
		return env(key)
	}
	var token string
	c, err := loadConfig(*path, overrides, func(c *Config) error {
		if !*devToken {
			return nil
		}
		if c.Backend.Local == nil {
			return fmt.Errorf("--dev-token: only for backend.type local")
		}
		var err error
		token, err = makeDevToken(c.Backend.Local)
		return err
	})
	return c, token, err
}

// openLogger makes the JSON logger. Lines are written in batches (every 100 ms, or 64 KiB);
// warnings and errors at once. Close the writer to flush the rest.
func openLogger(w io.Writer, level string) (*logbuf.Writer, *slog.Logger) {
	out := logbuf.New(w, 100*time.Millisecond, 64<<10)
	return out, newLogger(out, level)
}

// openBackend opens the control plane c.Backend selects and returns it with the function
// that closes it (draining its work until the context ends). Past this point cmd knows only
// controlplane.Backend and a few optional interfaces.
func openBackend(ctx context.Context, c Config, log *slog.Logger) (controlplane.Backend, func(context.Context) error, error) {
	var backend controlplane.Backend
	switch c.Backend.Type {
	case "local":
		lc := c.Backend.Local
		ac := lc.Auth
		ac.Logger = log.With("component", "identity")
		verifier, err := identity.New(ac)
		if err != nil {
			return nil, nil, fmt.Errorf("config: backend.local.auth: %w", err)
		}
		// Discovered issuers are looked up in the background: an unreachable one is logged
		// and retried, its tokens get 503 meanwhile, and start-up goes on.
		verifier.Start(ctx)
		lcfg := lc.Config
		lcfg.BaseURL = c.PublicURL
		lcfg.Verifier = verifier
		lcfg.Logger = log.With("component", "local")
		b, err := local.Open(ctx, lcfg)
		if err != nil {
			return nil, nil, err
		}
		backend = b
	case "flyte":
		fcfg := c.Backend.Flyte.Config
		fcfg.Name = c.Name
		fcfg.BaseURL = c.PublicURL
		fcfg.Logger = log.With("component", "flyte")
		b, err := flyte.Open(ctx, fcfg)
		if err != nil {
			return nil, nil, err
		}
		backend = b
	default:
		return nil, nil, fmt.Errorf("config: backend.type: %q is not available", c.Backend.Type)
	}
	closeBackend := func(context.Context) error { return nil }
	if cl, ok := backend.(controlplane.Closer); ok {
		closeBackend = cl.Close
	}
	return backend, closeBackend, nil
}

func newHTTPServer(ctx context.Context, c Config, handler http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// Requests are not cancelled by the shutdown signal: Shutdown lets them finish.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}

// shutdown stops gracefully within one deadline of timeout: no new connections, in-flight
// requests finish (connections still open at the deadline are closed), reloads stop, then the
// backend closes with whatever time is left (its running work drains until then).
func shutdown(srv *http.Server, stopReload func(), closeBackend func(context.Context) error, timeout time.Duration, log *slog.Logger) {
	log.Info("shutting down: letting in-flight requests finish", "grace", timeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("shutdown grace ran out; closing connections", "error", err.Error())
		_ = srv.Close()
	}
	stopReload()
	if err := closeBackend(ctx); err != nil {
		log.Error("closing the backend", "error", err.Error())
	}
}

// closeWithin closes the backend with timeout to drain, when serving ends another way.
func closeWithin(closeBackend func(context.Context) error, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := closeBackend(ctx); err != nil {
		log.Error("closing the backend", "error", err.Error())
	}
}

func printDevToken(w io.Writer, url, token string) {
	fmt.Fprintf(w, "\nflyte-webhook is serving %s (docs: %s/docs/)\n", url, url)
	fmt.Fprintf(w, "development token (new at every start with --dev-token; only its hash is stored):\n  %s\n", token)
	fmt.Fprintf(w, "try:\n  curl -s -X POST -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n    -d '{\"name\": \"Ada\"}' %s/run-task/development/examples/greet\n\n", token, url)
}

// makeDevToken makes a fresh token for the quickstart and adds its hash to the local
// backend's tokens. Only the hash is stored (data_dir/dev-token.sha256, mode 0600), so the
// previous development token stops working at each start.
func makeDevToken(lc *LocalConfig) (string, error) {
	tok, hash, err := identity.NewToken()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(lc.DataDir, 0o700); err != nil {
		return "", fmt.Errorf("dev token: %w", err)
	}
	if err := os.WriteFile(filepath.Join(lc.DataDir, "dev-token.sha256"), []byte(hash+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("dev token: %w", err)
	}
	lc.Auth.Tokens = append(lc.Auth.Tokens, identity.Token{SHA256: hash, Subject: "developer", Name: "Development token"})
	return tok, nil
}

func newLogger(w *logbuf.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(logbuf.FlushOn(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}), w, slog.LevelWarn))
}

// logValue is the effective config for the start-up log line: no credential is in it (token
// entries are hashes; JWT secrets are named by env var or file, never inlined).
func (c Config) logValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("name", c.Name),
		slog.String("listen", joinHostPort(c.Host, c.Port)),
		slog.String("public_url", c.PublicURL),
		slog.Bool("requires_auth", *c.RequiresAuth),
		slog.Any("endpoint_groups", c.EndpointGroups),
		slog.Any("endpoints", c.Endpoints),
		slog.Bool("task_allowlist", c.TaskAllowlist != nil),
		slog.Bool("app_allowlist", c.AppAllowlist != nil),
		slog.Bool("trigger_allowlist", c.TriggerAllowlist != nil),
		slog.String("backend", c.Backend.Type),
	}
	if l := c.Backend.Local; l != nil {
		attrs = append(attrs,
			slog.String("workspace", l.Workspace),
			slog.String("data_dir", l.DataDir),
			slog.String("retention", l.EffectiveRetention().String()),
			slog.Int("tokens", len(l.Auth.Tokens)),
			slog.Bool("jwt", l.Auth.JWT != nil),
			slog.Any("issuers", issuerURLs(l.Auth.Issuers)))
	}
	if f := c.Backend.Flyte; f != nil {
		// The service identity's secret is named by a file or a variable, never logged.
		attrs = append(attrs,
			slog.String("flyte_endpoint", f.Endpoint),
			slog.String("flyte_project", f.Project),
			slog.String("flyte_domain", f.Domain),
			slog.Bool("flyte_service_identity", f.ServiceIdentity != nil),
			slog.Any("flyte_issuers", issuerURLs(f.Issuers)))
	}
	return slog.GroupValue(attrs...)
}

// issuerURLs names the configured issuers for the start-up line (their keys are files or
// discovered, never inline).
func issuerURLs(issuers []identity.JWTConfig) []string {
	out := []string{}
	for _, i := range issuers {
		out = append(out, i.Issuer)
	}
	return out
}
