package identity_test

import (
	"context"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
)

// TestKeyHeadersNeverUsed: keys a token carries or points at are never used to check it; one
// that does not even parse makes the token malformed.
func TestKeyHeadersNeverUsed(t *testing.T) {
	t.Parallel()
	rk, rk2 := rsaKeys(t)
	v := mustNew(t, identity.Config{JWT: jwtConfig(func(c *identity.JWTConfig) {
		c.PublicKeyFile = writeFile(t, "rsa.pem", pemPublic(t, &rk.PublicKey))
	})})
	alice := controlplane.Identity{Subject: "alice", Name: "Name of alice"}
	with := func(extra map[string]any) map[string]any {
		h := hdr("RS256", "")
		for k, val := range extra {
			h[k] = val
		}
		return h
	}
	attacker := rsaJWK(&rk2.PublicKey, "attacker")
	tests := []struct {
		name   string
		token  string
		want   controlplane.Identity
		reason error
	}{
		{"signed by the attacker's key, carried in jwk", signJWT(t, with(map[string]any{"jwk": attacker}), claims("alice", nil), rk2), controlplane.Identity{}, identity.ErrSignature},
		{"signed by the attacker's key, pointed at by jku", signJWT(t, with(map[string]any{"jku": "https://evil.example/jwks"}), claims("alice", nil), rk2), controlplane.Identity{}, identity.ErrSignature},
		{"a configured key's token carrying another jwk", signJWT(t, with(map[string]any{"jwk": attacker}), claims("alice", nil), rk), alice, nil},
		{"a jwk that does not parse", signJWT(t, with(map[string]any{"jwk": "garbage"}), claims("alice", nil), rk), controlplane.Identity{}, identity.ErrMalformed},
		{"an x5c that does not parse", signJWT(t, with(map[string]any{"x5c": []string{"AAAA"}}), claims("alice", nil), rk), controlplane.Identity{}, identity.ErrMalformed},
		{"b64 header", signJWT(t, with(map[string]any{"b64": false}), claims("alice", nil), rk), controlplane.Identity{}, identity.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := v.Verify(context.Background(), bearerCreds(tt.token))
			checkResult(t, got, err, tt.want, tt.reason, tt.token)
		})
	}
}
