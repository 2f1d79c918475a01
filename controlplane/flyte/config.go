package flyte

import (
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Config configures the Flyte backend. It is decoded strictly from the user's config file
// under backend.flyte; fields tagged `yaml:"-"` are set by the program. Durations are Go
// duration strings ("10s", "2m").
type Config struct {
	// Endpoint is the control plane's URL, http:// (plaintext, HTTP/1.1 with keep-alive) or
	// https:// (TLS, HTTP/2), with an optional path prefix. Required.
	Endpoint string `yaml:"endpoint"`
	// TLS adjusts how an https endpoint is verified. Refused with an http endpoint.
	TLS TLSConfig `yaml:"tls"`
	// Org is sent in every identifier. Flyte's open-source control plane ignores it; set it
	// for one that does not. Defaults to "".
	Org string `yaml:"org"`
	// Project and Domain are where apps, triggers and runs named without a project and
	// domain are looked up. Required.
	Project string `yaml:"project"`
	Domain  string `yaml:"domain"`
	// RunScopes are more projects and domains in which a run named without one is looked up,
	// in order, after Project and Domain (and before those of PrefetchTask and
	// BuildImageTask, which are always searched last). A run started in a project and domain
	// outside these can be started but not found by name. Defaults to none.
	RunScopes []Scope `yaml:"run_scopes"`
	// ConsoleURL is the Flyte console's URL. When set, a run's url is its console page
	// ({console_url}/v2/domain/{domain}/project/{project}/runs/{name}) and an app's url its
	// console page; when not, they are the webhook's own /run/{name} and /app/{name}.
	// Defaults to "".
	ConsoleURL string `yaml:"console_url"`
	// ForwardCredentialsApps names the apps that receive the caller's Authorization and
	// Cookie headers on call_app. Defaults to none: an app is called without the caller's
	// credentials, as the seed does.
	ForwardCredentialsApps []string `yaml:"forward_credentials_apps"`
	// Timeout bounds each call to the control plane. Defaults to 10s.
	Timeout time.Duration `yaml:"timeout"`
	// CallAppTimeout bounds a call_app request to an app, answer included. Defaults to 30s.
	CallAppTimeout time.Duration `yaml:"call_app_timeout"`
	// MaxResponseBytes caps an answer of the control plane. Defaults to 16 MiB.
	MaxResponseBytes int `yaml:"max_response_bytes"`
	// CallAppMaxResponseBytes caps an app's answer to call_app. Defaults to 8 MiB.
	CallAppMaxResponseBytes int64 `yaml:"call_app_max_response_bytes"`
	// CacheTTL is how long a task's interface, the caller's identity and an app's endpoint
	// are reused, each per caller (keyed by a hash of the caller's credentials). A task
	// version deployed as latest is used by run_task after at most this long. Defaults to
	// 10s; a negative value disables the caches.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// CacheSize bounds the entries of each cache. Defaults to 1024.
	CacheSize int `yaml:"cache_size"`
	// AppWaitTimeout bounds activate_app and deactivate_app with wait=true. Defaults to 5m.
	AppWaitTimeout time.Duration `yaml:"app_wait_timeout"`
	// AppPollInterval is how often an app is read while waiting for it. Defaults to 2s.
	AppPollInterval time.Duration `yaml:"app_poll_interval"`
	// ClockSkew is how far the control plane's clock may run ahead of the webhook's. A run
	// that CreateRun returns for an Idempotency-Key is read back (GetRunDetails) to compare
	// its request fingerprint when it was created before the call started, plus this: a run
	// created earlier is a replay. Larger values cost a call on more fresh runs, never
	// correctness. Defaults to 0 (clocks in sync).
	ClockSkew time.Duration `yaml:"clock_skew"`
	// ServiceIdentity, when set, is used for callers who send no credentials (a webhook with
	// requires_auth off). Defaults to none.
	ServiceIdentity *ServiceIdentity `yaml:"service_identity"`
	// BuildImageTask is the task build_image runs. Defaults to project system, domain
	// production, name build-image, the latest version.
	BuildImageTask TaskName `yaml:"build_image_task"`
	// PrefetchTask is the task prefetch_hf_model runs. Defaults to project system, domain
	// production, name prefetch-hf-model, the latest version.
	PrefetchTask TaskName `yaml:"prefetch_task"`

	// Name is the webhook's name, sent to apps as User-Agent: flyte-webhook/<name>.
	Name string `yaml:"-"`
	// BaseURL is the webhook's public URL, for run and app urls when ConsoleURL is not set.
	// Defaults to "" (urls relative to the webhook).
	BaseURL string `yaml:"-"`
	// Logger receives the backend's logs. Defaults to discarding them.
	Logger *slog.Logger `yaml:"-"`
}

// TLSConfig adjusts the verification of an https endpoint.
type TLSConfig struct {
	// CAFile is a PEM file of certificate authorities trusted besides the system's.
	CAFile string `yaml:"ca_file"`
	// ServerName is the name the certificate must carry, when not the endpoint's host.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any certificate. Only for tests; never the default.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Scope is a project and domain.
type Scope struct {
	Project string `yaml:"project"`
	Domain  string `yaml:"domain"`
}

// TaskName names a task; Version "" is the latest version.
type TaskName struct {
	Project string `yaml:"project"`
	Domain  string `yaml:"domain"`
	Name    string `yaml:"name"`
	Version string `yaml:"version"`
}

// ServiceIdentity is the webhook's own OAuth2 client (client credentials grant).
type ServiceIdentity struct {
	// ClientID is the OAuth2 client id. Required.
	ClientID string `yaml:"client_id"`
	// ClientSecretFile is a file holding the client secret, read at each token request (so
	// a rotated secret is picked up). Exactly one of client_secret_file and
	// client_secret_env is required; the secret itself is never in the config.
	ClientSecretFile string `yaml:"client_secret_file"`
	// ClientSecretEnv names the environment variable holding the client secret.
	ClientSecretEnv string `yaml:"client_secret_env"`
	// TokenURL is the token endpoint. Defaults to the one the control plane publishes
	// (AuthMetadataService/GetOAuth2Metadata); required when it publishes none.
	TokenURL string `yaml:"token_url"`
	// Scopes are requested with the token. Defaults to none.
	Scopes []string `yaml:"scopes"`
	// Audience, when set, is sent as the audience parameter of the token request.
	Audience string `yaml:"audience"`
	// RefreshBefore is how long before its expiry a token is replaced. Defaults to 30s.
	RefreshBefore time.Duration `yaml:"refresh_before"`
}

const (
	defaultTimeout          = 10 * time.Second
	defaultCallAppTimeout   = 30 * time.Second
	defaultMaxResponseBytes = 16 << 20
	defaultAppMaxBytes      = 8 << 20
	defaultCacheTTL         = 10 * time.Second
	defaultCacheSize        = 1024
	defaultAppWaitTimeout   = 5 * time.Minute
	defaultAppPollInterval  = 2 * time.Second
	defaultRefreshBefore    = 30 * time.Second
)

// withDefaults fills in zero fields. Negative values are left for validate to refuse.
func (c Config) withDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if c.CallAppTimeout == 0 {
		c.CallAppTimeout = defaultCallAppTimeout
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = defaultMaxResponseBytes
	}
	if c.CallAppMaxResponseBytes == 0 {
		c.CallAppMaxResponseBytes = defaultAppMaxBytes
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = defaultCacheTTL
	}
	if c.CacheSize == 0 {
		c.CacheSize = defaultCacheSize
	}
	if c.AppWaitTimeout == 0 {
		c.AppWaitTimeout = defaultAppWaitTimeout
	}
	if c.AppPollInterval == 0 {
		c.AppPollInterval = defaultAppPollInterval
	}
	c.BuildImageTask = c.BuildImageTask.withDefaults("build-image")
	c.PrefetchTask = c.PrefetchTask.withDefaults("prefetch-hf-model")
	if c.ServiceIdentity != nil {
		si := *c.ServiceIdentity
		if si.RefreshBefore == 0 {
			si.RefreshBefore = defaultRefreshBefore
		}
		c.ServiceIdentity = &si
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Endpoint = strings.TrimRight(c.Endpoint, "/")
	c.ConsoleURL = strings.TrimRight(c.ConsoleURL, "/")
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	return c
}

func (t TaskName) withDefaults(name string) TaskName {
	if t.Project == "" && t.Domain == "" && t.Name == "" {
		return TaskName{Project: "system", Domain: "production", Name: name, Version: t.Version}
	}
	return t
}

// nameLike is what Flyte accepts for projects and domains.
var nameLike = regexp.MustCompile(`^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$`)

// Validate checks the config as Open will, with its defaults applied, naming the key at
// fault (for a config checker that does not connect).
func (c Config) Validate() error { return c.withDefaults().validate() }

// validate names the field at fault, as the user's config file spells it.
func (c Config) validate() error {
	fail := func(key, format string, args ...any) error {
		return fmt.Errorf("flyte.%s: %s", key, fmt.Sprintf(format, args...))
	}
	if c.Endpoint == "" {
		return fail("endpoint", "required")
	}
	u, err := url.Parse(c.Endpoint)
	switch {
	case err != nil:
		return fail("endpoint", "%v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fail("endpoint", "%q: want an http:// or https:// URL", c.Endpoint)
	case u.Host == "":
		return fail("endpoint", "%q has no host", c.Endpoint)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fail("endpoint", "%q: no query, fragment or user info", c.Endpoint)
	}
	if u.Scheme == "http" && (c.TLS != TLSConfig{}) {
		return fail("tls", "set for a plaintext (http://) endpoint")
	}
	if c.Project == "" {
		return fail("project", "required")
	}
	if c.Domain == "" {
		return fail("domain", "required")
	}
	for i, s := range c.RunScopes {
		if !nameLike.MatchString(s.Project) || !nameLike.MatchString(s.Domain) {
			return fail(fmt.Sprintf("run_scopes[%d]", i), "want a project and a domain")
		}
	}
	if c.ConsoleURL != "" {
		if u, err := url.Parse(c.ConsoleURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fail("console_url", "%q: want an http:// or https:// URL", c.ConsoleURL)
		}
	}
	for i, name := range c.ForwardCredentialsApps {
		if name == "" {
			return fail(fmt.Sprintf("forward_credentials_apps[%d]", i), "empty app name")
		}
	}
	for _, d := range []struct {
		key string
		d   time.Duration
	}{
		{"timeout", c.Timeout}, {"call_app_timeout", c.CallAppTimeout}, {"app_wait_timeout", c.AppWaitTimeout},
		{"app_poll_interval", c.AppPollInterval}, {"clock_skew", c.ClockSkew},
	} {
		if d.d < 0 {
			return fail(d.key, "%s is negative", d.d)
		}
	}
	if c.AppWaitTimeout > time.Hour {
		// The HTTP layer lifts its write deadline for a wait=true app operation: this is the
		// request's bound.
		return fail("app_wait_timeout", "%s is over 1h", c.AppWaitTimeout)
	}
	switch {
	case c.MaxResponseBytes < 0:
		return fail("max_response_bytes", "%d is negative", c.MaxResponseBytes)
	case c.CallAppMaxResponseBytes < 0:
		return fail("call_app_max_response_bytes", "%d is negative", c.CallAppMaxResponseBytes)
	case c.CacheSize < 0:
		return fail("cache_size", "%d is negative", c.CacheSize)
	}
	for _, t := range []struct {
		key  string
		name TaskName
	}{{"build_image_task", c.BuildImageTask}, {"prefetch_task", c.PrefetchTask}} {
		if t.name.Project == "" || t.name.Domain == "" || t.name.Name == "" {
			return fail(t.key, "want project, domain and name")
		}
	}
	if si := c.ServiceIdentity; si != nil {
		switch {
		case si.ClientID == "":
			return fail("service_identity.client_id", "required")
		case (si.ClientSecretFile == "") == (si.ClientSecretEnv == ""):
			return fail("service_identity", "exactly one of client_secret_file and client_secret_env is required")
		case si.RefreshBefore < 0:
			return fail("service_identity.refresh_before", "%s is negative", si.RefreshBefore)
		}
		if si.TokenURL != "" {
			if u, err := url.Parse(si.TokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fail("service_identity.token_url", "%q: want an http:// or https:// URL", si.TokenURL)
			}
		}
	}
	return nil
}
