package identity

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/flyte-webhook/flyte-webhook/internal/boundedfile"
)

// The algorithms supported, one per key type.
const (
	algHS256 = jose.HS256
	algRS256 = jose.RS256
	algES256 = jose.ES256
)

const (
	minSecretBytes = 32       // RFC 7518 §3.2: at least the hash size
	minRSABits     = 2048     // smaller RSA keys are refused
	maxKeyFile     = 64 << 10 // secret and PEM files
	maxJWKSFile    = 1 << 20
)

// key is one verification key and the only algorithm it accepts.
type key struct {
	alg jose.SignatureAlgorithm
	kid string // "" outside a JWKS, or for a JWKS key without kid
	pub any    // []byte (HS256), *rsa.PublicKey (RS256) or *ecdsa.PublicKey (ES256)
}

// loadKeys reads the key source of c (validated beforehand) and returns its keys. prefix
// names c in errors ("auth.jwt").
func loadKeys(prefix string, c JWTConfig) ([]key, error) {
	switch {
	case c.SecretEnv != "":
		s, ok := os.LookupEnv(c.SecretEnv)
		if !ok || s == "" {
			return nil, fmt.Errorf("%s.secret_env: environment variable %s is not set or empty", prefix, c.SecretEnv)
		}
		if len(s) < minSecretBytes {
			return nil, fmt.Errorf("%s.secret_env: the secret in %s is %d bytes, want at least %d", prefix, c.SecretEnv, len(s), minSecretBytes)
		}
		return []key{{alg: algHS256, pub: []byte(s)}}, nil
	case c.SecretFile != "":
		b, err := boundedfile.Read(c.SecretFile, maxKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s.secret_file: %w", prefix, err)
		}
		b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
		if len(b) < minSecretBytes {
			return nil, fmt.Errorf("%s.secret_file: the secret is %d bytes, want at least %d", prefix, len(b), minSecretBytes)
		}
		return []key{{alg: algHS256, pub: b}}, nil
	case c.PublicKeyFile != "":
		b, err := boundedfile.Read(c.PublicKeyFile, maxKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s.public_key_file: %w", prefix, err)
		}
		k, err := parsePEMPublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s.public_key_file: %w", prefix, err)
		}
		return []key{k}, nil
	case c.JWKSFile != "":
		b, err := boundedfile.Read(c.JWKSFile, maxJWKSFile)
		if err != nil {
			return nil, fmt.Errorf("%s.jwks_file: %w", prefix, err)
		}
		keys, _, err := parseJWKS(b, false)
		if err != nil {
			return nil, fmt.Errorf("%s.jwks_file: %w", prefix, err)
		}
		return keys, nil
	}
	return nil, fmt.Errorf("%s: no key source", prefix)
}

// parsePEMPublicKey parses the first PEM block of b as a public key, with the standard
// library's encoding/pem and crypto/x509 (go-jose reads JWKs, not PEM).
func parsePEMPublicKey(b []byte) (key, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return key{}, errors.New("no PEM block found")
	}
	var pub any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		if strings.Contains(block.Type, "PRIVATE") {
			return key{}, fmt.Errorf("PEM block is a %s: give the public key only", block.Type)
		}
		return key{}, fmt.Errorf("PEM block type %q: want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", block.Type)
	}
	if err != nil {
		return key{}, err
	}
	return publicKey(pub)
}

// publicKey checks a parsed public key against our policy and picks its algorithm.
func publicKey(pub any) (key, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p.N.BitLen() < minRSABits {
			return key{}, fmt.Errorf("RSA key of %d bits, want at least %d", p.N.BitLen(), minRSABits)
		}
		if p.E < 3 || p.E%2 == 0 {
			return key{}, errors.New("e: not a valid RSA exponent")
		}
		return key{alg: algRS256, pub: p}, nil
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return key{}, fmt.Errorf("ECDSA key on %s, want P-256 (ES256)", p.Curve.Params().Name)
		}
		return key{alg: algES256, pub: p}, nil
	default:
		return key{}, fmt.Errorf("unsupported public key type %T: want RSA or ECDSA P-256", pub)
	}
}

// jwkMeta is what we read of a JWK before go-jose parses it: enough to skip keys that are not
// ours to use and to say which member is wrong when go-jose refuses one (its errors say what,
// not where). The key material itself is only ever parsed by go-jose.
type jwkMeta struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
	D   string `json:"d"`
	K   string `json:"k"`
}

// parseJWKS parses a JSON Web Key Set of public signing keys with go-jose and applies our
// policy (RSA of 2048 bits or more, EC on P-256, public keys only, an alg that fits the key,
// distinct kids). A key of another type or with use "enc" is skipped. lenient (a remote set)
// also skips a key that breaks the policy, saying why in skipped; strict (a file) refuses
// the set. Either way a set without a usable key is an error.
func parseJWKS(b []byte, lenient bool) (keys []key, skipped []string, err error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	kids := map[string]int{}
	for i, raw := range set.Keys {
		var m jwkMeta
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, nil, fmt.Errorf("keys[%d]: not a JSON Web Key: %w", i, err)
		}
		name := fmt.Sprintf("keys[%d]", i)
		if m.Kid != "" {
			name += fmt.Sprintf(" (kid %q)", m.Kid)
		}
		k, use, err := parseJWK(raw, m)
		if err != nil {
			err = fmt.Errorf("%s: %w", name, err)
			if !lenient {
				return nil, nil, err
			}
			skipped = append(skipped, err.Error())
			continue
		}
		if !use {
			continue
		}
		if prev, dup := kids[m.Kid]; dup {
			return nil, nil, fmt.Errorf("%s: same kid as keys[%d]", name, prev)
		}
		kids[m.Kid] = i
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, skipped, errors.New("no usable signing key (RSA or EC P-256)")
	}
	if len(keys) > 1 {
		if _, ok := kids[""]; ok {
			return nil, skipped, errors.New("a key without kid in a set of several: every key needs a kid")
		}
	}
	return keys, skipped, nil
}

// parseJWK parses one key of a set. use is false for a key that is not ours to use (an
// encryption key, an unsupported type): skipped, not an error.
func parseJWK(raw json.RawMessage, m jwkMeta) (k key, use bool, err error) {
	if m.D != "" || m.K != "" {
		return key{}, false, errors.New("holds private or symmetric key material: publish public keys only")
	}
	if m.Use != "" && m.Use != "sig" {
		return key{}, false, nil
	}
	switch m.Kty {
	case "RSA":
		for _, f := range [][2]string{{"n", m.N}, {"e", m.E}} {
			if f[1] == "" {
				return key{}, false, fmt.Errorf("%s: missing", f[0])
			}
		}
	case "EC":
		if m.Crv != "P-256" {
			return key{}, false, fmt.Errorf("crv %q: want P-256", m.Crv)
		}
		for _, f := range [][2]string{{"x", m.X}, {"y", m.Y}} {
			if f[1] == "" {
				return key{}, false, fmt.Errorf("%s: missing", f[0])
			}
		}
	default:
		return key{}, false, nil // OKP and others: not supported, not an error for the rest of the set
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return key{}, false, explainJWK(m, err)
	}
	if !jwk.IsPublic() {
		return key{}, false, errors.New("holds private or symmetric key material: publish public keys only")
	}
	k, err = publicKey(jwk.Key)
	if err != nil {
		return key{}, false, err
	}
	if m.Alg != "" && m.Alg != string(k.alg) {
		return key{}, false, fmt.Errorf("alg %q does not fit a %s key, want %s", m.Alg, m.Kty, k.alg)
	}
	k.kid = m.Kid
	return k, true, nil
}

// explainJWK turns go-jose's refusal of a key into one that names the member at fault.
func explainJWK(m jwkMeta, err error) error {
	if errors.Is(err, jose.ErrUnsupportedKeyType) {
		return fmt.Errorf("unsupported key: %w", err)
	}
	fields := [][2]string{{"n", m.N}, {"e", m.E}}
	if m.Kty == "EC" {
		fields = [][2]string{{"x", m.X}, {"y", m.Y}}
	}
	lengths := [2]int{}
	for i, f := range fields {
		b, decErr := base64.RawURLEncoding.DecodeString(f[1])
		if decErr != nil {
			return fmt.Errorf("%s: not base64url", f[0])
		}
		lengths[i] = len(b)
	}
	switch {
	case m.Kty == "RSA":
		return fmt.Errorf("e: not a valid RSA exponent (%v)", err)
	case lengths != [2]int{32, 32}:
		return errors.New("x, y: want 32 bytes each for P-256")
	default:
		return errors.New("x, y: not a point on P-256")
	}
}
