package flyte

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
)

// TestExpiredTokenIsNotUsed: once its expiry has passed, a token is not sent even when its
// replacement cannot be had: the call fails with CodeUnavailable instead.
func TestExpiredTokenIsNotUsed(t *testing.T) {
	s := flytetest.Start(t, flytetest.Options{OAuth2: &flytetest.OAuth2{ClientID: "hook", ClientSecret: "s", Subject: "svc", TokenTTL: time.Hour}})
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := Open(t.Context(), Config{Endpoint: s.URL, Project: "p", Domain: "d",
		ServiceIdentity: &ServiceIdentity{ClientID: "hook", ClientSecretFile: secret}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	if _, err := b.Me(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Half an hour later the token is still fresh: no new one is asked for.
	b.token.now = func() time.Time { return time.Now().Add(30 * time.Minute) }
	if _, err := b.Me(t.Context()); err != nil || s.TokenRequests() != 1 {
		t.Fatalf("a fresh token: %v, %d token requests", err, s.TokenRequests())
	}
	s.FailTokens(true)
	b.token.now = func() time.Time { return time.Now().Add(59*time.Minute + 50*time.Second) }
	if _, err := b.Me(t.Context()); err != nil {
		t.Fatalf("due but not expired, refresh failing: %v", err)
	}
	b.token.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	before := len(s.CallsTo("/flyteidl2.auth.IdentityService/UserInfo"))
	if _, err := b.Me(t.Context()); controlplane.CodeOf(err) != controlplane.CodeUnavailable {
		t.Fatalf("expired, refresh failing: %v, want unavailable", err)
	}
	if n := len(s.CallsTo("/flyteidl2.auth.IdentityService/UserInfo")); n != before {
		t.Error("the control plane was called without a valid token")
	}
}
