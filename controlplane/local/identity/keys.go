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
	"github.com/flyte-webhook/flyte-webhook/internal/boundedfile"
	"math/big"
	"os"
	"strings"
)

// The algorithms supported, one per key type.
const (
	algHS256 = "HS256"
	algRS256 = "RS256"
	algES256 = "ES256"
)

const (
	minSecretBytes = 32       // RFC 7518 §3.2: at least the hash size
	minRSABits     = 2048     // smaller RSA keys are refused
	maxKeyFile     = 64 << 10 // secret and PEM files
	maxJWKSFile    = 1 << 20
)

// key is one verification key and the only algorithm it accepts.
type key struct {
	alg    string
	kid    string // "" outside a JWKS, or for a JWKS key without kid
	secret []byte // HS256
	rsa    *rsa.PublicKey
	ec     *ecdsa.PublicKey
}

// loadKeys reads the key source of c (validated beforehand) and returns its keys.
func loadKeys(c JWTConfig) ([]key, error) {
	switch {
	case c.SecretEnv != "":
		s, ok := os.LookupEnv(c.SecretEnv)
		if !ok || s == "" {
			return nil, fmt.Errorf("auth.jwt.secret_env: environment variable %s is not set or empty", c.SecretEnv)
		}
		if len(s) < minSecretBytes {
			return nil, fmt.Errorf("auth.jwt.secret_env: the secret in %s is %d bytes, want at least %d", c.SecretEnv, len(s), minSecretBytes)
		}
		return []key{{alg: algHS256, secret: []byte(s)}}, nil
	case c.SecretFile != "":
		b, err := boundedfile.Read(c.SecretFile, maxKeyFile)
		if err != nil {
			return nil, fmt.Errorf("auth.jwt.secret_file: %w", err)
		}
		b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
		if len(b) < minSecretBytes {
			return nil, fmt.Errorf("auth.jwt.secret_file: the secret is %d bytes, want at least %d", len(b), minSecretBytes)
		}
		return []key{{alg: algHS256, secret: b}}, nil
	case c.PublicKeyFile != "":
		b, err := boundedfile.Read(c.PublicKeyFile, maxKeyFile)
		if err != nil {
			return nil, fmt.Errorf("auth.jwt.public_key_file: %w", err)
		}
		k, err := parsePEMPublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("auth.jwt.public_key_file: %w", err)
		}
		return []key{k}, nil
	case c.JWKSFile != "":
		b, err := boundedfile.Read(c.JWKSFile, maxJWKSFile)
		if err != nil {
			return nil, fmt.Errorf("auth.jwt.jwks_file: %w", err)
		}
		keys, err := parseJWKS(b)
		if err != nil {
			return nil, fmt.Errorf("auth.jwt.jwks_file: %w", err)
		}
		return keys, nil
	}
	return nil, errors.New("auth.jwt: no key source")
}

// parsePEMPublicKey parses the first PEM block of b as a public key.
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

// publicKey checks a parsed public key and picks its algorithm.
func publicKey(pub any) (key, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p.N.BitLen() < minRSABits {
			return key{}, fmt.Errorf("RSA key of %d bits, want at least %d", p.N.BitLen(), minRSABits)
		}
		return key{alg: algRS256, rsa: p}, nil
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return key{}, fmt.Errorf("ECDSA key on %s, want P-256 (ES256)", p.Curve.Params().Name)
		}
		return key{alg: algES256, ec: p}, nil
	default:
		return key{}, fmt.Errorf("unsupported public key type %T: want RSA or ECDSA P-256", pub)
	}
}

// jwk is the subset of RFC 7517 / 7518 we read.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	D   string `json:"d"`
	K   string `json:"k"`
}

// parseJWKS parses a JSON Web Key Set of public keys.
func parseJWKS(b []byte) ([]key, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	var keys []key
	kids := map[string]int{}
	for i, j := range set.Keys {
		name := fmt.Sprintf("keys[%d]", i)
		if j.Kid != "" {
			name += fmt.Sprintf(" (kid %q)", j.Kid)
		}
		if j.D != "" || j.K != "" {
			return nil, fmt.Errorf("%s: holds private or symmetric key material: publish public keys only", name)
		}
		if j.Use != "" && j.Use != "sig" {
			continue // an encryption key, not ours to use
		}
		var k key
		var err error
		switch j.Kty {
		case "RSA":
			k, err = rsaJWK(j)
		case "EC":
			k, err = ecJWK(j)
		default:
			continue // OKP and others: not supported, not an error for the rest of the set
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if j.Alg != "" && j.Alg != k.alg {
			return nil, fmt.Errorf("%s: alg %q does not fit a %s key, want %s", name, j.Alg, j.Kty, k.alg)
		}
		if prev, dup := kids[j.Kid]; dup {
			return nil, fmt.Errorf("%s: same kid as keys[%d]", name, prev)
		}
		kids[j.Kid] = i
		k.kid = j.Kid
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable signing key (RSA or EC P-256)")
	}
	if len(keys) > 1 {
		if _, ok := kids[""]; ok {
			return nil, errors.New("a key without kid in a set of several: every key needs a kid")
		}
	}
	return keys, nil
}

func b64Field(name, s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("%s: missing", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("%s: not base64url", name)
	}
	return b, nil
}

func rsaJWK(j jwk) (key, error) {
	n, err := b64Field("n", j.N)
	if err != nil {
		return key{}, err
	}
	e, err := b64Field("e", j.E)
	if err != nil {
		return key{}, err
	}
	eb := new(big.Int).SetBytes(e)
	if !eb.IsInt64() || eb.Int64() < 3 || eb.Int64() > 1<<31-1 || eb.Bit(0) == 0 {
		return key{}, errors.New("e: not a valid RSA exponent")
	}
	return publicKey(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(eb.Int64())})
}

func ecJWK(j jwk) (key, error) {
	if j.Crv != "P-256" {
		return key{}, fmt.Errorf("crv %q: want P-256", j.Crv)
	}
	x, err := b64Field("x", j.X)
	if err != nil {
		return key{}, err
	}
	y, err := b64Field("y", j.Y)
	if err != nil {
		return key{}, err
	}
	if len(x) != 32 || len(y) != 32 {
		return key{}, errors.New("x, y: want 32 bytes each for P-256")
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return key{}, errors.New("x, y: not a point on P-256")
	}
	return publicKey(pub)
}
