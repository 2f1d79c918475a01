package identity_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
)

const (
	testIssuer   = "https://idp.test/"
	testAudience = "flyte-webhook"
	testSecret   = "0123456789abcdef0123456789abcdef-test-secret"
)

// Keys are generated once per test binary: RSA generation is slow under -race.
var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
	rsaKey2 *rsa.PrivateKey
	ecOnce  sync.Once
	ecKey   *ecdsa.PrivateKey
	ecKey2  *ecdsa.PrivateKey
)

func rsaKeys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	rsaOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsaKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return rsaKey, rsaKey2
}

func ecKeys(t testing.TB) (*ecdsa.PrivateKey, *ecdsa.PrivateKey) {
	t.Helper()
	ecOnce.Do(func() {
		var err error
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if ecKey2, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
	return ecKey, ecKey2
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(b)
}

// signJWT makes a compact JWS. signer is a []byte (HS256), *rsa.PrivateKey (RS256),
// *ecdsa.PrivateKey (ES256) or nil (empty signature). The header's alg is taken from hdr as
// given, so tests can lie about it.
func signJWT(t testing.TB, hdr, claims map[string]any, signer any) string {
	t.Helper()
	signed := b64JSON(t, hdr) + "." + b64JSON(t, claims)
	d := sha256.Sum256([]byte(signed))
	var sig []byte
	switch k := signer.(type) {
	case nil:
	case []byte:
		m := hmac.New(sha256.New, k)
		m.Write([]byte(signed))
		sig = m.Sum(nil)
	case *rsa.PrivateKey:
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, d[:]); err != nil {
			t.Fatal(err)
		}
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, d[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	default:
		t.Fatalf("signJWT: unsupported signer %T", signer)
	}
	return signed + "." + b64(sig)
}

// claims returns valid claims for subject, with overrides applied (a nil value deletes).
func claims(subject string, overrides map[string]any) map[string]any {
	now := time.Now().Unix()
	c := map[string]any{
		"iss":  testIssuer,
		"aud":  testAudience,
		"sub":  subject,
		"name": "Name of " + subject,
		"iat":  now,
		"nbf":  now,
		"exp":  now + 300,
	}
	for k, v := range overrides {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func hdr(alg, kid string) map[string]any {
	h := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		h["kid"] = kid
	}
	return h
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pemPublic(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func jwtConfig(mod func(*identity.JWTConfig)) *identity.JWTConfig {
	c := &identity.JWTConfig{Issuer: testIssuer, Audience: testAudience}
	mod(c)
	return c
}

func mustNew(t testing.TB, cfg identity.Config) *identity.Verifier {
	t.Helper()
	v, err := identity.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

func bearerCreds(token string) controlplane.Credentials {
	return controlplane.Credentials{Authorization: "Bearer " + token}
}

// checkResult checks Verify's answer: want when reason is nil, else a refusal for reason
// whose caller-facing message does not echo the token.
func checkResult(t *testing.T, got controlplane.Identity, err error, want controlplane.Identity, reason error, token string) {
	t.Helper()
	if reason == nil {
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if got != want {
			t.Fatalf("Verify = %+v, want %+v", got, want)
		}
		return
	}
	if err == nil {
		t.Fatalf("Verify = %+v, want refusal (%v)", got, reason)
	}
	if code := controlplane.CodeOf(err); code != controlplane.CodeUnauthenticated {
		t.Fatalf("CodeOf = %v, want unauthenticated (err %v)", code, err)
	}
	if !errors.Is(err, controlplane.ErrUnauthenticated) {
		t.Fatalf("errors.Is(err, ErrUnauthenticated) = false")
	}
	if !errors.Is(err, reason) {
		t.Fatalf("reason = %v, want %v", err, reason)
	}
	if got != (controlplane.Identity{}) {
		t.Fatalf("refusal returned identity %+v", got)
	}
	if token != "" && (strings.Contains(err.Error(), token) || strings.Contains(controlplane.MessageOf(err), token)) {
		t.Fatalf("error echoes the token: %v", err)
	}
}

func sha256Sum(b []byte) []byte {
	d := sha256.Sum256(b)
	return d[:]
}

func hmacB64(secret []byte, signed string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signed))
	return b64(m.Sum(nil))
}

func bigOne() *big.Int { return big.NewInt(1) }
