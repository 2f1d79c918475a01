package identity_test

import (
	"context"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
)

func TestVerifyStaticTokens(t *testing.T) {
	t.Parallel()
	const (
		alice = "fwh_alice-token"
		bob   = "fwh_bob-token"
	)
	v := mustNew(t, identity.Config{Tokens: []identity.Token{
		{SHA256: identity.HashToken(alice), Subject: "alice", Name: "Alice A."},
		// Upper-case hex and surrounding space are accepted; Name defaults to Subject.
		{SHA256: " " + strings.ToUpper(identity.HashToken(bob)) + " ", Subject: "bob"},
	}})
	aliceID := controlplane.Identity{Subject: "alice", Name: "Alice A."}
	bobID := controlplane.Identity{Subject: "bob", Name: "bob"}

	tests := []struct {
		name   string
		creds  controlplane.Credentials
		want   controlplane.Identity
		reason error
	}{
		{"bearer first token", bearerCreds(alice), aliceID, nil},
		{"bearer second token", bearerCreds(bob), bobID, nil},
		{"scheme case-insensitive", controlplane.Credentials{Authorization: "bEaReR " + alice}, aliceID, nil},
		{"extra spaces", controlplane.Credentials{Authorization: "  Bearer   " + alice + "  "}, aliceID, nil},
		{"unknown token", bearerCreds("fwh_nobody"), controlplane.Identity{}, identity.ErrUnknownToken},
		{"token prefix only", bearerCreds(alice[:len(alice)-1]), controlplane.Identity{}, identity.ErrUnknownToken},
		{"hash instead of token", bearerCreds(identity.HashToken(alice)), controlplane.Identity{}, identity.ErrUnknownToken},
		{"empty bearer", controlplane.Credentials{Authorization: "Bearer "}, controlplane.Identity{}, identity.ErrUnknownToken},
		{"basic scheme", controlplane.Credentials{Authorization: "Basic YWxpY2U6cHc="}, controlplane.Identity{}, identity.ErrScheme},
		{"token without scheme", controlplane.Credentials{Authorization: alice}, controlplane.Identity{}, identity.ErrScheme},
		{"whitespace authorization", controlplane.Credentials{Authorization: "   "}, controlplane.Identity{}, identity.ErrScheme},
		{"cookie", controlplane.Credentials{Cookie: "theme=dark; flyte_webhook_token=" + bob + "; x=1"}, bobID, nil},
		{"quoted cookie", controlplane.Credentials{Cookie: `flyte_webhook_token="` + bob + `"`}, bobID, nil},
		{"unknown cookie token", controlplane.Credentials{Cookie: "flyte_webhook_token=fwh_nobody"}, controlplane.Identity{}, identity.ErrUnknownToken},
		{"other cookies only", controlplane.Credentials{Cookie: "theme=dark; session=abc"}, controlplane.Identity{}, identity.ErrNoCredentials},
		{"authorization wins over cookie", controlplane.Credentials{Authorization: "Bearer " + alice, Cookie: "flyte_webhook_token=" + bob}, aliceID, nil},
		{"bad authorization does not fall back to cookie", controlplane.Credentials{Authorization: "Basic x", Cookie: "flyte_webhook_token=" + bob}, controlplane.Identity{}, identity.ErrScheme},
		{"unknown bearer does not fall back to cookie", controlplane.Credentials{Authorization: "Bearer fwh_nobody", Cookie: "flyte_webhook_token=" + bob}, controlplane.Identity{}, identity.ErrUnknownToken},
		{"no credentials", controlplane.Credentials{}, controlplane.Identity{}, identity.ErrNoCredentials},
		// Two token cookies are ambiguous, not "first one wins": refused with or without an
		// Authorization header, equal or not, one header or lines the webhook joined with "; ".
		{"two token cookies", controlplane.Credentials{Cookie: "flyte_webhook_token=" + bob + "; flyte_webhook_token=" + alice}, controlplane.Identity{}, identity.ErrDuplicate},
		{"two equal token cookies", controlplane.Credentials{Cookie: "flyte_webhook_token=" + bob + "; flyte_webhook_token=" + bob}, controlplane.Identity{}, identity.ErrDuplicate},
		{"an empty token cookie and a token cookie", controlplane.Credentials{Cookie: "flyte_webhook_token=; flyte_webhook_token=" + bob}, controlplane.Identity{}, identity.ErrDuplicate},
		{"token cookies on joined lines", controlplane.Credentials{Cookie: "theme=dark; flyte_webhook_token=" + bob + "; x=1; flyte_webhook_token=" + bob}, controlplane.Identity{}, identity.ErrDuplicate},
		{"authorization with two token cookies", controlplane.Credentials{Authorization: "Bearer " + alice, Cookie: "flyte_webhook_token=" + bob + "; flyte_webhook_token=" + bob}, controlplane.Identity{}, identity.ErrDuplicate},
		{"token too large", bearerCreds(strings.Repeat("a", 8<<10+1)), controlplane.Identity{}, identity.ErrTooLarge},
		{"cookie header too large", controlplane.Credentials{Cookie: "a=" + strings.Repeat("b", 64<<10)}, controlplane.Identity{}, identity.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := v.Verify(context.Background(), tt.creds)
			checkResult(t, got, err, tt.want, tt.reason, "fwh_")
		})
	}
}

func TestVerifyAnonymous(t *testing.T) {
	t.Parallel()
	const tok = "fwh_carol"
	v := mustNew(t, identity.Config{
		Tokens:         []identity.Token{{SHA256: identity.HashToken(tok), Subject: "carol"}},
		AllowAnonymous: true,
	})
	tests := []struct {
		name   string
		creds  controlplane.Credentials
		want   controlplane.Identity
		reason error
	}{
		{"no credentials", controlplane.Credentials{}, identity.Anonymous, nil},
		{"unrelated cookies", controlplane.Credentials{Cookie: "theme=dark"}, identity.Anonymous, nil},
		{"valid token still identifies", bearerCreds(tok), controlplane.Identity{Subject: "carol", Name: "carol"}, nil},
		{"invalid token is refused, not anonymous", bearerCreds("fwh_nobody"), controlplane.Identity{}, identity.ErrUnknownToken},
		{"non-bearer is refused, not anonymous", controlplane.Credentials{Authorization: "Basic x"}, controlplane.Identity{}, identity.ErrScheme},
		{"two token cookies are refused, not anonymous", controlplane.Credentials{Cookie: "flyte_webhook_token=a; flyte_webhook_token=b"}, controlplane.Identity{}, identity.ErrDuplicate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := v.Verify(context.Background(), tt.creds)
			checkResult(t, got, err, tt.want, tt.reason, "")
		})
	}
	if identity.Anonymous.Subject != "anonymous" || identity.Anonymous.Name != "anonymous" {
		t.Fatalf("Anonymous = %+v", identity.Anonymous)
	}
}

func TestVerifyMessages(t *testing.T) {
	t.Parallel()
	v := mustNew(t, identity.Config{Tokens: []identity.Token{{SHA256: identity.HashToken("fwh_x"), Subject: "x"}}})
	tests := []struct {
		name  string
		creds controlplane.Credentials
		want  string
	}{
		{"none", controlplane.Credentials{}, "credentials required"},
		{"scheme", controlplane.Credentials{Authorization: "Basic x"}, "unsupported authorization scheme: use Bearer"},
		{"unknown", bearerCreds("fwh_secret_value"), "invalid or expired credentials"},
		{"two token cookies", controlplane.Credentials{Cookie: "flyte_webhook_token=fwh_x; flyte_webhook_token=fwh_x"}, "ambiguous credentials: more than one flyte_webhook_token cookie"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := v.Verify(context.Background(), tt.creds)
			if got := controlplane.MessageOf(err); got != tt.want {
				t.Fatalf("MessageOf = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVerifyConcurrent(t *testing.T) {
	t.Parallel()
	const tok = "fwh_concurrent"
	v := mustNew(t, identity.Config{
		Tokens: []identity.Token{{SHA256: identity.HashToken(tok), Subject: "c"}},
		JWT:    jwtConfig(func(c *identity.JWTConfig) { c.SecretFile = writeFile(t, "secret", []byte(testSecret)) }),
	})
	jwt := signJWT(t, hdr("HS256", ""), claims("j", nil), []byte(testSecret))
	done := make(chan error)
	for i := range 8 {
		go func() {
			var err error
			for range 50 {
				creds := bearerCreds(tok)
				if i%2 == 1 {
					creds = bearerCreds(jwt)
				}
				if _, err = v.Verify(context.Background(), creds); err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
