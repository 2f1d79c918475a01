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

// FuzzVerifyIssuers does the same with several issuers, where the unverified iss picks whose
// keys check a token: whatever the token names, only identities the issuers' own keys signed
// come out, with the allowlists of their entries.
func FuzzVerifyIssuers(f *testing.F) {
	rk, _ := rsaKeys(f)
	ek, _ := ecKeys(f)
	secret := []byte(testSecret)
	const other = "https://other.test/"
	v := mustNew(f, identity.Config{Issuers: []identity.JWTConfig{
		{Issuer: testIssuer, Audience: testAudience, SecretFile: writeFile(f, "s", secret),
			Conditions: map[string]identity.ClaimValues{"repository": {"org/repo"}}},
		{Issuer: other, Audience: testAudience, JWKSFile: jwksFile(f, rsaJWK(&rk.PublicKey, "r"), ecJWK(&ek.PublicKey, "e")),
			Allowlists: []identity.ClaimAllowlist{{When: map[string]identity.ClaimValues{"repository": {"org/repo"}}, TaskAllowlist: &[]string{"greet"}}}},
	}})
	ok := claims("alice", map[string]any{"repository": "org/repo"})
	otherOK := claims("alice", map[string]any{"repository": "org/repo", "iss": other})
	for _, tok := range []string{
		signJWT(f, hdr("HS256", ""), ok, secret),
		signJWT(f, hdr("RS256", "r"), otherOK, rk),
		signJWT(f, hdr("ES256", "e"), otherOK, ek),
		signJWT(f, hdr("HS256", "r"), otherOK, secret),
		signJWT(f, hdr("RS256", "r"), ok, rk),
		signJWT(f, hdr("HS256", ""), claims("alice", map[string]any{"repository": "org/x"}), secret),
		signJWT(f, hdr("HS256", ""), map[string]any{"iss": []string{testIssuer}}, secret),
		"e30.eyJpc3MiOiJodHRwczovL290aGVyLnRlc3QvIn0.e30",
	} {
		f.Add("Bearer " + tok)
	}
	f.Fuzz(func(t *testing.T, authorization string) {
		id, err := v.Verify(context.Background(), controlplane.Credentials{Authorization: authorization})
		if err != nil {
			if controlplane.CodeOf(err) != controlplane.CodeUnauthenticated {
				t.Fatalf("Verify: code %v: %v", controlplane.CodeOf(err), err)
			}
			return
		}
		if id.Subject != "alice" || id.Name != "Name of alice" {
			t.Fatalf("Verify = %+v, not an identity these issuers signed", id)
		}
		// Only the second issuer has allowlists, and its one entry allows greet alone.
		if id.Allowlists != nil && (!id.Allowlists.AllowsTask("d", "p", "greet") || id.Allowlists.AllowsTask("d", "p", "other")) {
			t.Fatalf("Verify = %+v: allowlists not the entry's", id)
		}
	})
}
