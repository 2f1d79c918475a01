package impl_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

const (
	alice = "fwh_alice-token"
	bob   = "fwh_bob-token"
)

// verifyingBackend is the fake with a real credential check: its Me answers what the local
// backend's identity package says about the request's credentials (or me, when set).
type verifyingBackend struct {
	*fakeBackend
	v  *identity.Verifier
	me func(context.Context) (controlplane.Identity, error)
}

func (b *verifyingBackend) Me(ctx context.Context) (controlplane.Identity, error) {
	if err := b.record(ctx, "Me"); err != nil {
		return controlplane.Identity{}, err
	}
	if b.me != nil {
		return b.me(ctx)
	}
	return b.v.Verify(ctx, controlplane.CredentialsFrom(ctx))
}

func newVerifyingBackend(t *testing.T, anonymous bool) *verifyingBackend {
	t.Helper()
	v, err := identity.New(identity.Config{AllowAnonymous: anonymous, Tokens: []identity.Token{
		{SHA256: identity.HashToken(alice), Subject: "alice"},
		{SHA256: identity.HashToken(bob), Subject: "bob"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return &verifyingBackend{fakeBackend: newFake(), v: v}
}

// newServerWith is newServer over the given backend (whose fake records the calls).
func newServerWith(t *testing.T, cfg impl.Config, b controlplane.Backend, fake *fakeBackend) *testServer {
	t.Helper()
	h, err := impl.NewHandler(cfg, b)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	enabled, err := contract.Catalog.Select(cfg.EndpointGroups, cfg.Endpoints)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testServer{Server: srv, fake: fake, enabled: enabled}
}

const (
	allowedTask    = "/task/development/proj/allowed"
	notAllowedTask = "/task/development/proj/not-allowed"
)

var restricted = impl.Config{TaskAllowlist: &[]string{"proj/allowed"}}

// TestCredentialsBeforeAllowlist is issue 8's case: without valid credentials, an allowed
// target and a refused one answer alike (401), so nobody can map the allowlist; with valid
// ones the allowlist answers. Ambiguous credentials (two Authorization lines, two token
// cookies, an empty Authorization beside a cookie) are 401, never "first one wins".
func TestCredentialsBeforeAllowlist(t *testing.T) {
	t.Parallel()
	b := newVerifyingBackend(t, false)
	s := newServerWith(t, restricted, b, b.fakeBackend)
	bearer := func(tok string) string { return "Bearer " + tok }
	cookie := func(tok string) string { return identity.CookieName + "=" + tok }
	cases := []struct {
		name                string
		header              http.Header
		notAllowed, allowed int
	}{
		{"other cookies only", http.Header{"Cookie": {"foo=bar"}}, 401, 401},
		{"unknown bearer", http.Header{"Authorization": {bearer("fwh_nobody")}}, 401, 401},
		{"unknown token cookie", http.Header{"Cookie": {cookie("fwh_nobody")}}, 401, 401},
		{"basic scheme", http.Header{"Authorization": {"Basic YTpi"}}, 401, 401},
		{"valid bearer", http.Header{"Authorization": {bearer(alice)}}, 403, 200},
		{"valid token cookie", http.Header{"Cookie": {"theme=dark; " + cookie(alice)}}, 403, 200},
		{"valid token cookie, Cookie on two lines", http.Header{"Cookie": {"theme=dark", cookie(alice)}}, 403, 200},
		{"two Authorization lines", http.Header{"Authorization": {bearer(alice), bearer(alice)}}, 401, 401},
		{"two Authorization lines, second unknown", http.Header{"Authorization": {bearer(alice), bearer("fwh_nobody")}}, 401, 401},
		{"empty Authorization beside a valid cookie", http.Header{"Authorization": {""}, "Cookie": {cookie(alice)}}, 401, 401},
		{"two token cookies", http.Header{"Cookie": {cookie(alice) + "; " + cookie(alice)}}, 401, 401},
		{"token cookies on two Cookie lines", http.Header{"Cookie": {cookie(alice), cookie(bob)}}, 401, 401},
		{"Authorization wins over the cookie", http.Header{"Authorization": {bearer(alice)}, "Cookie": {cookie("fwh_nobody")}}, 403, 200},
		{"an unknown bearer does not fall back to the cookie", http.Header{"Authorization": {bearer("fwh_nobody")}, "Cookie": {cookie(alice)}}, 401, 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expectStatus(t, s.send(t, "GET", notAllowedTask, "", c.header), c.notAllowed)
			expectStatus(t, s.send(t, "GET", allowedTask, "", c.header), c.allowed)
		})
	}
}

// rawLines sends a request with header lines exactly as given and returns the status.
func rawLines(t *testing.T, base, target string, lines ...string) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n", target)
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := conn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestAuthHeaderTricks: spellings of Authorization and Cookie lines that a client library
// would never produce. None gets a refused target told apart from an allowed one.
func TestAuthHeaderTricks(t *testing.T) {
	t.Parallel()
	b := newVerifyingBackend(t, false)
	s := newServerWith(t, restricted, b, b.fakeBackend)
	cases := []struct {
		name                string
		lines               []string
		notAllowed, allowed int
	}{
		{"control", []string{"Authorization: Bearer " + alice}, 403, 200},
		{"two spellings of Authorization", []string{"authorization: Bearer " + alice, "AUTHORIZATION: Bearer " + alice}, 401, 401},
		{"Authorization twice, one empty", []string{"Authorization:", "Authorization: Bearer " + alice}, 401, 401},
		{"Authorization empty", []string{"Authorization: ", "Cookie: " + identity.CookieName + "=" + alice}, 401, 401},
		{"lower-case cookie name", []string{"cookie: " + identity.CookieName + "=" + alice}, 403, 200},
		{"token cookie in two lines", []string{"Cookie: " + identity.CookieName + "=" + alice, "cookie: " + identity.CookieName + "=" + bob}, 401, 401},
		{"token cookie with another name's case", []string{"Cookie: FLYTE_WEBHOOK_TOKEN=" + alice}, 401, 401},
		// net/http unfolds an obsolete folded line into one value (RFC 9112 lets a server
		// do so): one header, one meaning.
		{"folded Authorization line", []string{"Authorization: Bearer", " " + alice}, 403, 200},
		{"space before the colon", []string{"Authorization : Bearer " + alice}, 400, 400},
		{"Cookie: foo=bar, no token", []string{"Cookie: foo=bar"}, 401, 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := rawLines(t, s.URL, notAllowedTask, c.lines...); got != c.notAllowed {
				t.Errorf("refused target: %d, want %d", got, c.notAllowed)
			}
			if got := rawLines(t, s.URL, allowedTask, c.lines...); got != c.allowed {
				t.Errorf("allowed target: %d, want %d", got, c.allowed)
			}
		})
	}
}

// TestAuthBackendAnswers: what the auth layer does with each answer of the backend's Me.
func TestAuthBackendAnswers(t *testing.T) {
	t.Parallel()
	unimplemented := func(context.Context) (controlplane.Identity, error) {
		return controlplane.Identity{}, controlplane.Errorf(controlplane.CodeUnimplemented, "identity: not supported")
	}
	unavailable := func(context.Context) (controlplane.Identity, error) {
		return controlplane.Identity{}, controlplane.Errorf(controlplane.CodeUnavailable, "control plane unavailable")
	}
	cases := []struct {
		name                string
		me                  func(context.Context) (controlplane.Identity, error)
		header              http.Header
		notAllowed, allowed int
	}{
		// A backend that cannot verify ahead of a call leaves the allowlist to answer, and
		// checks credentials on the call itself (the fake does not).
		{"cannot verify", unimplemented, http.Header{"Cookie": {"foo=bar"}}, 403, 200},
		{"cannot verify, two Authorization lines", unimplemented, http.Header{"Authorization": {token, token}}, 401, 401},
		{"cannot verify, no credentials", unimplemented, http.Header{}, 401, 401},
		{"unavailable", unavailable, http.Header{"Authorization": {token}}, 503, 503},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := newVerifyingBackend(t, false)
			b.me = c.me
			s := newServerWith(t, restricted, b, b.fakeBackend)
			expectStatus(t, s.send(t, "GET", notAllowedTask, "", c.header), c.notAllowed)
			expectStatus(t, s.send(t, "GET", allowedTask, "", c.header), c.allowed)
		})
	}
}

// TestAuthOptionalAsksBackend: with requires_auth false and no credentials the backend decides: an
// anonymous caller is welcome where it says so, refused (before the allowlist) where not.
func TestAuthOptionalAsksBackend(t *testing.T) {
	t.Parallel()
	cfg := restricted
	cfg.AuthOptional = true
	for _, anonymous := range []bool{true, false} {
		t.Run(fmt.Sprint("anonymous=", anonymous), func(t *testing.T) {
			t.Parallel()
			b := newVerifyingBackend(t, anonymous)
			s := newServerWith(t, cfg, b, b.fakeBackend)
			want := map[bool][2]int{true: {403, 200}, false: {401, 401}}[anonymous]
			expectStatus(t, s.send(t, "GET", notAllowedTask, "", nil), want[0])
			expectStatus(t, s.send(t, "GET", allowedTask, "", nil), want[1])
			// Present but wrong credentials are refused either way.
			bad := http.Header{"Authorization": {"Bearer fwh_nobody"}}
			expectStatus(t, s.send(t, "GET", notAllowedTask, "", bad), 401)
		})
	}
}

// TestIdentityCache: a verification is reused for the same credentials, a refusal never is,
// and once the backend refuses credentials on a call, their earlier verification is
// dropped at once (a revoked token no longer gets the allowlist's answer).
func TestIdentityCache(t *testing.T) {
	t.Parallel()
	b := newVerifyingBackend(t, false)
	s := newServerWith(t, restricted, b, b.fakeBackend)
	alicePlease := http.Header{"Authorization": {"Bearer " + alice}}
	for range 3 {
		expectStatus(t, s.send(t, "GET", allowedTask, "", alicePlease), 200)
	}
	if n := s.fake.count("Me"); n != 1 {
		t.Fatalf("Me asked %d times for 3 requests with the same credentials, want 1", n)
	}
	bobPlease := http.Header{"Cookie": {identity.CookieName + "=" + bob}}
	expectStatus(t, s.send(t, "GET", notAllowedTask, "", bobPlease), 403)
	if n := s.fake.count("Me"); n != 2 {
		t.Fatalf("other credentials: Me asked %d times in all, want 2", n)
	}
	nobody := http.Header{"Authorization": {"Bearer fwh_nobody"}}
	for range 2 {
		expectStatus(t, s.send(t, "GET", notAllowedTask, "", nobody), 401)
	}
	if n := s.fake.count("Me"); n != 4 {
		t.Fatalf("refused credentials: Me asked %d times in all, want 4 (refusals are not cached)", n)
	}

	// Alice's token is revoked: the backend refuses it on the next call.
	s.fake.mu.Lock()
	s.fake.failWith = controlplane.Errorf(controlplane.CodeUnauthenticated, "token revoked")
	s.fake.mu.Unlock()
	expectStatus(t, s.send(t, "GET", allowedTask, "", alicePlease), 401) // answered by the cached check, refused by GetTask
	expectStatus(t, s.send(t, "GET", notAllowedTask, "", alicePlease), 401)
}

// TestIdentityInContext: the verified caller names the access log line even when the
// backend reports nobody, and no line carries a credential.
func TestIdentityInContext(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var logs bytes.Buffer
	cfg := restricted
	cfg.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b := newVerifyingBackend(t, false)
	s := newServerWith(t, cfg, b, b.fakeBackend)
	expectStatus(t, s.send(t, "GET", allowedTask, "", http.Header{"Authorization": {"Bearer " + alice}}), 200)
	expectStatus(t, s.send(t, "GET", allowedTask, "", http.Header{"Authorization": {"Bearer " + alice, "Bearer " + bob}}), 401)
	expectStatus(t, s.send(t, "GET", allowedTask, "", http.Header{"Cookie": {identity.CookieName + "=" + bob + "; " + identity.CookieName + "=" + bob}}), 401)

	mu.Lock()
	defer mu.Unlock()
	out := logs.String()
	for _, secret := range []string{alice, bob} {
		if strings.Contains(out, secret) {
			t.Fatalf("a credential reached the log: %s", out)
		}
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &first); err != nil {
		t.Fatalf("no access line: %q", out)
	}
	if first["caller"] != "alice" || first["status"] != 200.0 {
		t.Fatalf("access line %v, want caller alice", first)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
