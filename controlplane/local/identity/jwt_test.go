package identity_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
)

func TestVerifyJWT(t *testing.T) {
	t.Parallel()
	rk, rk2 := rsaKeys(t)
	ek, ek2 := ecKeys(t)
	secret := []byte(testSecret)

	hs := mustNew(t, identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) {
		c.SecretFile = writeFile(t, "secret", append([]byte(testSecret), '\n'))
	})})
	rs := mustNew(t, identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) {
		c.PublicKeyFile = writeFile(t, "rsa.pem", pemPublic(t, &rk.PublicKey))
	})})
	es := mustNew(t, identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) {
		c.PublicKeyFile = writeFile(t, "ec.pem", pemPublic(t, &ek.PublicKey))
	})})
	// RSA public key as PKCS#1, to check alg confusion against the PEM bytes an attacker
	// could know: an HS256 token "signed" with the public key file's contents.
	rsaPKCS1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rk.PublicKey)})
	rs1 := mustNew(t, identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) {
		c.PublicKeyFile = writeFile(t, "rsa1.pem", rsaPKCS1)
	})})

	now := time.Now().Unix()
	alice := controlplane.Identity{Subject: "alice", Name: "Name of alice"}
	none := controlplane.Identity{}

	tests := []struct {
		name   string
		v      *identity.Verifier
		token  string
		want   controlplane.Identity
		reason error
	}{
		{"HS256 valid", hs, signJWT(t, hdr("HS256", ""), claims("alice", nil), secret), alice, nil},
		{"RS256 valid", rs, signJWT(t, hdr("RS256", ""), claims("alice", nil), rk), alice, nil},
		{"RS256 PKCS1 key valid", rs1, signJWT(t, hdr("RS256", ""), claims("alice", nil), rk), alice, nil},
		{"ES256 valid", es, signJWT(t, hdr("ES256", ""), claims("alice", nil), ek), alice, nil},
		{"kid ignored with a single key", rs, signJWT(t, hdr("RS256", "whatever"), claims("alice", nil), rk), alice, nil},
		{"aud list", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"aud": []string{"other", testAudience}}), secret), alice, nil},
		{"within leeway after exp", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"exp": now - 5}), secret), alice, nil},
		{"within leeway before nbf", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"nbf": now + 5}), secret), alice, nil},
		{"fractional dates", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"exp": float64(now) + 60.5, "iat": float64(now) - 0.25}), secret), alice, nil},
		{"no nbf or iat", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"nbf": nil, "iat": nil}), secret), alice, nil},
		{"name falls back to email", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"name": nil, "email": "a@x.test"}), secret), controlplane.Identity{Subject: "alice", Name: "a@x.test"}, nil},
		{"name falls back to subject", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"name": ""}), secret), controlplane.Identity{Subject: "alice", Name: "alice"}, nil},

		{"HS256 wrong secret", hs, signJWT(t, hdr("HS256", ""), claims("alice", nil), []byte(testSecret+"x")), none, identity.ErrSignature},
		{"RS256 other key", rs, signJWT(t, hdr("RS256", ""), claims("alice", nil), rk2), none, identity.ErrSignature},
		{"ES256 other key", es, signJWT(t, hdr("ES256", ""), claims("alice", nil), ek2), none, identity.ErrSignature},
		{"tampered payload", hs, tamper(t, signJWT(t, hdr("HS256", ""), claims("alice", nil), secret), claims("admin", nil)), none, identity.ErrSignature},
		{"ES256 DER signature", es, derSigned(t, ek), none, identity.ErrSignature},
		{"alg none", hs, signJWT(t, hdr("none", ""), claims("alice", nil), nil), none, identity.ErrMalformed},
		{"alg none with signature", rs, signJWT(t, hdr("none", ""), claims("alice", nil), secret), none, identity.ErrAlgorithm},
		{"RS256 token for HS256 key", hs, signJWT(t, hdr("RS256", ""), claims("alice", nil), rk), none, identity.ErrAlgorithm},
		{"HS256 with RSA public key PEM as secret", rs, signJWT(t, hdr("HS256", ""), claims("alice", nil), pemPublic(t, &rk.PublicKey)), none, identity.ErrAlgorithm},
		{"HS256 with RSA PKCS1 PEM as secret", rs1, signJWT(t, hdr("HS256", ""), claims("alice", nil), rsaPKCS1), none, identity.ErrAlgorithm},
		{"ES256 token for RSA key", rs, signJWT(t, hdr("ES256", ""), claims("alice", nil), ek), none, identity.ErrAlgorithm},
		{"RS512 claimed", rs, signJWT(t, hdr("RS512", ""), claims("alice", nil), rk), none, identity.ErrAlgorithm},
		{"lower-case alg", hs, signJWT(t, hdr("hs256", ""), claims("alice", nil), secret), none, identity.ErrAlgorithm},

		{"expired", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"exp": now - 120}), secret), none, identity.ErrExpired},
		{"no exp", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"exp": nil}), secret), none, identity.ErrClaims},
		{"exp not a number", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"exp": "tomorrow"}), secret), none, identity.ErrClaims},
		{"not yet valid", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"nbf": now + 120}), secret), none, identity.ErrNotYetValid},
		{"issued in the future", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"iat": now + 120}), secret), none, identity.ErrNotYetValid},
		{"nbf not a number", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"nbf": true}), secret), none, identity.ErrClaims},
		{"wrong issuer", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"iss": "https://evil.test/"}), secret), none, identity.ErrIssuer},
		{"issuer prefix", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"iss": strings.TrimSuffix(testIssuer, "/")}), secret), none, identity.ErrIssuer},
		{"no issuer", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"iss": nil}), secret), none, identity.ErrIssuer},
		{"wrong audience", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"aud": "other"}), secret), none, identity.ErrAudience},
		{"aud list without ours", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"aud": []string{"a", "b"}}), secret), none, identity.ErrAudience},
		{"aud not a string", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"aud": 7}), secret), none, identity.ErrAudience},
		{"no audience", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"aud": nil}), secret), none, identity.ErrAudience},
		{"no subject", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"sub": nil}), secret), none, identity.ErrClaims},
		{"subject not a string", hs, signJWT(t, hdr("HS256", ""), claims("alice", map[string]any{"sub": 42}), secret), none, identity.ErrClaims},
		{"crit header", hs, signJWT(t, map[string]any{"alg": "HS256", "crit": []string{"exp"}}, claims("alice", nil), secret), none, identity.ErrMalformed},
		{"JWT shape but JWT not configured", mustNew(t, identity.Config{Tokens: []identity.Token{{SHA256: identity.HashToken("x"), Subject: "x"}}}), signJWT(t, hdr("HS256", ""), claims("alice", nil), secret), none, identity.ErrUnknownToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.v.Verify(context.Background(), bearerCreds(tt.token))
			checkResult(t, got, err, tt.want, tt.reason, tt.token)
		})
	}
}

// tamper replaces the payload of a signed token, keeping header and signature.
func tamper(t *testing.T, token string, c map[string]any) string {
	p := strings.Split(token, ".")
	return p[0] + "." + b64JSON(t, c) + "." + p[2]
}

// derSigned makes an ES256 token whose signature is ASN.1 DER, which JWS forbids.
func derSigned(t *testing.T, k *ecdsa.PrivateKey) string {
	signed := b64JSON(t, hdr("ES256", "")) + "." + b64JSON(t, claims("alice", nil))
	d := sha256Sum([]byte(signed))
	sig, err := ecdsa.SignASN1(rand.Reader, k, d)
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + b64(sig)
}

func TestVerifyMalformedJWT(t *testing.T) {
	t.Parallel()
	secret := []byte(testSecret)
	v := mustNew(t, identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) {
		c.SecretFile = writeFile(t, "secret", secret)
	})})
	good := signJWT(t, hdr("HS256", ""), claims("alice", nil), secret)
	parts := strings.Split(good, ".")
	signWith := func(h64, p64 string) string {
		return h64 + "." + p64 + "." + hmacB64(secret, h64+"."+p64)
	}
	tests := []struct {
		name   string
		token  string
		reason error
	}{
		{"two parts", parts[0] + "." + parts[1], identity.ErrUnknownToken},
		{"four parts", good + ".x", identity.ErrUnknownToken},
		{"empty header", "." + parts[1] + "." + parts[2], identity.ErrMalformed},
		{"empty payload", parts[0] + ".." + parts[2], identity.ErrMalformed},
		{"empty signature", parts[0] + "." + parts[1] + ".", identity.ErrMalformed},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], identity.ErrUnknownToken},
		{"standard base64 characters", parts[0] + "+/." + parts[1] + "." + parts[2], identity.ErrUnknownToken},
		{"header not base64", "a." + parts[1] + "." + parts[2], identity.ErrMalformed},
		{"header not JSON", b64([]byte("not json")) + "." + parts[1] + "." + parts[2], identity.ErrMalformed},
		{"header JSON array", b64([]byte(`["HS256"]`)) + "." + parts[1] + "." + parts[2], identity.ErrMalformed},
		{"alg not a string", b64([]byte(`{"alg":1}`)) + "." + parts[1] + "." + parts[2], identity.ErrMalformed},
		{"no alg", b64([]byte(`{"typ":"JWT"}`)) + "." + parts[1] + "." + parts[2], identity.ErrMalformed},
		{"payload not JSON", signWith(parts[0], b64([]byte("nope"))), identity.ErrMalformed},
		{"payload JSON null", signWith(parts[0], b64([]byte("null"))), identity.ErrMalformed},
		{"payload JSON array", signWith(parts[0], b64([]byte("[1,2]"))), identity.ErrMalformed},
		{"payload trailing data", signWith(parts[0], b64([]byte(`{"sub":"a"} {}`))), identity.ErrMalformed},
		{"signature garbage", parts[0] + "." + parts[1] + ".AAAA", identity.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := v.Verify(context.Background(), bearerCreds(tt.token))
			checkResult(t, got, err, controlplane.Identity{}, tt.reason, tt.token)
		})
	}
}

func TestVerifyJWTClaimsConfig(t *testing.T) {
	t.Parallel()
	secret := []byte(testSecret)
	v := mustNew(t, identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) {
		c.SecretFile = writeFile(t, "secret", secret)
		c.SubjectClaim = "preferred_username"
		c.NameClaim = "display"
		c.Leeway = 5 * time.Minute
	})})
	now := time.Now().Unix()
	tests := []struct {
		name   string
		claims map[string]any
		want   controlplane.Identity
		reason error
	}{
		{"custom claims", claims("ignored", map[string]any{"preferred_username": "bob", "display": "Bob B."}), controlplane.Identity{Subject: "bob", Name: "Bob B."}, nil},
		{"custom name missing falls back to email", claims("ignored", map[string]any{"preferred_username": "bob", "email": "b@x.test"}), controlplane.Identity{Subject: "bob", Name: "b@x.test"}, nil},
		{"custom subject missing", claims("ignored", nil), controlplane.Identity{}, identity.ErrClaims},
		{"larger leeway accepts 4m late", claims("x", map[string]any{"preferred_username": "bob", "exp": now - 240}), controlplane.Identity{Subject: "bob", Name: "bob"}, nil},
		{"larger leeway refuses 6m late", claims("x", map[string]any{"preferred_username": "bob", "exp": now - 360}), controlplane.Identity{}, identity.ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok := signJWT(t, hdr("HS256", ""), tt.claims, secret)
			got, err := v.Verify(context.Background(), bearerCreds(tok))
			checkResult(t, got, err, tt.want, tt.reason, tok)
		})
	}
}

func TestVerifyJWTExpiredMessage(t *testing.T) {
	t.Parallel()
	v := mustNew(t, identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) {
		c.SecretFile = writeFile(t, "secret", []byte(testSecret))
	})})
	tok := signJWT(t, hdr("HS256", ""), claims("a", map[string]any{"exp": time.Now().Unix() - 3600}), []byte(testSecret))
	_, err := v.Verify(context.Background(), bearerCreds(tok))
	if got := controlplane.MessageOf(err); got != "credentials expired" {
		t.Fatalf("MessageOf = %q, want %q", got, "credentials expired")
	}
}

// TestVerifyJWTSecretEnv cannot run in parallel: it sets an environment variable.
func TestVerifyJWTSecretEnv(t *testing.T) {
	t.Setenv("IDENTITY_TEST_JWT_SECRET", testSecret)
	v := mustNew(t, identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.SecretEnv = "IDENTITY_TEST_JWT_SECRET" })})
	tok := signJWT(t, hdr("HS256", ""), claims("env", nil), []byte(testSecret))
	got, err := v.Verify(context.Background(), bearerCreds(tok))
	checkResult(t, got, err, controlplane.Identity{Subject: "env", Name: "Name of env"}, nil, "")

	// The variable is read once: changing it later changes nothing.
	t.Setenv("IDENTITY_TEST_JWT_SECRET", testSecret+"-rotated")
	if _, err := v.Verify(context.Background(), bearerCreds(tok)); err != nil {
		t.Fatalf("after env change: %v", err)
	}

	t.Setenv("IDENTITY_TEST_JWT_SECRET", "short")
	if _, err := identity.New(identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.SecretEnv = "IDENTITY_TEST_JWT_SECRET" })}); err == nil ||
		!strings.Contains(err.Error(), "auth.jwt.secret_env") || strings.Contains(err.Error(), "short") {
		t.Fatalf("short secret: err = %v, want one naming auth.jwt.secret_env without the secret", err)
	}
}

func TestStaticTokenBeforeJWT(t *testing.T) {
	t.Parallel()
	// A configured token that happens to look like a JWT is a static token.
	const tok = "aaa.bbb.ccc"
	v := mustNew(t, identity.Config{
		Tokens: []identity.Token{{SHA256: identity.HashToken(tok), Subject: "static"}},
		JWT:    jwtConfig(func(c *identity.JWTConfig) { c.SecretFile = writeFile(t, "s", []byte(testSecret)) }),
	})
	got, err := v.Verify(context.Background(), bearerCreds(tok))
	checkResult(t, got, err, controlplane.Identity{Subject: "static", Name: "static"}, nil, "")
}

func TestVerifyJWTInCookie(t *testing.T) {
	t.Parallel()
	v := mustNew(t, identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) {
		c.SecretFile = writeFile(t, "secret", []byte(testSecret))
	})})
	tok := signJWT(t, hdr("HS256", ""), claims("alice", nil), []byte(testSecret))
	got, err := v.Verify(context.Background(), controlplane.Credentials{Cookie: "a=b; " + identity.CookieName + "=" + tok})
	checkResult(t, got, err, controlplane.Identity{Subject: "alice", Name: "Name of alice"}, nil, "")
}
