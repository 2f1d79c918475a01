package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/flyte-webhook/flyte-webhook/api"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
	"github.com/flyte-webhook/flyte-webhook/impl"
	"github.com/flyte-webhook/flyte-webhook/internal/boundedfile"
)

// Config is the whole configuration: one YAML file, then FLYTE_WEBHOOK_* environment
// variables, then flags. Keys are named like the seed's constructor arguments.
type Config struct {
	// Name is the webhook's own name (app endpoints refuse to target it): 1-63 lower-case
	// letters, digits and '-', starting and ending with a letter or digit, as the seed and
	// Flyte apps require. Defaults to impl.DefaultName ("flyte-webhook").
	Name string `yaml:"name"`
	// Title shows in /docs and /openapi.json. Defaults to "Flyte Webhook: <name>", as the
	// seed's docs are titled.
	Title string `yaml:"title"`
	// Description opens /docs and /openapi.json, above the spec's own guide (always kept).
	// Defaults to "A webhook service for Flyte operations", the seed's.
	Description string `yaml:"description"`
	// Host is the address to listen on. Defaults to 127.0.0.1 (set 0.0.0.0 in a container).
	Host string `yaml:"host"`
	// Port to listen on. Defaults to 8080; Flyte's reserved ports are refused.
	Port int `yaml:"port"`
	// PublicURL is how callers reach the webhook, used in run urls. Defaults to http://host:port.
	PublicURL string `yaml:"public_url"`
	// RequiresAuth refuses requests without credentials (401). Defaults to true.
	RequiresAuth *bool `yaml:"requires_auth"`
	// EndpointGroups selects the enabled operations by group (never with Endpoints).
	// Defaults to every operation.
	EndpointGroups []string `yaml:"endpoint_groups"`
	// Endpoints selects the enabled operations by operationId (never with EndpointGroups).
	// Defaults to every operation.
	Endpoints []string `yaml:"endpoints"`
	// TaskAllowlist, AppAllowlist and TriggerAllowlist: absent = unrestricted (the default),
	// [] = nothing allowed.
	TaskAllowlist    *[]string `yaml:"task_allowlist"`
	AppAllowlist     *[]string `yaml:"app_allowlist"`
	TriggerAllowlist *[]string `yaml:"trigger_allowlist"`
	// MaxBodyBytes bounds request bodies. Defaults to impl.DefaultMaxBodyBytes (1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ReadTimeout is the HTTP server's. Defaults to 30s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout is the HTTP server's. Defaults to 120s (longer than an app activation wait).
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout is the HTTP server's. Defaults to 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ShutdownTimeout is one deadline for the whole graceful stop on SIGTERM/SIGINT: in-flight
	// requests finish first, then the backend's running work gets what is left. Defaults to
	// 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// LogLevel is debug, info, warn or error. Defaults to info.
	LogLevel string `yaml:"log_level"`
	// Follow bounds the waits (get_run and run_task with `wait`) and the event streams
	// (watch_run, get_run_logs with follow). See follow_config.go.
	Follow FollowConfig `yaml:"follow"`
	// Backend selects and configures the control plane.
	Backend BackendConfig `yaml:"backend"`

	dir string // the config file's directory: relative paths resolve against it
}

// BackendConfig selects the control plane.
type BackendConfig struct {
	// Type is local (the default: the embedded control plane) or flyte.
	Type  string       `yaml:"type"`
	Local *LocalConfig `yaml:"local"`
	// Flyte configures the Flyte 2 backend (backend.type: flyte).
	Flyte *FlyteConfig `yaml:"flyte"`
}

// FlyteConfig configures the Flyte 2 backend, and the token issuers the webhook verifies
// itself in front of it.
type FlyteConfig struct {
	flyte.Config `yaml:",inline"`
	// Issuers are token issuers (as backend.local.auth.issuers) whose tokens the webhook
	// verifies itself before Flyte sees them, so that their claim conditions and allowlists
	// hold on this backend too; the token is still forwarded to Flyte, which verifies it as
	// well. Other credentials go to Flyte alone. Defaults to none.
	Issuers []identity.JWTConfig `yaml:"issuers"`
}

// LocalConfig configures the embedded control plane and who may call it.
type LocalConfig struct {
	local.Config `yaml:",inline"`
	Auth         identity.Config `yaml:"auth"`
}

// reservedPorts are Flyte's own ports (the seed refuses them too).
var reservedPorts = map[int]bool{8012: true, 8022: true, 8112: true, 9090: true, 9091: true}

// loadConfig reads path ("" for none), applies the environment, and returns the config with
// defaults, validated. Every error names the key. adjust, when not nil, changes the config
// after defaults and before validation (serve --dev-token adds its token there).
func loadConfig(path string, env func(string) string, adjust ...func(*Config) error) (Config, error) {
	c, err := readConfig(path, env)
	if err != nil {
		return c, err
	}
	for _, f := range adjust {
		if err := f(&c); err != nil {
			return c, err
		}
	}
	return c, c.validate()
}

// readConfig is loadConfig without validation: the file decoded strictly, the environment
// applied, defaults filled in and paths resolved. `openapi` needs no more.
func readConfig(path string, env func(string) string) (Config, error) {
	var c Config
	if path != "" {
		if err := boundedfile.DecodeYAML(path, 1<<20, &c); err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		c.dir = filepath.Dir(abs)
	} else {
		wd, _ := os.Getwd()
		c.dir = wd
	}
	if err := c.applyEnv(env); err != nil {
		return c, err
	}
	return c.withDefaults(), nil
}

// applyEnv overrides file values with FLYTE_WEBHOOK_* variables.
func (c *Config) applyEnv(env func(string) string) error {
	str := func(key string, dst *string) {
		if v := env("FLYTE_WEBHOOK_" + key); v != "" {
			*dst = v
		}
	}
	list := func(key string, dst *[]string) {
		if v := env("FLYTE_WEBHOOK_" + key); v != "" {
			*dst = splitList(v)
		}
	}
	str("NAME", &c.Name)
	str("HOST", &c.Host)
	str("PUBLIC_URL", &c.PublicURL)
	str("LOG_LEVEL", &c.LogLevel)
	list("ENDPOINT_GROUPS", &c.EndpointGroups)
	list("ENDPOINTS", &c.Endpoints)
	if v := env("FLYTE_WEBHOOK_PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("config: FLYTE_WEBHOOK_PORT: %q is not a number", v)
		}
		c.Port = p
	}
	if v := env("FLYTE_WEBHOOK_REQUIRES_AUTH"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("config: FLYTE_WEBHOOK_REQUIRES_AUTH: %q is not true or false", v)
		}
		c.RequiresAuth = &b
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = impl.DefaultName
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.Port == 0 {
		c.Port = 8080
	}
	if c.RequiresAuth == nil {
		t := true
		c.RequiresAuth = &t
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = impl.DefaultMaxBodyBytes
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 120 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.Backend.Type == "" {
		c.Backend.Type = "local"
	}
	c.Follow.defaults()
	if c.Backend.Type == "local" && c.Backend.Local == nil {
		c.Backend.Local = &LocalConfig{}
	}
	if l := c.Backend.Local; l != nil {
		l.Workspace = c.resolve(l.Workspace)
		if l.DataDir == "" {
			l.DataDir = local.DefaultDataDir
		}
		l.DataDir = c.resolve(l.DataDir)
		if l.ScratchDir != "" {
			l.ScratchDir = c.resolve(l.ScratchDir)
		}
		if l.Prefetch.Dir != "" {
			l.Prefetch.Dir = c.resolve(l.Prefetch.Dir)
		}
		if j := l.Auth.JWT; j != nil {
			c.resolveKeys(j)
		}
		for i := range l.Auth.Issuers {
			c.resolveKeys(&l.Auth.Issuers[i])
		}
		l.Auth.AllowAnonymous = !*c.RequiresAuth
		l.WebhookName, l.WebhookPort = c.Name, c.Port // apps may take neither
	}
	if f := c.Backend.Flyte; f != nil {
		for i := range f.Issuers {
			c.resolveKeys(&f.Issuers[i])
		}
		f.TLS.CAFile = c.resolve(f.TLS.CAFile)
		if si := f.ServiceIdentity; si != nil {
			si.ClientSecretFile = c.resolve(si.ClientSecretFile)
		}
	}
	if c.PublicURL == "" {
		host := c.Host
		if host == "0.0.0.0" || host == "::" || host == "" {
			host = "127.0.0.1"
		}
		c.PublicURL = "http://" + joinHostPort(host, c.Port)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return c
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

// resolveKeys resolves the key files of an issuer.
func (c Config) resolveKeys(j *identity.JWTConfig) {
	j.SecretFile, j.PublicKeyFile, j.JWKSFile = c.resolve(j.SecretFile), c.resolve(j.PublicKeyFile), c.resolve(j.JWKSFile)
}

// issuerConfig is the identity config of the issuers the webhook verifies in front of Flyte.
func (f *FlyteConfig) issuerConfig() identity.Config {
	return identity.Config{Issuers: f.Issuers, Prefix: "backend.flyte"}
}

// resolve makes a relative path relative to the config file's directory.
func (c Config) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// nameRe is the seed's rule for a webhook's name (a DNS label, as Flyte app names are).
var nameRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// errNoAuth says how to get out of a config no caller could authenticate against.
var errNoAuth = errors.New("config: backend.local.auth: requires_auth is true, but no caller could authenticate " +
	"(no tokens, no jwt, no issuers). Make a token with `flyte-webhook token --subject ci` and paste the entry it prints " +
	"under backend.local.auth.tokens; or name a token issuer under backend.local.auth.issuers (CI jobs' OIDC tokens); or start with --dev-token for a development token; " +
	"or, on a trusted network only, set requires_auth: false")

func (c Config) validate() error {
	if !nameRe.MatchString(c.Name) {
		return fmt.Errorf("config: name: %q must be 1-63 lower-case letters, digits and '-', starting and ending with a letter or digit", c.Name)
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("config: port: %d is out of range 1-65535", c.Port)
	}
	if reservedPorts[c.Port] {
		return fmt.Errorf("config: port: %d is reserved by Flyte (8012, 8022, 8112, 9090, 9091 are)", c.Port)
	}
	if c.MaxBodyBytes < 0 {
		return fmt.Errorf("config: max_body_bytes: must not be negative")
	}
	for key, d := range map[string]time.Duration{"read_timeout": c.ReadTimeout, "write_timeout": c.WriteTimeout, "idle_timeout": c.IdleTimeout, "shutdown_timeout": c.ShutdownTimeout} {
		if d < 0 {
			return fmt.Errorf("config: %s: must not be negative", key)
		}
	}
	if err := c.Follow.validate(); err != nil {
		return err
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log_level: %q is not one of debug, info, warn, error", c.LogLevel)
	}
	if !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://") {
		return fmt.Errorf("config: public_url: %q must start with http:// or https://", c.PublicURL)
	}
	if _, err := api.ServedSpec(api.SpecOptions{Groups: c.EndpointGroups, Endpoints: c.Endpoints}); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := c.handlerConfig().Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	switch c.Backend.Type {
	case "local":
		if c.Backend.Flyte != nil {
			return fmt.Errorf("config: backend.flyte: set, but backend.type is local")
		}
		if err := c.Backend.Local.Config.Validate(); err != nil {
			return fmt.Errorf("config: backend.%w", err)
		}
		if a := c.Backend.Local.Auth; len(a.Tokens) == 0 && a.JWT == nil && len(a.Issuers) == 0 && !a.AllowAnonymous {
			return errNoAuth
		}
		if _, err := identity.New(c.Backend.Local.Auth); err != nil {
			return fmt.Errorf("config: backend.local.auth: %w", err)
		}
	case "flyte":
		if c.Backend.Local != nil {
			return fmt.Errorf("config: backend.local: set, but backend.type is flyte")
		}
		if c.Backend.Flyte == nil {
			return fmt.Errorf("config: backend.flyte: required for backend.type flyte (at least endpoint, project and domain)")
		}
		if err := c.Backend.Flyte.Validate(); err != nil {
			return fmt.Errorf("config: backend.%w", err)
		}
		if len(c.Backend.Flyte.Issuers) > 0 {
			if _, err := identity.New(c.Backend.Flyte.issuerConfig()); err != nil {
				return fmt.Errorf("config: %w", err)
			}
		}
	default:
		return fmt.Errorf("config: backend.type: %q is not one of local, flyte", c.Backend.Type)
	}
	return nil
}

// warnings are what is allowed but probably not meant; serve logs them, check-config prints
// them.
func (c Config) warnings() []string {
	var w []string
	if l := c.Backend.Local; c.Backend.Type == "local" && l != nil && l.Workspace == "" {
		w = append(w, "backend.local.workspace is not set: no tasks are served (set it to a workspace file declaring tasks)")
	}
	return w
}

// handlerConfig is the HTTP service's part of the config.
func (c Config) handlerConfig() impl.Config {
	return impl.Config{
		Name:             c.Name,
		Title:            c.Title,
		Description:      c.Description,
		AuthOptional:     !*c.RequiresAuth,
		EndpointGroups:   c.EndpointGroups,
		Endpoints:        c.Endpoints,
		TaskAllowlist:    c.TaskAllowlist,
		AppAllowlist:     c.AppAllowlist,
		TriggerAllowlist: c.TriggerAllowlist,
		MaxBodyBytes:     c.MaxBodyBytes,

		MaxWait:            c.Follow.MaxWait,
		Heartbeat:          c.Follow.Heartbeat,
		StreamWriteTimeout: c.Follow.StreamWriteTimeout,
		MaxStreams:         c.Follow.MaxStreams,
		WriteTimeout:       c.WriteTimeout,
	}
}
