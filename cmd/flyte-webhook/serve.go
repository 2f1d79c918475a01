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
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
	"github.com/flyte-webhook/flyte-webhook/impl"
	"github.com/flyte-webhook/flyte-webhook/internal/logbuf"
)

func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	fs := newFlagSet("serve", stdout)
	path := configPath(fs, env)
	host := fs.String("host", "", "address to listen on (overrides the config)")
	port := fs.Int("port", 0, "port to listen on (overrides the config)")
	devToken := fs.Bool("dev-token", false, "make a fresh development token at start (local backend), print it with a ready curl line")
	if err := parseFlags(fs, args); err != nil {
		return err
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
	if err != nil {
		return err
	}
	// Log lines are written in batches (every 100 ms, or 64 KiB); warnings and errors at once.
	logOut := logbuf.New(stderr, 100*time.Millisecond, 64<<10)
	defer logOut.Close()
	log := newLogger(logOut, c.LogLevel)
	log.Info("starting", "config", c.logValue())

	// Listen first: a port in use fails before anything else starts.
	ln, err := net.Listen("tcp", joinHostPort(c.Host, c.Port))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()

	lc := c.Backend.Local
	verifier, err := identity.New(lc.Auth)
	if err != nil {
		return fmt.Errorf("config: backend.local.auth: %w", err)
	}
	lcfg := lc.Config
	lcfg.BaseURL = c.PublicURL
	lcfg.Verifier = verifier
	lcfg.Logger = log.With("component", "local")
	backend, err := local.Open(ctx, lcfg)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
		defer cancel()
		if err := backend.Close(closeCtx); err != nil {
			log.Error("closing the backend", "error", err.Error())
		}
	}()

	hc := c.handlerConfig()
	hc.Logger = log
	handler, err := impl.NewHandler(hc, backend)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}

	// SIGHUP reloads the workspace; a bad file keeps the old one.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if err := backend.Reload(); err != nil {
				log.Error("workspace reload failed; keeping the previous one", "error", err.Error())
			} else {
				log.Info("workspace reloaded")
			}
		}
	}()

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// Start-up (loading and filtering the spec, marshaling the docs) leaves garbage behind;
	// hand it back to the OS once instead of carrying it while idle.
	debug.FreeOSMemory()
	log.Info("serving", "url", c.PublicURL, "docs", c.PublicURL+"/docs/")
	if token != "" {
		fmt.Fprintf(stdout, "\nflyte-webhook is serving %s (docs: %s/docs/)\n", c.PublicURL, c.PublicURL)
		fmt.Fprintf(stdout, "development token (new at every start with --dev-token; only its hash is stored):\n  %s\n", token)
		fmt.Fprintf(stdout, "try:\n  curl -s -X POST -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n    -d '{\"name\": \"Ada\"}' %s/run-task/development/examples/greet\n\n", token, c.PublicURL)
	}

	select {
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	case <-ctx.Done():
		log.Info("shutting down: letting in-flight requests finish", "grace", c.ShutdownTimeout.String())
		shutCtx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(shutCtx); err != nil {
			log.Warn("shutdown grace ran out; closing connections", "error", err.Error())
			_ = srv.Close()
		}
	}
	log.Info("stopped")
	return nil
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
			slog.Int("tokens", len(l.Auth.Tokens)),
			slog.Bool("jwt", l.Auth.JWT != nil))
	}
	return slog.GroupValue(attrs...)
}
