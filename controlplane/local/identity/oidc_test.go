package identity_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity/oidctest"
)

const ghAudience = "https://github.com/octo-org"

// logBuffer collects a verifier's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// discovered returns the config of a discovered issuer for iss, with short intervals.
func discovered(iss *oidctest.Issuer, mod func(*identity.JWTConfig)) identity.JWTConfig {
	c := identity.JWTConfig{Issuer: iss.URL, Audience: ghAudience, Timeout: 500 * time.Millisecond, RetryInterval: 50 * time.Millisecond, RefreshInterval: time.Hour}
	if mod != nil {
		mod(&c)
	}
	return c
}

// started builds a verifier for issuers and starts it for the test's lifetime.
func started(t *testing.T, issuers ...identity.JWTConfig) (*identity.Verifier, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	v := mustNew(t, identity.Config{Issuers: issuers, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v.Start(ctx)
	return v, logs
}

// eventuallyVerified retries Verify until it accepts tok, failing after a few seconds.
func eventuallyVerified(t *testing.T, v *identity.Verifier, tok string) controlplane.Identity {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		id, err := v.Verify(context.Background(), bearerCreds(tok))
		if err == nil {
			return id
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkUnavailable checks a refusal for keys that cannot be had: 503's code, a RetryAfter, and
// no 401.
func checkUnavailable(t *testing.T, err error) {
	t.Helper()
	if controlplane.CodeOf(err) != controlplane.CodeUnavailable {
		t.Fatalf("err = %v (code %s), want unavailable", err, controlplane.CodeOf(err))
	}
	if ra := controlplane.RetryAfterOf(err); ra < time.Second {
		t.Fatalf("RetryAfter = %s, want at least 1s", ra)
	}
}

func TestDiscoveredIssuer(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	v, logs := started(t, discovered(iss, func(c *identity.JWTConfig) { c.NameClaim = "repository" }))
	tok := iss.Sign(t, oidctest.GitHubClaims(ghAudience, "org/repo", "refs/heads/main", ""))
	id := eventuallyVerified(t, v, tok)
	if id.Subject != "repo:org/repo:ref:refs/heads/main" || id.Name != "org/repo" || id.Allowlists != nil {
		t.Fatalf("identity = %+v", id)
	}
	if !strings.Contains(logs.String(), "oidc issuer ready") {
		t.Fatalf("no ready line in the log:\n%s", logs)
	}
	if n := iss.Hits(oidctest.DiscoveryPath); n != 1 {
		t.Fatalf("discovery requested %d times, want 1", n)
	}
	// Checks of the signature and claims hold for discovered keys as for configured ones.
	tests := []struct {
		name   string
		token  string
		reason error
	}{
		{"wrong audience", iss.Sign(t, oidctest.GitHubClaims("sts.amazonaws.com", "org/repo", "refs/heads/main", "")), identity.ErrAudience},
		{"expired", iss.Sign(t, withClaims(oidctest.GitHubClaims(ghAudience, "org/repo", "refs/heads/main", ""), map[string]any{"exp": time.Now().Unix() - 3600})), identity.ErrExpired},
		{"unknown kid", iss.SignUnknown(t, jose.ES256, "made-up", oidctest.GitHubClaims(ghAudience, "org/repo", "refs/heads/main", "")), identity.ErrNoKey},
		{"known kid, other key", iss.SignUnknown(t, jose.RS256, iss.Kid(), oidctest.GitHubClaims(ghAudience, "org/repo", "refs/heads/main", "")), identity.ErrSignature},
		{"tampered", tamper(t, tok, withClaims(oidctest.GitHubClaims(ghAudience, "org/other", "refs/heads/main", ""), map[string]any{"iss": iss.URL})), identity.ErrSignature},
		{"HS256 signed with the public key set", signJWT(t, hdr("HS256", iss.Kid()), withClaims(oidctest.GitHubClaims(ghAudience, "org/repo", "refs/heads/main", ""), map[string]any{"iss": iss.URL}), []byte(testSecret)), identity.ErrAlgorithm},
		{"alg none", signJWT(t, hdr("none", iss.Kid()), withClaims(oidctest.GitHubClaims(ghAudience, "org/repo", "refs/heads/main", ""), map[string]any{"iss": iss.URL}), []byte("x")), identity.ErrAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(context.Background(), bearerCreds(tt.token))
			checkResult(t, got, err, controlplane.Identity{}, tt.reason, tt.token)
		})
	}
}

func withClaims(c map[string]any, overrides map[string]any) map[string]any {
	for k, val := range overrides {
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
	}
	return c
}

// TestDiscoveredKeyRotation: the issuer replaces its key mid-test; a token with the new kid
// fetches the key set again, and a token with the retired kid is refused after that.
func TestDiscoveredKeyRotation(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	const floor = 100 * time.Millisecond
	v, _ := started(t, discovered(iss, func(c *identity.JWTConfig) { c.RefreshInterval = floor }))
	claims := func() map[string]any { return oidctest.GitHubClaims(ghAudience, "org/repo", "refs/heads/main", "") }
	oldKid := iss.Kid()
	old := iss.Sign(t, claims())
	eventuallyVerified(t, v, old)

	newKid := iss.Rotate(t, jose.ES256, false)
	time.Sleep(floor + 20*time.Millisecond)
	fresh := iss.Sign(t, claims())
	if _, err := v.Verify(context.Background(), bearerCreds(fresh)); err != nil {
		t.Fatalf("token with the new kid %s: %v", newKid, err)
	}
	// go-oidc stores the new key set just after handing it to the verification that asked
	// for it, so the retired key goes a moment later.
	retired := iss.SignWith(t, oldKid, claims())
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		got, err := v.Verify(context.Background(), bearerCreds(retired))
		if err != nil || time.Now().After(deadline) {
			checkResult(t, got, err, controlplane.Identity{}, identity.ErrNoKey, "")
			break
		}
	}

	// Rotating back to RSA, keeping the others published.
	iss.Rotate(t, jose.RS256, true)
	time.Sleep(floor + 20*time.Millisecond)
	eventuallyVerified(t, v, iss.Sign(t, claims()))
	eventuallyVerified(t, v, fresh)
}

// TestDiscoveredRefreshFloor: a flood of unknown kids costs the issuer no request within the
// refresh interval; each is refused at once with 401.
func TestDiscoveredRefreshFloor(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	v, _ := started(t, discovered(iss, nil)) // refresh interval 1h
	claims := oidctest.GitHubClaims(ghAudience, "org/repo", "refs/heads/main", "")
	eventuallyVerified(t, v, iss.Sign(t, claims))
	before := iss.Hits(oidctest.JWKSPath)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := iss.SignUnknown(t, jose.ES256, "flood-"+string(rune('a'+i%26)), claims)
			_, err := v.Verify(context.Background(), bearerCreds(tok))
			if !errors.Is(err, identity.ErrNoKey) {
				t.Errorf("made-up kid: %v, want ErrNoKey", err)
			}
		}()
	}
	wg.Wait()
	if after := iss.Hits(oidctest.JWKSPath); after != before {
		t.Fatalf("key set fetched %d more times during the flood, want 0", after-before)
	}
}

// TestDiscoveredUnreachable: start-up is not blocked; the issuer's tokens get 503 with a
// Retry-After while it cannot be reached, with a log line saying so, then work once it answers.
func TestDiscoveredUnreachable(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	iss.SetDown(true)
	const token = "fwh_works-meanwhile"
	logs := &logBuffer{}
	v := mustNew(t, identity.Config{
		Tokens:  []identity.Token{{SHA256: identity.HashToken(token), Subject: "ci"}},
		Issuers: []identity.JWTConfig{discovered(iss, nil)},
		Logger:  slog.New(slog.NewTextHandler(logs, nil)),
	})
	tok := iss.Sign(t, oidctest.GitHubClaims(ghAudience, "org/repo", "refs/heads/main", ""))

	// Before Start: not known yet.
	_, err := v.Verify(context.Background(), bearerCreds(tok))
	checkUnavailable(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	begin := time.Now()
	v.Start(ctx)
	if d := time.Since(begin); d > 2*time.Second {
		t.Fatalf("Start took %s: it must not wait for the issuer", d)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "oidc issuer not reachable"); {
		if time.Now().After(deadline) {
			t.Fatalf("no log line about the unreachable issuer:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	begin = time.Now()
	_, err = v.Verify(context.Background(), bearerCreds(tok))
	checkUnavailable(t, err)
	if d := time.Since(begin); d > 2*time.Second {
		t.Fatalf("Verify waited %s for an unreachable issuer", d)
	}
	if _, err := v.Verify(context.Background(), bearerCreds(token)); err != nil {
		t.Fatalf("API token while the issuer is down: %v", err)
	}

	iss.SetDown(false)
	eventuallyVerified(t, v, tok)
}

// TestDiscoveredSlow: a slow issuer is given Timeout per request, then counted unreachable.
func TestDiscoveredSlow(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	iss.SetDelay(5 * time.Second)
	v, logs := started(t, discovered(iss, func(c *identity.JWTConfig) {
		c.Timeout = 200 * time.Millisecond
		c.RefreshInterval = 50 * time.Millisecond
	}))
	for deadline := time.Now().Add(3 * time.Second); !strings.Contains(logs.String(), "oidc issuer not reachable"); {
		if time.Now().After(deadline) {
			t.Fatalf("discovery was not cut short by the timeout:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	claims := oidctest.GitHubClaims(ghAudience, "org/repo", "refs/heads/main", "")
	_, err := v.Verify(context.Background(), bearerCreds(iss.Sign(t, claims)))
	checkUnavailable(t, err)

	iss.SetDelay(0)
	eventuallyVerified(t, v, iss.Sign(t, claims))

	// A key set refresh for a new kid is bounded too, and answers 503 rather than 401: the
	// key may exist, the issuer just did not say in time.
	iss.SetDelay(5 * time.Second)
	iss.Rotate(t, jose.ES256, true)
	time.Sleep(60 * time.Millisecond)
	begin := time.Now()
	_, err = v.Verify(context.Background(), bearerCreds(iss.Sign(t, claims)))
	checkUnavailable(t, err)
	if d := time.Since(begin); d > 2*time.Second {
		t.Fatalf("a refresh against a slow issuer took %s", d)
	}
}

// TestDiscoveredOversizedJWKS: a key set over the bound is refused, not cut short and read.
func TestDiscoveredOversizedJWKS(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	iss.SetJWKSBody([]byte(`{"keys":[` + strings.Repeat(" ", 300<<10) + `]}`))
	v, logs := started(t, discovered(iss, nil))
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "larger than"); {
		if time.Now().After(deadline) {
			t.Fatalf("no log line about the oversized key set:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err := v.Verify(context.Background(), bearerCreds(iss.Sign(t, oidctest.GitHubClaims(ghAudience, "org/repo", "refs/heads/main", ""))))
	checkUnavailable(t, err)
}

// TestDiscoveryIssuerMismatch: a discovery document naming another issuer is refused (go-oidc
// checks it), and the issuer's tokens stay unverifiable.
func TestDiscoveryIssuerMismatch(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	iss.SetIssuer("https://evil.example")
	v, logs := started(t, discovered(iss, nil))
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "did not match"); {
		if time.Now().After(deadline) {
			t.Fatalf("no log line about the issuer mismatch:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err := v.Verify(context.Background(), bearerCreds(iss.Sign(t, oidctest.GitHubClaims(ghAudience, "org/repo", "refs/heads/main", ""))))
	checkUnavailable(t, err)
	if n := iss.Hits(oidctest.JWKSPath); n != 0 {
		t.Fatalf("the key set of a mismatched issuer was fetched %d times", n)
	}
}

// TestTokenFromAnotherIssuer: with several issuers, a token is checked with the keys of the
// issuer it names, and only those.
func TestTokenFromAnotherIssuer(t *testing.T) {
	t.Parallel()
	a, b, other := oidctest.New(t), oidctest.New(t), oidctest.New(t)
	b.Rotate(t, jose.ES256, false)
	other.Rotate(t, jose.ES256, false)
	v, _ := started(t, discovered(a, nil), discovered(b, func(c *identity.JWTConfig) { c.Audience = "b-audience" }))
	claims := func(aud string) map[string]any {
		return oidctest.GitHubClaims(aud, "org/repo", "refs/heads/main", "")
	}
	eventuallyVerified(t, v, a.Sign(t, claims(ghAudience)))
	eventuallyVerified(t, v, b.Sign(t, claims("b-audience")))
	tests := []struct {
		name   string
		token  string
		reason error
	}{
		{"signed by b, naming a", b.Sign(t, withClaims(claims(ghAudience), map[string]any{"iss": a.URL})), identity.ErrNoKey},
		{"signed by b with a's kid, naming a", b.SignUnknown(t, jose.RS256, a.Kid(), withClaims(claims(ghAudience), map[string]any{"iss": a.URL})), identity.ErrSignature},
		{"b's token with a's audience", b.Sign(t, claims(ghAudience)), identity.ErrAudience},
		{"an issuer not configured", other.Sign(t, claims(ghAudience)), identity.ErrIssuer},
		{"no issuer", a.Sign(t, withClaims(claims(ghAudience), map[string]any{"iss": ""})), identity.ErrIssuer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(context.Background(), bearerCreds(tt.token))
			checkResult(t, got, err, controlplane.Identity{}, tt.reason, tt.token)
		})
	}
	if n := other.Hits(oidctest.DiscoveryPath) + other.Hits(oidctest.JWKSPath); n != 0 {
		t.Fatalf("an issuer not configured was asked %d times", n)
	}
}
