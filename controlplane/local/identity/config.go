package identity

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// Config is the identity configuration of the local control plane, decoded strictly from the
// YAML under backend.local.auth. The zero Config refuses every call (New reports it).
type Config struct {
	// Tokens are the API tokens, stored only as SHA-256 hashes.
	Tokens []Token `yaml:"tokens"`
	// JWT, when not nil, enables JSON Web Token verification for one issuer, with a key
	// source of its own (required here).
	JWT *JWTConfig `yaml:"jwt"`
	// Issuers are more token issuers, each a JWTConfig: with a key source it means what JWT
	// means; without one, its keys are found by OpenID Connect discovery (CI pipelines'
	// tokens: GitHub Actions, GitLab CI). Issuer URLs must differ from each other and from
	// JWT's.
	Issuers []JWTConfig `yaml:"issuers"`
	// AllowAnonymous makes calls without credentials run as subject "anonymous". It is set
	// from requires_auth=false by cmd, never from this YAML block. Credentials that are
	// present but invalid are refused either way.
	AllowAnonymous bool `yaml:"-"`
	// Logger receives what happens with discovered issuers (unreachable, ready, keys
	// refreshed). Set by cmd. Defaults to discarding.
	Logger *slog.Logger `yaml:"-"`
	// Prefix names this block in errors ("auth.issuers[0].audience: required"). Set by cmd
	// where the block sits elsewhere. Defaults to "auth".
	Prefix string `yaml:"-"`
}

func (c Config) prefix() string {
	if c.Prefix == "" {
		return "auth"
	}
	return c.Prefix
}

// Token is one API token. The token itself is never in the config, only its SHA-256.
type Token struct {
	// SHA256 is the lower- or upper-case hex SHA-256 of the token (64 characters), as printed
	// by `flyte-webhook token` and HashToken.
	SHA256 string `yaml:"sha256"`
	// Subject is the identity's subject. Required.
	Subject string `yaml:"subject"`
	// Name is the identity's display name. Defaults to Subject.
	Name string `yaml:"name"`
}

// JWTConfig configures JSON Web Token verification for one issuer. Under jwt exactly one key
// source must be set: SecretEnv or SecretFile (HS256), PublicKeyFile (RS256 or ES256, from
// the key's type) or JWKSFile (RS256 and ES256 public keys, chosen by the token's kid). Under
// issuers, at most one: with none, the issuer's keys are discovered (OpenID Connect
// discovery: Issuer + "/.well-known/openid-configuration", then its jwks_uri), RS256 and
// ES256 only.
//
// The algorithm is taken from the key, never from the token: a token whose alg header does
// not match the key exactly (including "none") is refused. Header parameters that point at
// keys (jku, jwk, x5u, x5c) are never used; keys come only from this config or from the
// issuer's own discovery document.
type JWTConfig struct {
	// Issuer must equal the token's iss claim exactly. Required. A discovered issuer must be
	// an https URL (http only on a loopback address, for tests).
	Issuer string `yaml:"issuer"`
	// Audience must be the token's aud claim or one of its elements. Required.
	Audience string `yaml:"audience"`

	// SecretEnv names an environment variable holding the HS256 secret (at least 32 bytes).
	// The variable is read once, by New.
	SecretEnv string `yaml:"secret_env"`
	// SecretFile is a file holding the HS256 secret (at least 32 bytes; one trailing newline
	// is dropped). Read once, by New.
	SecretFile string `yaml:"secret_file"`
	// PublicKeyFile is a PEM file with an RSA (2048 bits or more; RS256) or ECDSA P-256
	// (ES256) public key, as PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE.
	PublicKeyFile string `yaml:"public_key_file"`
	// JWKSFile is a JSON Web Key Set file (at most 1 MiB) with public RSA and EC P-256 keys.
	// Keys with private parts or symmetric keys are refused; keys of other types or with
	// use "enc" are skipped.
	JWKSFile string `yaml:"jwks_file"`

	// SubjectClaim names the claim giving the subject. Defaults to "sub".
	SubjectClaim string `yaml:"subject_claim"`
	// NameClaim names the claim giving the display name. Defaults to "name"; when that claim
	// is absent or empty, "email" is used, then the subject.
	NameClaim string `yaml:"name_claim"`
	// Leeway is the clock skew allowed on exp, nbf and iat, as a Go duration ("30s").
	// Defaults to 30s; at most 5m.
	Leeway time.Duration `yaml:"leeway"`

	// Conditions must all hold for a token to be accepted at all: each names a claim and the
	// value it must have, or a list of accepted values ("repository: org/repo", "ref:
	// [refs/heads/main, refs/heads/release]"). A string claim matches by equality, a number
	// or boolean by its JSON text ("true"), a list claim when any element matches. A token
	// without the claim fails. Defaults to none: every verified token is accepted.
	Conditions map[string]ClaimValues `yaml:"conditions"`
	// Allowlists narrow the webhook's allowlists per token: a token may reach what the
	// entries whose when holds for it allow together (both these and the webhook's
	// allowlists must allow). Per kind, the lists of the matching entries that set it add
	// up; an entry that leaves a kind out says nothing about it, and a kind no matching entry
	// sets is not narrowed. When set, a token that no entry's when matches may reach nothing
	// (403 on every guarded endpoint): a typo in a claim value never widens access. Defaults
	// to none: the issuer's tokens are not narrowed.
	Allowlists []ClaimAllowlist `yaml:"allowlists"`

	// Timeout bounds each request to a discovered issuer (discovery document, key set),
	// from connecting to the last byte. Defaults to 10s; between 100ms and 1m.
	Timeout time.Duration `yaml:"timeout"`
	// RefreshInterval is the least time between two fetches of a discovered issuer's key
	// set: a token with an unknown kid fetches it again only when the last fetch is older, so
	// a flood of made-up kids cannot hammer the issuer. Defaults to 10s; at most 1h.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// RetryInterval is how long to wait before trying an unreachable discovered issuer
	// again; it doubles after each failure, up to 1m. Until the issuer's keys are known, its
	// tokens get 503 with a Retry-After header. Defaults to 2s; at most 1m.
	RetryInterval time.Duration `yaml:"retry_interval"`
}

// ClaimValues are the accepted values of one claim: in YAML a single string or a list.
type ClaimValues []string

// UnmarshalYAML accepts a scalar or a sequence of scalars.
func (v *ClaimValues) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*v = ClaimValues{n.Value}
		return nil
	case yaml.SequenceNode:
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		*v = list
		return nil
	}
	return fmt.Errorf("line %d: want a claim value or a list of them", n.Line)
}

// ClaimAllowlist is one entry of JWTConfig.Allowlists: the allowlists, in the seed's syntax
// (the webhook's own task_allowlist, app_allowlist and trigger_allowlist), for the tokens
// When holds for. A list left out says nothing about its kind; an empty one allows nothing
// of it.
type ClaimAllowlist struct {
	// When are conditions on claims, as in JWTConfig.Conditions; all must hold. Empty: every
	// token of the issuer.
	When             map[string]ClaimValues `yaml:"when"`
	TaskAllowlist    *[]string              `yaml:"task_allowlist"`
	AppAllowlist     *[]string              `yaml:"app_allowlist"`
	TriggerAllowlist *[]string              `yaml:"trigger_allowlist"`
}

const (
	defaultLeeway          = 30 * time.Second
	maxLeeway              = 5 * time.Minute
	defaultTimeout         = 10 * time.Second
	minTimeout             = 100 * time.Millisecond
	maxTimeout             = time.Minute
	defaultRefreshInterval = 10 * time.Second
	maxRefreshInterval     = time.Hour
	defaultRetryInterval   = 2 * time.Second
	maxRetryInterval       = time.Minute
)

func (c JWTConfig) withDefaults() JWTConfig {
	if c.SubjectClaim == "" {
		c.SubjectClaim = "sub"
	}
	if c.NameClaim == "" {
		c.NameClaim = "name"
	}
	if c.Leeway == 0 {
		c.Leeway = defaultLeeway
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = defaultRefreshInterval
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = defaultRetryInterval
	}
	return c
}

// discovered reports whether c has no key source of its own.
func (c JWTConfig) discovered() bool {
	return c.SecretEnv == "" && c.SecretFile == "" && c.PublicKeyFile == "" && c.JWKSFile == ""
}

// validate checks everything that does not need the file system, naming the bad key.
func (c Config) validate() error {
	var errs []error
	seen := map[string]int{}
	for i, t := range c.Tokens {
		key := fmt.Sprintf("%s.tokens[%d]", c.prefix(), i)
		h := strings.ToLower(strings.TrimSpace(t.SHA256))
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			errs = append(errs, fmt.Errorf("%s.sha256: want 64 hex characters (the SHA-256 of the token, as printed by `flyte-webhook token`)", key))
		} else if j, dup := seen[h]; dup {
			errs = append(errs, fmt.Errorf("%s.sha256: same token as %s.tokens[%d]", key, c.prefix(), j))
		} else {
			seen[h] = i
		}
		if strings.TrimSpace(t.Subject) == "" {
			errs = append(errs, fmt.Errorf("%s.subject: required", key))
		}
	}
	issuers := map[string]string{}
	checkIssuer := func(key string, j JWTConfig, keyRequired bool) {
		errs = append(errs, j.validate(key, keyRequired))
		if prev, dup := issuers[j.Issuer]; dup && j.Issuer != "" {
			errs = append(errs, fmt.Errorf("%s.issuer: same issuer as %s (put both audiences' needs in one entry)", key, prev))
		}
		issuers[j.Issuer] = key
	}
	if c.JWT != nil {
		checkIssuer(c.prefix()+".jwt", *c.JWT, true)
	}
	for i, j := range c.Issuers {
		checkIssuer(fmt.Sprintf("%s.issuers[%d]", c.prefix(), i), j, false)
	}
	if len(c.Tokens) == 0 && c.JWT == nil && len(c.Issuers) == 0 && !c.AllowAnonymous {
		errs = append(errs, fmt.Errorf("%s: no tokens and no jwt configured, and no issuers, while requires_auth is true: no caller could authenticate", c.prefix()))
	}
	return errors.Join(errs...)
}

func (c JWTConfig) validate(prefix string, keyRequired bool) error {
	var errs []error
	if strings.TrimSpace(c.Issuer) == "" {
		errs = append(errs, fmt.Errorf("%s.issuer: required", prefix))
	}
	if strings.TrimSpace(c.Audience) == "" {
		errs = append(errs, fmt.Errorf("%s.audience: required", prefix))
	}
	var sources []string
	for _, s := range []struct{ key, val string }{
		{"secret_env", c.SecretEnv},
		{"secret_file", c.SecretFile},
		{"public_key_file", c.PublicKeyFile},
		{"jwks_file", c.JWKSFile},
	} {
		if s.val != "" {
			sources = append(sources, prefix+"."+s.key)
		}
	}
	switch {
	case len(sources) == 0 && keyRequired:
		errs = append(errs, fmt.Errorf("%s: want one of secret_env, secret_file, public_key_file or jwks_file", prefix))
	case len(sources) == 0 && strings.TrimSpace(c.Issuer) != "":
		if err := checkDiscoveryURL(c.Issuer); err != nil {
			errs = append(errs, fmt.Errorf("%s.issuer: %w (it has no key source, so its keys are discovered)", prefix, err))
		}
	case len(sources) > 1:
		errs = append(errs, fmt.Errorf("%s: %s are mutually exclusive, set one", prefix, strings.Join(sources, ", ")))
	}
	if c.Leeway < 0 || c.Leeway > maxLeeway {
		errs = append(errs, fmt.Errorf("%s.leeway: want between 0s and %s, got %s", prefix, maxLeeway, c.Leeway))
	}
	if c.Timeout != 0 && (c.Timeout < minTimeout || c.Timeout > maxTimeout) {
		errs = append(errs, fmt.Errorf("%s.timeout: want between %s and %s, got %s", prefix, minTimeout, maxTimeout, c.Timeout))
	}
	if c.RefreshInterval < 0 || c.RefreshInterval > maxRefreshInterval {
		errs = append(errs, fmt.Errorf("%s.refresh_interval: want between 0s and %s, got %s", prefix, maxRefreshInterval, c.RefreshInterval))
	}
	if c.RetryInterval < 0 || c.RetryInterval > maxRetryInterval {
		errs = append(errs, fmt.Errorf("%s.retry_interval: want between 0s and %s, got %s", prefix, maxRetryInterval, c.RetryInterval))
	}
	if _, err := parseConditions(prefix+".conditions", c.Conditions); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseGrants(prefix, c.Allowlists); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkDiscoveryURL refuses an issuer URL that discovery should not be pointed at: it must be
// https, or http on a loopback address (an issuer in a test).
func checkDiscoveryURL(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not an issuer URL (want https://host[/path])", issuer)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
	}
	return fmt.Errorf("%q: want an https URL (http only on a loopback address)", issuer)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// condition is one claim and its accepted values.
type condition struct {
	claim  string
	values map[string]bool
}

// parseConditions checks and sorts conditions (sorted, so the first one that fails is always
// the same one).
func parseConditions(prefix string, m map[string]ClaimValues) ([]condition, error) {
	var conds []condition
	var errs []error
	for claim, vals := range m {
		key := prefix + "." + claim
		if strings.TrimSpace(claim) == "" {
			errs = append(errs, fmt.Errorf("%s: empty claim name", prefix))
			continue
		}
		if len(vals) == 0 {
			errs = append(errs, fmt.Errorf("%s: want a value or a non-empty list of values", key))
			continue
		}
		c := condition{claim: claim, values: map[string]bool{}}
		for i, v := range vals {
			if v == "" {
				errs = append(errs, fmt.Errorf("%s[%d]: empty value", key, i))
			}
			c.values[v] = true
		}
		conds = append(conds, c)
	}
	sort.Slice(conds, func(i, j int) bool { return conds[i].claim < conds[j].claim })
	return conds, errors.Join(errs...)
}

// grant is one parsed ClaimAllowlist.
type grant struct {
	when  []condition
	lists *controlplane.Allowlists
}

func parseGrants(prefix string, entries []ClaimAllowlist) ([]grant, error) {
	var grants []grant
	var errs []error
	for i, e := range entries {
		key := fmt.Sprintf("%s.allowlists[%d]", prefix, i)
		when, err := parseConditions(key+".when", e.When)
		if err != nil {
			errs = append(errs, err)
		}
		lists, err := controlplane.ParseAllowlists(e.TaskAllowlist, e.AppAllowlist, e.TriggerAllowlist)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.%w", key, err))
		}
		grants = append(grants, grant{when: when, lists: lists})
	}
	return grants, errors.Join(errs...)
}
