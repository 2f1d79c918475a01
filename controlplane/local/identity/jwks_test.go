package identity_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
)

func rsaJWK(k *rsa.PublicKey, kid string) map[string]any {
	return map[string]any{
		"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes()),
	}
}

func ecJWK(k *ecdsa.PublicKey, kid string) map[string]any {
	b, err := k.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	return map[string]any{"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(b[1:33]), "y": b64(b[33:])}
}

func jwksFile(t testing.TB, keys ...map[string]any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "jwks.json", b)
}

func TestVerifyJWKS(t *testing.T) {
	t.Parallel()
	rk, rk2 := rsaKeys(t)
	ek, ek2 := ecKeys(t)
	v := mustNew(t, identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) {
		c.JWKSFile = jwksFile(t,
			rsaJWK(&rk.PublicKey, "rsa-1"),
			rsaJWK(&rk2.PublicKey, "rsa-2"),
			ecJWK(&ek.PublicKey, "ec-1"),
			map[string]any{"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "AAAA"},           // skipped
			map[string]any{"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"}, // skipped
		)
	})})
	alice := controlplane.Identity{Subject: "alice", Name: "Name of alice"}
	none := controlplane.Identity{}
	tests := []struct {
		name   string
		token  string
		want   controlplane.Identity
		reason error
	}{
		{"first RSA key", signJWT(t, hdr("RS256", "rsa-1"), claims("alice", nil), rk), alice, nil},
		{"second RSA key", signJWT(t, hdr("RS256", "rsa-2"), claims("alice", nil), rk2), alice, nil},
		{"EC key", signJWT(t, hdr("ES256", "ec-1"), claims("alice", nil), ek), alice, nil},
		{"kid of another key", signJWT(t, hdr("RS256", "rsa-2"), claims("alice", nil), rk), none, identity.ErrSignature},
		{"unknown kid", signJWT(t, hdr("RS256", "rsa-9"), claims("alice", nil), rk), none, identity.ErrNoKey},
		{"no kid with several keys", signJWT(t, hdr("RS256", ""), claims("alice", nil), rk), none, identity.ErrNoKey},
		{"skipped key's kid", signJWT(t, hdr("RS256", "enc"), claims("alice", nil), rk), none, identity.ErrNoKey},
		{"alg of another key type", signJWT(t, hdr("ES256", "rsa-1"), claims("alice", nil), ek), none, identity.ErrAlgorithm},
		{"EC key, other private key", signJWT(t, hdr("ES256", "ec-1"), claims("alice", nil), ek2), none, identity.ErrSignature},
		{"HS256 with a JWKS", signJWT(t, hdr("HS256", "rsa-1"), claims("alice", nil), []byte(testSecret)), none, identity.ErrAlgorithm},
		{"alg none with a JWKS", signJWT(t, hdr("none", "rsa-1"), claims("alice", nil), []byte("x")), none, identity.ErrAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := v.Verify(context.Background(), bearerCreds(tt.token))
			checkResult(t, got, err, tt.want, tt.reason, tt.token)
		})
	}
}

func TestVerifyJWKSSingleKeyWithoutKid(t *testing.T) {
	t.Parallel()
	ek, _ := ecKeys(t)
	k := ecJWK(&ek.PublicKey, "")
	delete(k, "kid")
	v := mustNew(t, identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.JWKSFile = jwksFile(t, k) })})
	for _, kid := range []string{"", "any"} {
		tok := signJWT(t, hdr("ES256", kid), claims("alice", nil), ek)
		got, err := v.Verify(context.Background(), bearerCreds(tok))
		checkResult(t, got, err, controlplane.Identity{Subject: "alice", Name: "Name of alice"}, nil, "")
	}
}

func TestJWKSErrors(t *testing.T) {
	t.Parallel()
	rk, _ := rsaKeys(t)
	ek, _ := ecKeys(t)
	withField := func(k map[string]any, field string, val any) map[string]any {
		c := map[string]any{}
		for kk, vv := range k {
			c[kk] = vv
		}
		if val == nil {
			delete(c, field)
		} else {
			c[field] = val
		}
		return c
	}
	good := rsaJWK(&rk.PublicKey, "a")
	tests := []struct {
		name string
		file string // raw contents
		keys []map[string]any
		want string
	}{
		{name: "not JSON", file: "nope", want: "not a JSON Web Key Set"},
		{name: "no keys", file: `{"keys":[]}`, want: "no usable signing key"},
		{name: "only unsupported keys", keys: []map[string]any{{"kty": "OKP", "crv": "Ed25519", "x": "AA"}}, want: "no usable signing key"},
		{name: "RSA private key", keys: []map[string]any{withField(good, "d", "AQAB")}, want: `keys[0] (kid "a"): holds private or symmetric key material`},
		{name: "symmetric key", keys: []map[string]any{good, {"kty": "oct", "kid": "h", "k": "c2VjcmV0"}}, want: `keys[1] (kid "h"): holds private or symmetric`},
		{name: "duplicate kid", keys: []map[string]any{good, good}, want: "keys[1] (kid \"a\"): same kid as keys[0]"},
		{name: "missing kid among several", keys: []map[string]any{good, withField(ecJWK(&ek.PublicKey, ""), "kid", nil)}, want: "every key needs a kid"},
		{name: "alg does not fit", keys: []map[string]any{withField(good, "alg", "HS256")}, want: `alg "HS256" does not fit a RSA key`},
		{name: "RSA missing n", keys: []map[string]any{withField(good, "n", nil)}, want: "n: missing"},
		{name: "RSA bad base64", keys: []map[string]any{withField(good, "n", "***")}, want: "n: not base64url"},
		{name: "RSA small key", keys: []map[string]any{withField(good, "n", b64(big.NewInt(1).Lsh(big.NewInt(1), 1023).Bytes()))}, want: "RSA key of 1024 bits"},
		{name: "RSA even exponent", keys: []map[string]any{withField(good, "e", b64([]byte{4}))}, want: "e: not a valid RSA exponent"},
		{name: "EC wrong curve", keys: []map[string]any{withField(ecJWK(&ek.PublicKey, "e"), "crv", "P-384")}, want: `crv "P-384": want P-256`},
		{name: "EC short coordinate", keys: []map[string]any{withField(ecJWK(&ek.PublicKey, "e"), "x", "AAAA")}, want: "want 32 bytes each"},
		{name: "EC point not on curve", keys: []map[string]any{withField(ecJWK(&ek.PublicKey, "e"), "y", b64(make([]byte, 32)))}, want: "not a point on P-256"},
		{name: "too large", file: `{"keys":[` + strings.Repeat(" ", 1<<20) + `]}`, want: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := ""
			if tt.keys != nil {
				path = jwksFile(t, tt.keys...)
			} else {
				path = writeFile(t, "jwks.json", []byte(tt.file))
			}
			_, err := identity.New(identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) { c.JWKSFile = path })})
			if err == nil {
				t.Fatal("New: no error")
			}
			if !strings.HasPrefix(err.Error(), "auth.jwt.jwks_file: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v\nwant auth.jwt.jwks_file: ...%s", err, tt.want)
			}
		})
	}
}
