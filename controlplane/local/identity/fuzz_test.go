package identity_test

import (
	"context"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
)

// FuzzVerify feeds arbitrary headers to verifiers of every key kind: Verify must not panic,
// must refuse only with CodeUnauthenticated, and must answer only identities it knows.
// Without -fuzz it runs the seed corpus as a normal test.
func FuzzVerify(f *testing.F) {
	rk, _ := rsaKeys(f)
	ek, _ := ecKeys(f)
	secret := []byte(testSecret)
	const static = "fwh_fuzz"
	tokens := []identity.Token{{SHA256: identity.HashToken(static), Subject: "static"}}
	verifiers := []*identity.Verifier{
		mustNew(f, identity.Config{Tokens: tokens, AllowAnonymous: true,
			JWT: jwtConfig(func(c *identity.JWTConfig) { c.SecretFile = writeFile(f, "s", secret) })}),
		mustNew(f, identity.Config{Tokens: tokens,
			JWT: jwtConfig(func(c *identity.JWTConfig) { c.PublicKeyFile = writeFile(f, "r.pem", pemPublic(f, &rk.PublicKey)) })}),
		mustNew(f, identity.Config{
			JWT: jwtConfig(func(c *identity.JWTConfig) {
				c.JWKSFile = jwksFile(f, rsaJWK(&rk.PublicKey, "r"), ecJWK(&ek.PublicKey, "e"))
			})}),
	}
	known := map[controlplane.Identity]bool{
		identity.Anonymous:                        true,
		{Subject: "static", Name: "static"}:       true,
		{Subject: "alice", Name: "Name of alice"}: true,
	}

	hs := signJWT(f, hdr("HS256", ""), claims("alice", nil), secret)
	rs := signJWT(f, hdr("RS256", "r"), claims("alice", nil), rk)
	es := signJWT(f, hdr("ES256", "e"), claims("alice", nil), ek)
	for _, s := range [][2]string{
		{"", ""},
		{"Bearer " + static, ""},
		{"", "flyte_webhook_token=" + static},
		{"Bearer " + hs, ""},
		{"Bearer " + rs, ""},
		{"Bearer " + es, ""},
		{"", "flyte_webhook_token=" + es},
		{"bearer " + hs[:len(hs)-3], ""},
		{"Bearer " + strings.Replace(rs, ".", "..", 1), ""},
		{"Bearer e30.e30.e30", ""},
		{"Bearer eyJhbGciOiJub25lIn0.e30.", ""},
		{"Bearer a.b.c", "flyte_webhook_token=x"},
		{"Basic Zm9vOmJhcg==", ""},
		{"Bearer", ""},
		{"", `flyte_webhook_token="; a=b; ;;=`},
		{"", "flyte_webhook_token=\x00\xff"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, authorization, cookie string) {
		creds := controlplane.Credentials{Authorization: authorization, Cookie: cookie}
		for _, v := range verifiers {
			id, err := v.Verify(context.Background(), creds)
			if err != nil {
				if controlplane.CodeOf(err) != controlplane.CodeUnauthenticated {
					t.Fatalf("Verify: code %v: %v", controlplane.CodeOf(err), err)
				}
				if id != (controlplane.Identity{}) {
					t.Fatalf("refusal with identity %+v", id)
				}
				continue
			}
			if !known[id] {
				t.Fatalf("Verify = %+v, not an identity this verifier knows", id)
			}
		}
	})
}
