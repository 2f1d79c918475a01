package identity_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
)

func TestStaticTokens(t *testing.T) {
	t.Parallel()
	tok, hash, err := identity.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if identity.HashToken(tok) != hash || len(hash) != 64 || !strings.HasPrefix(tok, "fwh_") {
		t.Fatalf("NewToken: %q %q", tok, hash)
	}
	other, otherHash, _ := identity.NewToken()
	if other == tok {
		t.Fatal("NewToken repeated itself")
	}
	v := mustNew(t, identity.Config{Tokens: []identity.Token{
		{SHA256: hash, Subject: "ci", Name: "CI bot"},
		{SHA256: strings.ToUpper(otherHash), Subject: "ops"}, // upper-case hex, no name
	}})
	ada := controlplane.Identity{Subject: "ci", Name: "CI bot"}
	cases := []struct {
		name   string
		creds  controlplane.Credentials
		want   controlplane.Identity
		reason error
		token  string
	}{
		{"bearer", bearerCreds(tok), ada, nil, ""},
		{"bearer lower-case scheme", controlplane.Credentials{Authorization: "bearer " + tok}, ada, nil, ""},
		{"second token, name defaults to subject", bearerCreds(other), controlplane.Identity{Subject: "ops", Name: "ops"}, nil, ""},
		{"cookie", controlplane.Credentials{Cookie: "theme=dark; flyte_webhook_token=" + tok}, ada, nil, ""},
		{"authorization wins over cookie", controlplane.Credentials{Authorization: "Bearer nope", Cookie: "flyte_webhook_token=" + tok}, controlplane.Identity{}, identity.ErrUnknownToken, "nope"},
		{"unknown token", bearerCreds("fwh_not-a-real-token"), controlplane.Identity{}, identity.ErrUnknownToken, "fwh_not-a-real-token"},
		{"basic scheme", controlplane.Credentials{Authorization: "Basic dXNlcjpwYXNz"}, controlplane.Identity{}, identity.ErrScheme, "dXNlcjpwYXNz"},
		{"empty bearer", controlplane.Credentials{Authorization: "Bearer "}, controlplane.Identity{}, identity.ErrUnknownToken, ""},
		{"no credentials", controlplane.Credentials{}, controlplane.Identity{}, identity.ErrNoCredentials, ""},
		{"other cookies only", controlplane.Credentials{Cookie: "session=abc"}, controlplane.Identity{}, identity.ErrNoCredentials, ""},
		{"token too large", bearerCreds(strings.Repeat("a", 9000)), controlplane.Identity{}, identity.ErrTooLarge, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := v.Verify(context.Background(), c.creds)
			checkResult(t, got, err, c.want, c.reason, c.token)
		})
	}
}

func TestAnonymous(t *testing.T) {
	t.Parallel()
	_, hash, _ := identity.NewToken()
	v := mustNew(t, identity.Config{AllowAnonymous: true, Tokens: []identity.Token{{SHA256: hash, Subject: "ci"}}})
	got, err := v.Verify(context.Background(), controlplane.Credentials{})
	checkResult(t, got, err, identity.Anonymous, nil, "")
	// Present but wrong credentials are refused even when anonymous callers are allowed.
	got, err = v.Verify(context.Background(), bearerCreds("wrong"))
	checkResult(t, got, err, controlplane.Identity{}, identity.ErrUnknownToken, "wrong")
	// Anonymous alone is a valid configuration (requires_auth: false and nothing else).
	if _, err := identity.New(identity.Config{AllowAnonymous: true}); err != nil {
		t.Fatal(err)
	}
}

func TestJWT(t *testing.T) {
	t.Setenv("FWH_TEST_JWT_SECRET", testSecret)
	rsa1, rsa2 := rsaKeys(t)
	ec1, ec2 := ecKeys(t)
	hs := mustNew(t, identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.SecretEnv = "FWH_TEST_JWT_SECRET" })})
	hsFile := mustNew(t, identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.SecretFile = writeFile(t, "secret", []byte(testSecret+"\n")) })})
	rs := mustNew(t, identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.PublicKeyFile = writeFile(t, "rsa.pem", pemPublic(t, &rsa1.PublicKey)) })})
	es := mustNew(t, identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.PublicKeyFile = writeFile(t, "ec.pem", pemPublic(t, &ec1.PublicKey)) })})
	jwks := mustNew(t, identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) {
		c.JWKSFile = writeFile(t, "jwks.json", jwksJSON(t, map[string]any{"r1": &rsa1.PublicKey, "e1": &ec1.PublicKey}))
	})})
	secret := []byte(testSecret)
	ada := controlplane.Identity{Subject: "ada", Name: "Name of ada"}
	now := time.Now().Unix()
	cases := []struct {
		name   string
		v      *identity.Verifier
		token  string
		want   controlplane.Identity
		reason error
	}{
		{"HS256 from env", hs, signJWT(t, hdr("HS256", ""), claims("ada", nil), secret), ada, nil},
		{"HS256 from file", hsFile, signJWT(t, hdr("HS256", ""), claims("ada", nil), secret), ada, nil},
		{"RS256", rs, signJWT(t, hdr("RS256", ""), claims("ada", nil), rsa1), ada, nil},
		{"ES256", es, signJWT(t, hdr("ES256", ""), claims("ada", nil), ec1), ada, nil},
		{"JWKS RSA by kid", jwks, signJWT(t, hdr("RS256", "r1"), claims("ada", nil), rsa1), ada, nil},
		{"JWKS EC by kid", jwks, signJWT(t, hdr("ES256", "e1"), claims("ada", nil), ec1), ada, nil},
		{"aud list", hs, signJWT(t, hdr("HS256", ""), claims("ada", map[string]any{"aud": []string{"other", testAudience}}), secret), ada, nil},
		{"name falls back to email", hs, signJWT(t, hdr("HS256", ""), claims("ada", map[string]any{"name": nil, "email": "ada@example.com"}), secret), controlplane.Identity{Subject: "ada", Name: "ada@example.com"}, nil},
		{"exp within leeway", hs, signJWT(t, hdr("HS256", ""), claims("ada", map[string]any{"exp": now - 10}), secret), ada, nil},

		{"wrong HS secret", hs, signJWT(t, hdr("HS256", ""), claims("ada", nil), []byte("another-secret-another-secret-xx")), controlplane.Identity{}, identity.ErrSignature},
		{"RSA signed by another key", rs, signJWT(t, hdr("RS256", ""), claims("ada", nil), rsa2), controlplane.Identity{}, identity.ErrSignature},
		{"EC signed by another key", es, signJWT(t, hdr("ES256", ""), claims("ada", nil), ec2), controlplane.Identity{}, identity.ErrSignature},
		{"alg none, no signature", hs, signJWT(t, hdr("none", ""), claims("ada", nil), nil), controlplane.Identity{}, identity.ErrMalformed},
		{"alg none, with a signature", hs, signJWT(t, hdr("none", ""), claims("ada", nil), secret), controlplane.Identity{}, identity.ErrAlgorithm},
		{"alg confusion: HS256 signed with the RSA public key", rs, signJWT(t, hdr("HS256", ""), claims("ada", nil), pemPublic(t, &rsa1.PublicKey)), controlplane.Identity{}, identity.ErrAlgorithm},
		{"RS256 token for an EC key", es, signJWT(t, hdr("RS256", ""), claims("ada", nil), rsa1), controlplane.Identity{}, identity.ErrAlgorithm},
		{"expired", hs, signJWT(t, hdr("HS256", ""), claims("ada", map[string]any{"exp": now - 3600}), secret), controlplane.Identity{}, identity.ErrExpired},
		{"not yet valid", hs, signJWT(t, hdr("HS256", ""), claims("ada", map[string]any{"nbf": now + 3600}), secret), controlplane.Identity{}, identity.ErrNotYetValid},
		{"wrong issuer", hs, signJWT(t, hdr("HS256", ""), claims("ada", map[string]any{"iss": "https://evil.test/"}), secret), controlplane.Identity{}, identity.ErrIssuer},
		{"wrong audience", hs, signJWT(t, hdr("HS256", ""), claims("ada", map[string]any{"aud": "someone-else"}), secret), controlplane.Identity{}, identity.ErrAudience},
		{"aud list without us", hs, signJWT(t, hdr("HS256", ""), claims("ada", map[string]any{"aud": []string{"a", "b"}}), secret), controlplane.Identity{}, identity.ErrAudience},
		{"no subject", hs, signJWT(t, hdr("HS256", ""), claims("", map[string]any{"sub": nil}), secret), controlplane.Identity{}, identity.ErrClaims},
		{"JWKS unknown kid", jwks, signJWT(t, hdr("RS256", "nope"), claims("ada", nil), rsa1), controlplane.Identity{}, identity.ErrNoKey},
		{"JWKS kid of the wrong type", jwks, signJWT(t, hdr("RS256", "e1"), claims("ada", nil), rsa1), controlplane.Identity{}, identity.ErrAlgorithm},
		{"malformed: two parts", hs, "eyJhbGciOiJIUzI1NiJ9.e30", controlplane.Identity{}, identity.ErrUnknownToken},
		{"malformed: bad base64 (not JWT-shaped, so an unknown token)", hs, "eyJhbGciOiJIUzI1NiJ9.!!!.sig", controlplane.Identity{}, identity.ErrUnknownToken},
		{"malformed: header not JSON", hs, b64([]byte("not json")) + "." + b64([]byte("{}")) + ".c2ln", controlplane.Identity{}, identity.ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.v.Verify(context.Background(), bearerCreds(c.token))
			checkResult(t, got, err, c.want, c.reason, c.token)
		})
	}
	// A JWT in the cookie counts like a bearer token.
	got, err := hs.Verify(context.Background(), controlplane.Credentials{Cookie: "flyte_webhook_token=" + signJWT(t, hdr("HS256", ""), claims("ada", nil), secret)})
	checkResult(t, got, err, ada, nil, "")
	// A static token and JWT verification side by side.
	tok, hash, _ := identity.NewToken()
	both := mustNew(t, identity.Config{Tokens: []identity.Token{{SHA256: hash, Subject: "ci"}}, JWT: jwtConfig(func(c *identity.JWTConfig) { c.SecretEnv = "FWH_TEST_JWT_SECRET" })})
	if id, err := both.Verify(context.Background(), bearerCreds(tok)); err != nil || id.Subject != "ci" {
		t.Fatalf("static token next to JWT: %v %v", id, err)
	}
	if id, err := both.Verify(context.Background(), bearerCreds(signJWT(t, hdr("HS256", ""), claims("ada", nil), secret))); err != nil || id != ada {
		t.Fatalf("JWT next to static tokens: %v %v", id, err)
	}
}

func jwksJSON(t testing.TB, keys map[string]any) []byte {
	t.Helper()
	var out []map[string]any
	for kid, k := range keys {
		switch pub := k.(type) {
		case *rsa.PublicKey:
			out = append(out, map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())})
		case *ecdsa.PublicKey:
			x := make([]byte, 32)
			y := make([]byte, 32)
			pub.X.FillBytes(x)
			pub.Y.FillBytes(y)
			out = append(out, map[string]any{"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(x), "y": b64(y)})
		}
	}
	b, err := json.Marshal(map[string]any{"keys": out})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConfigErrors: every bad configuration names its key.
func TestConfigErrors(t *testing.T) {
	t.Setenv("FWH_TEST_SHORT_SECRET", "short")
	rsa1, _ := rsaKeys(t)
	_, hash, _ := identity.NewToken()
	cases := []struct {
		name string
		cfg  identity.Config
		want string
	}{
		{"nothing configured", identity.Config{}, "no caller could authenticate"},
		{"bad hash", identity.Config{Tokens: []identity.Token{{SHA256: "abc", Subject: "x"}}}, "auth.tokens[0].sha256"},
		{"duplicate hash", identity.Config{Tokens: []identity.Token{{SHA256: hash, Subject: "x"}, {SHA256: hash, Subject: "y"}}}, "auth.tokens[1].sha256"},
		{"no subject", identity.Config{Tokens: []identity.Token{{SHA256: hash}}}, "auth.tokens[0].subject"},
		{"jwt without issuer", identity.Config{JWT: &identity.JWTConfig{Audience: "a", SecretEnv: "X"}}, "auth.jwt.issuer"},
		{"jwt without audience", identity.Config{JWT: &identity.JWTConfig{Issuer: "i", SecretEnv: "X"}}, "auth.jwt.audience"},
		{"jwt without key", identity.Config{JWT: &identity.JWTConfig{Issuer: "i", Audience: "a"}}, "auth.jwt"},
		{"jwt with two keys", identity.Config{JWT: &identity.JWTConfig{Issuer: "i", Audience: "a", SecretEnv: "X", PublicKeyFile: "y"}}, "auth.jwt"},
		{"secret env unset", identity.Config{JWT: &identity.JWTConfig{Issuer: "i", Audience: "a", SecretEnv: "FWH_TEST_UNSET_SECRET"}}, "FWH_TEST_UNSET_SECRET"},
		{"secret too short", identity.Config{JWT: &identity.JWTConfig{Issuer: "i", Audience: "a", SecretEnv: "FWH_TEST_SHORT_SECRET"}}, "32"},
		{"missing key file", identity.Config{JWT: &identity.JWTConfig{Issuer: "i", Audience: "a", PublicKeyFile: "/nonexistent/key.pem"}}, "public_key_file"},
		{"private key in JWKS", identity.Config{JWT: &identity.JWTConfig{Issuer: "i", Audience: "a", JWKSFile: writeFile(t, "p.json", []byte(`{"keys":[{"kty":"RSA","kid":"k","n":"`+b64(rsa1.N.Bytes())+`","e":"AQAB","d":"AQAB"}]}`))}}, "jwks"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := identity.New(c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want an error mentioning %q", err, c.want)
			}
		})
	}
}

// FuzzVerify: no input panics, and nothing but a configured credential is accepted.
func FuzzVerify(f *testing.F) {
	f.Setenv("FWH_TEST_JWT_SECRET", testSecret)
	tok, hash, _ := identity.NewToken()
	v := mustNew(f, identity.Config{Tokens: []identity.Token{{SHA256: hash, Subject: "ci"}}, JWT: jwtConfig(func(c *identity.JWTConfig) { c.SecretEnv = "FWH_TEST_JWT_SECRET" })})
	f.Add("Bearer "+tok, "")
	f.Add("Bearer "+signJWT(f, hdr("HS256", ""), claims("ada", nil), []byte(testSecret)), "")
	f.Add("", "flyte_webhook_token="+tok)
	f.Add("Bearer a.b.c", "")
	f.Add("Bearer eyJhbGciOiJub25lIn0.e30.", "x=y")
	f.Add("bEaReR \x00", "flyte_webhook_token=\"\"")
	f.Fuzz(func(t *testing.T, authorization, cookie string) {
		id, err := v.Verify(context.Background(), controlplane.Credentials{Authorization: authorization, Cookie: cookie})
		if err != nil {
			if controlplane.CodeOf(err) != controlplane.CodeUnauthenticated {
				t.Fatalf("refusal with code %v", controlplane.CodeOf(err))
			}
			return
		}
		if id.Subject == "" {
			t.Fatalf("accepted without a subject: %q %q", authorization, cookie)
		}
	})
}
