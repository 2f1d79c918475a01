package identity

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config is the identity configuration of the local control plane, decoded strictly from the
// YAML under backend.local.auth. The zero Config refuses every call (New reports it).
type Config struct {
	// Tokens are the API tokens, stored only as SHA-256 hashes.
	Tokens []Token `yaml:"tokens"`
	// JWT, when not nil, enables JSON Web Token verification.
	JWT *JWTConfig `yaml:"jwt"`
	// AllowAnonymous makes calls without credentials run as subject "anonymous". It is set
	// from requires_auth=false by cmd, never from this YAML block. Credentials that are
	// present but invalid are refused either way.
	AllowAnonymous bool `yaml:"-"`
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

// JWTConfig configures JSON Web Token verification. Exactly one key source must be set:
// SecretEnv or SecretFile (HS256), PublicKeyFile (RS256 or ES256, from the key's type) or
// JWKSFile (RS256 and ES256 public keys, chosen by the token's kid).
//
// The algorithm is taken from the key, never from the token: a token whose alg header does
// not match the key exactly (including "none") is refused. Header parameters that point at
// keys (jku, jwk, x5u, x5c) are ignored; keys come only from this config.
type JWTConfig struct {
	// Issuer must equal the token's iss claim exactly. Required.
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
}

const (
	defaultLeeway = 30 * time.Second
	maxLeeway     = 5 * time.Minute
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
	return c
}

// validate checks everything that does not need the file system, naming the bad key.
func (c Config) validate() error {
	var errs []error
	seen := map[string]int{}
	for i, t := range c.Tokens {
		key := fmt.Sprintf("auth.tokens[%d]", i)
		h := strings.ToLower(strings.TrimSpace(t.SHA256))
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			errs = append(errs, fmt.Errorf("%s.sha256: want 64 hex characters (the SHA-256 of the token, as printed by `flyte-webhook token`)", key))
		} else if j, dup := seen[h]; dup {
			errs = append(errs, fmt.Errorf("%s.sha256: same token as auth.tokens[%d]", key, j))
		} else {
			seen[h] = i
		}
		if strings.TrimSpace(t.Subject) == "" {
			errs = append(errs, fmt.Errorf("%s.subject: required", key))
		}
	}
	if c.JWT != nil {
		errs = append(errs, c.JWT.validate())
	}
	if len(c.Tokens) == 0 && c.JWT == nil && !c.AllowAnonymous {
		errs = append(errs, errors.New("auth: no tokens and no jwt configured while requires_auth is true: no caller could authenticate"))
	}
	return errors.Join(errs...)
}

func (c JWTConfig) validate() error {
	var errs []error
	if strings.TrimSpace(c.Issuer) == "" {
		errs = append(errs, errors.New("auth.jwt.issuer: required"))
	}
	if strings.TrimSpace(c.Audience) == "" {
		errs = append(errs, errors.New("auth.jwt.audience: required"))
	}
	var sources []string
	for _, s := range []struct{ key, val string }{
		{"secret_env", c.SecretEnv},
		{"secret_file", c.SecretFile},
		{"public_key_file", c.PublicKeyFile},
		{"jwks_file", c.JWKSFile},
	} {
		if s.val != "" {
			sources = append(sources, "auth.jwt."+s.key)
		}
	}
	switch len(sources) {
	case 0:
		errs = append(errs, errors.New("auth.jwt: want one of secret_env, secret_file, public_key_file or jwks_file"))
	case 1:
	default:
		errs = append(errs, fmt.Errorf("auth.jwt: %s are mutually exclusive, set one", strings.Join(sources, ", ")))
	}
	if c.Leeway < 0 || c.Leeway > maxLeeway {
		errs = append(errs, fmt.Errorf("auth.jwt.leeway: want between 0s and %s, got %s", maxLeeway, c.Leeway))
	}
	return errors.Join(errs...)
}
