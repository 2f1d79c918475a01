package flyte_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
)

const clientSecret = "s3cret-value"

func serviceFake(t *testing.T, o flytetest.OAuth2) *flytetest.Server {
	t.Helper()
	if o.ClientID == "" {
		o.ClientID, o.ClientSecret, o.Subject = "hook", clientSecret, "svc-hook"
	}
	return startFake(t, flytetest.Options{OAuth2: &o})
}

func secretFile(t *testing.T, secret string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// syncBuffer is a log sink safe for the backend's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func withService(t *testing.T, si flyte.ServiceIdentity, logs *syncBuffer) func(*flyte.Config) {
	return func(c *flyte.Config) {
		if si.ClientID == "" {
			si.ClientID = "hook"
		}
		if si.ClientSecretFile == "" && si.ClientSecretEnv == "" {
			si.ClientSecretFile = secretFile(t, clientSecret)
		}
		c.ServiceIdentity = &si
		if logs != nil {
			c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
}

// bearerTokens lists the Authorization headers of the UserInfo calls.
func bearerTokens(calls []flytetest.Call) []string {
	var out []string
	for _, c := range calls {
		if c.Procedure == pUserInfo {
			out = append(out, c.Header.Get("Authorization"))
		}
	}
	return out
}

// TestServiceIdentity: a caller without credentials is sent with the service identity's
// token, found through the endpoint the control plane publishes and reused while fresh; a
// caller with credentials is sent with theirs.
func TestServiceIdentity(t *testing.T) {
	t.Parallel()
	s := serviceFake(t, flytetest.OAuth2{})
	b := open(t, s, withService(t, flyte.ServiceIdentity{Scopes: []string{"all"}}, nil))
	for range 3 {
		id, err := b.Me(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if id.Subject != "svc-hook" {
			t.Fatalf("Me without credentials = %+v, want the service identity", id)
		}
	}
	if n := s.TokenRequests(); n != 1 {
		t.Errorf("%d token requests for three calls, want one", n)
	}
	tok := s.CallsTo("/oauth2/token")[0]
	if !strings.Contains(string(tok.Body), "scope=all") || !strings.Contains(string(tok.Body), "grant_type=client_credentials") {
		t.Errorf("token request %s", tok.Body)
	}
	for _, h := range bearerTokens(s.CallsTo(pUserInfo)) {
		if !strings.HasPrefix(h, "Bearer svc-") {
			t.Errorf("Authorization %q, want the service token", h)
		}
	}
	s.ResetCalls()
	if id, err := b.Me(callerCtx(t)); err != nil || id.Subject != "ci" {
		t.Fatalf("Me as the caller = %+v %v", id, err)
	}
	if got := bearerTokens(s.Calls()); len(got) != 1 || got[0] != "Bearer "+callerToken || s.TokenRequests() != 0 {
		t.Errorf("a caller with credentials was sent with %v (%d token requests)", got, s.TokenRequests())
	}
}

// TestServiceTokenRefresh: a token due (refresh_before its expiry) is replaced before use.
func TestServiceTokenRefresh(t *testing.T) {
	t.Parallel()
	s := serviceFake(t, flytetest.OAuth2{TokenTTL: 10 * time.Second})
	b := open(t, s, withService(t, flyte.ServiceIdentity{RefreshBefore: time.Hour}, nil))
	for range 3 {
		if _, err := b.Me(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	got := bearerTokens(s.Calls())
	if s.TokenRequests() != 3 || len(got) != 3 || got[0] == got[1] || got[1] == got[2] {
		t.Errorf("%d token requests, tokens used %v: want a new token for each call", s.TokenRequests(), got)
	}
}

// TestServiceTokenRefreshFails: a failed refresh keeps the token while it is valid; with no
// valid token it is CodeUnavailable (503), and the next call tries again.
func TestServiceTokenRefreshFails(t *testing.T) {
	t.Parallel()
	s := serviceFake(t, flytetest.OAuth2{TokenTTL: time.Hour})
	logs := &syncBuffer{}
	b := open(t, s, withService(t, flyte.ServiceIdentity{RefreshBefore: 2 * time.Hour}, logs))
	if _, err := b.Me(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.FailTokens(true)
	if _, err := b.Me(t.Context()); err != nil {
		t.Fatalf("a due but valid token must still serve when its refresh fails: %v", err)
	}
	// (A refused token request is tried again with the client in the body: oauth2's
	// detection of how the endpoint wants it.)
	if got := bearerTokens(s.Calls()); len(got) != 2 || got[0] != got[1] || s.TokenRequests() < 2 {
		t.Errorf("tokens used %v after %d token requests", got, s.TokenRequests())
	}

	down := serviceFake(t, flytetest.OAuth2{})
	down.FailTokens(true)
	b = open(t, down, withService(t, flyte.ServiceIdentity{}, logs))
	_, err := b.Me(t.Context())
	if controlplane.CodeOf(err) != controlplane.CodeUnavailable || strings.Contains(controlplane.MessageOf(err), "temporarily") {
		t.Fatalf("no token: %v (%s), want unavailable with our own message", err, controlplane.CodeOf(err))
	}
	down.FailTokens(false)
	if _, err := b.Me(t.Context()); err != nil {
		t.Fatalf("after the token endpoint recovered: %v", err)
	}
	if l := logs.String(); strings.Contains(l, clientSecret) || strings.Contains(l, "svc-") {
		t.Errorf("the logs carry a secret or a token:\n%s", l)
	}
	if !strings.Contains(logs.String(), "cannot get a token") {
		t.Errorf("the failed refresh was not logged:\n%s", logs.String())
	}
}

// TestServiceTokenRevoked: a token the control plane refuses is replaced, and the call made
// again once.
func TestServiceTokenRevoked(t *testing.T) {
	t.Parallel()
	s := serviceFake(t, flytetest.OAuth2{})
	b := open(t, s, withService(t, flyte.ServiceIdentity{}, nil))
	if _, err := b.Me(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.RevokeTokens()
	if _, err := b.Me(t.Context()); err != nil {
		t.Fatalf("after a revocation: %v", err)
	}
	if n := s.TokenRequests(); n != 2 {
		t.Errorf("%d token requests, want a second after the revocation", n)
	}
}

// TestTokenEndpointConfigured: without published OAuth2 metadata the token endpoint must be
// configured: Open says which key, and with it set the identity works.
func TestTokenEndpointConfigured(t *testing.T) {
	t.Parallel()
	s := serviceFake(t, flytetest.OAuth2{Unpublished: true})
	cfg := flyte.Config{Endpoint: s.URL, Project: project, Domain: domain}
	withService(t, flyte.ServiceIdentity{}, nil)(&cfg)
	if _, err := flyte.Open(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "flyte.service_identity.token_url: required") {
		t.Fatalf("Open without a published token endpoint: %v", err)
	}
	b := open(t, s, withService(t, flyte.ServiceIdentity{TokenURL: s.URL + "/oauth2/token"}, nil))
	if id, err := b.Me(t.Context()); err != nil || id.Subject != "svc-hook" {
		t.Fatalf("Me = %+v %v", id, err)
	}
	if n := len(s.CallsTo("/flyteidl2.auth.AuthMetadataService/GetOAuth2Metadata")); n != 1 {
		t.Errorf("%d metadata requests: the configured endpoint needs none", n-1)
	}
}

// TestWrongClientSecret: the token endpoint's refusal is a 503 of ours, never a crash.
func TestWrongClientSecret(t *testing.T) {
	t.Parallel()
	s := serviceFake(t, flytetest.OAuth2{})
	b := open(t, s, withService(t, flyte.ServiceIdentity{ClientSecretFile: secretFile(t, "wrong")}, nil))
	if _, err := b.Me(t.Context()); controlplane.CodeOf(err) != controlplane.CodeUnavailable {
		t.Fatalf("wrong secret: %v", err)
	}
}

// TestClientSecretFromEnv reads the secret from the environment variable named.
func TestClientSecretFromEnv(t *testing.T) {
	t.Setenv("FLYTE_WEBHOOK_TEST_SECRET", clientSecret)
	s := serviceFake(t, flytetest.OAuth2{})
	b := open(t, s, withService(t, flyte.ServiceIdentity{ClientSecretEnv: "FLYTE_WEBHOOK_TEST_SECRET"}, nil))
	if id, err := b.Me(t.Context()); err != nil || id.Subject != "svc-hook" {
		t.Fatalf("Me = %+v %v", id, err)
	}
	t.Setenv("FLYTE_WEBHOOK_TEST_SECRET", "")
	b = open(t, s, withService(t, flyte.ServiceIdentity{ClientSecretEnv: "FLYTE_WEBHOOK_TEST_SECRET"}, nil))
	if _, err := b.Me(t.Context()); controlplane.CodeOf(err) != controlplane.CodeUnavailable {
		t.Fatalf("empty secret variable: %v", err)
	}
}
