package identity_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
)

func TestNewConfigErrors(t *testing.T) {
	t.Parallel()
	rk, _ := rsaKeys(t)
	good := identity.HashToken("fwh_good")
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(rk)
	if err != nil {
		t.Fatal(err)
	}
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})
	missing := filepath.Join(t.TempDir(), "missing")
	secretFile := func() string { return writeFile(t, "secret", []byte(testSecret)) }

	tests := []struct {
		name string
		cfg  identity.Config
		want []string // every one must appear
	}{
		{"nothing configured", identity.Config{}, []string{"auth: no tokens and no jwt configured"}},
		{"short hash", identity.Config{Tokens: []identity.Token{{SHA256: good, Subject: "a"}, {SHA256: "abc", Subject: "b"}}},
			[]string{"auth.tokens[1].sha256: want 64 hex characters"}},
		{"non-hex hash", identity.Config{Tokens: []identity.Token{{SHA256: strings.Repeat("z", 64), Subject: "a"}}},
			[]string{"auth.tokens[0].sha256: want 64 hex characters"}},
		{"sha256: prefix pasted into the value", identity.Config{Tokens: []identity.Token{{SHA256: "sha256:" + good, Subject: "a"}}},
			[]string{"auth.tokens[0].sha256: want 64 hex characters"}},
		{"missing subject", identity.Config{Tokens: []identity.Token{{SHA256: good, Subject: " "}}},
			[]string{"auth.tokens[0].subject: required"}},
		{"duplicate token", identity.Config{Tokens: []identity.Token{{SHA256: good, Subject: "a"}, {SHA256: strings.ToUpper(good), Subject: "b"}}},
			[]string{"auth.tokens[1].sha256: same token as auth.tokens[0]"}},
		{"several problems at once", identity.Config{Tokens: []identity.Token{{SHA256: "x"}, {SHA256: good}}},
			[]string{"auth.tokens[0].sha256", "auth.tokens[0].subject", "auth.tokens[1].subject"}},
		{"jwt without issuer and audience", identity.Config{JWT: &identity.JWTConfig{SecretFile: "x"}},
			[]string{"auth.jwt.issuer: required", "auth.jwt.audience: required"}},
		{"jwt without key", identity.Config{JWT: jwtConfig(func(*identity.JWTConfig) {})},
			[]string{"auth.jwt: want one of secret_env, secret_file, public_key_file or jwks_file"}},
		{"jwt with two keys", identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.SecretEnv = "X"; c.JWKSFile = "y" })},
			[]string{"auth.jwt.secret_env, auth.jwt.jwks_file are mutually exclusive"}},
		{"leeway too large", identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.SecretFile = "x"; c.Leeway = time.Hour })},
			[]string{"auth.jwt.leeway: want between 0s and 5m0s"}},
		{"negative leeway", identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.SecretFile = "x"; c.Leeway = -time.Second })},
			[]string{"auth.jwt.leeway"}},
		{"secret env unset", identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.SecretEnv = "IDENTITY_TEST_SURELY_UNSET" })},
			[]string{"auth.jwt.secret_env: environment variable IDENTITY_TEST_SURELY_UNSET is not set or empty"}},
		{"secret file missing", identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.SecretFile = missing })},
			[]string{"auth.jwt.secret_file: "}},
		{"secret file short", identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.SecretFile = writeFile(t, "s", []byte("short\n")) })},
			[]string{"auth.jwt.secret_file: the secret is 5 bytes, want at least 32"}},
		{"public key file missing", identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.PublicKeyFile = missing })},
			[]string{"auth.jwt.public_key_file: "}},
		{"public key file not PEM", identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.PublicKeyFile = secretFile() })},
			[]string{"auth.jwt.public_key_file: no PEM block found"}},
		{"public key file holds a private key", identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.PublicKeyFile = writeFile(t, "k.pem", privPEM) })},
			[]string{"auth.jwt.public_key_file: PEM block is a PRIVATE KEY: give the public key only"}},
		{"public key too small", identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.PublicKeyFile = writeFile(t, "k.pem", pemPublic(t, &small.PublicKey)) })},
			[]string{"auth.jwt.public_key_file: RSA key of 1024 bits, want at least 2048"}},
		{"public key on P-384", identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.PublicKeyFile = writeFile(t, "k.pem", pemPublic(t, &p384.PublicKey)) })},
			[]string{"auth.jwt.public_key_file: ECDSA key on P-384, want P-256"}},
		{"jwks file missing", identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.JWKSFile = missing })},
			[]string{"auth.jwt.jwks_file: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := identity.New(tt.cfg)
			if err == nil {
				t.Fatalf("New = %v, want error", v)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New: %v\nwant it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

func TestNewConfigOK(t *testing.T) {
	t.Parallel()
	rk, _ := rsaKeys(t)
	cert := selfSigned(t, rk)
	tests := []struct {
		name string
		cfg  identity.Config
	}{
		{"anonymous only", identity.Config{AllowAnonymous: true}},
		{"tokens only", identity.Config{Tokens: []identity.Token{{SHA256: identity.HashToken("x"), Subject: "x"}}}},
		{"certificate as public key", identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.PublicKeyFile = writeFile(t, "c.pem", cert) })}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := identity.New(tt.cfg); err != nil {
				t.Fatalf("New: %v", err)
			}
		})
	}
}

func selfSigned(t *testing.T, k *rsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: bigOne(), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestConfigYAML decodes the example of doc.go strictly, so that the yaml tags and the
// documentation cannot drift apart.
func TestConfigYAML(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	in := false
	for _, l := range strings.Split(string(src), "\n") {
		switch {
		case strings.HasPrefix(l, "//\tbackend:"):
			in = true
		case in && !strings.HasPrefix(l, "//\t"):
			in = false
		}
		if in {
			lines = append(lines, strings.TrimPrefix(l, "//\t"))
		}
	}
	if len(lines) == 0 {
		t.Fatal("no YAML example found in doc.go")
	}
	var doc struct {
		Backend struct {
			Local struct {
				Auth identity.Config `yaml:"auth"`
			} `yaml:"local"`
		} `yaml:"backend"`
	}
	dec := yaml.NewDecoder(bytes.NewReader([]byte(strings.Join(lines, "\n"))))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("decode doc.go example: %v", err)
	}
	cfg := doc.Backend.Local.Auth
	if len(cfg.Tokens) != 2 || cfg.Tokens[0].Subject != "ci-bot" || cfg.Tokens[0].Name != "CI pipeline" ||
		cfg.JWT == nil || cfg.JWT.JWKSFile == "" || cfg.JWT.Leeway != 30*time.Second || cfg.JWT.NameClaim != "name" {
		t.Fatalf("decoded %+v (jwt %+v)", cfg, cfg.JWT)
	}
	// Everything but the key file (which does not exist here) validates.
	ek, _ := ecKeys(t)
	cfg.JWT.JWKSFile = jwksFile(t, ecJWK(&ek.PublicKey, "k"))
	if _, err := identity.New(cfg); err != nil {
		t.Fatalf("New(doc.go example): %v", err)
	}

	// Unknown keys are refused by a strict decoder: every field has a tag.
	dec = yaml.NewDecoder(strings.NewReader("tokens: []\nallow_anonymous: true\n"))
	dec.KnownFields(true)
	var c identity.Config
	if err := dec.Decode(&c); err == nil {
		t.Fatal("allow_anonymous decoded from YAML: it must only be set by cmd")
	}
}
