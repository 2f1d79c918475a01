package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity/oidctest"
)

// The CI case end to end against the real binary: a job proves who it is with its OIDC token,
// signed by an issuer the webhook discovers; neither side stores a secret.

const ciAudience = "flyte-webhook"

// startOIDCServer starts the binary trusting iss for tokens of org/repo on main in production,
// which may run only the greet task. The config holds no token and no key.
func startOIDCServer(t *testing.T, iss *oidctest.Issuer) *proc {
	t.Helper()
	port := freePort(t)
	cfg := fmt.Sprintf(`port: %d
backend:
  local:
    workspace: %s
    data_dir: %s
    auth:
      issuers:
        - issuer: %s
          audience: %s
          name_claim: repository
          retry_interval: 100ms
          conditions:
            repository: org/repo
            ref: refs/heads/main
            environment: production
          allowlists:
            - when: {repository: org/repo}
              task_allowlist: [development/examples/greet]
`, port, filepath.Join(repoRoot(t), "examples", "workspace.yaml"), t.TempDir(), iss.URL, ciAudience)
	return startConfigured(t, port, cfg)
}

// as sends a request with the bearer token tok.
func (p *proc) as(t *testing.T, tok, method, path, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, p.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, res.Header, out
}

// TestGitHubActionsTokenE2E: a token shaped like a GitHub Actions OIDC token runs a task when
// its claims match, and gets 401 when they do not.
func TestGitHubActionsTokenE2E(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	p := startOIDCServer(t, iss)
	good := iss.Sign(t, oidctest.GitHubClaims(ciAudience, "org/repo", "refs/heads/main", "production"))

	var status int
	var run map[string]any
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		// The issuer is looked up in the background: 503 until then.
		if status, _, run = p.as(t, good, "POST", "/run-task/development/examples/greet", `{"name": "CI"}`); status != 503 || time.Now().After(deadline) {
			break
		}
	}
	if status != 200 {
		t.Fatalf("run_task with a matching token: %d %v\n%s", status, run, p.stderr)
	}
	p.token = good
	if done := p.waitDone(t, run["name"].(string)); done["phase"] != "succeeded" {
		t.Fatalf("run = %v", done)
	}
	if _, _, me := p.as(t, good, "GET", "/me", ""); me["subject"] != "repo:org/repo:environment:production" || me["name"] != "org/repo" {
		t.Fatalf("me = %v", me)
	}

	for _, c := range []struct {
		name   string
		token  string
		status int
	}{
		{"another branch", iss.Sign(t, oidctest.GitHubClaims(ciAudience, "org/repo", "refs/heads/feature", "production")), 401},
		{"another repository", iss.Sign(t, oidctest.GitHubClaims(ciAudience, "org/fork", "refs/heads/main", "production")), 401},
		{"no environment", iss.Sign(t, oidctest.GitHubClaims(ciAudience, "org/repo", "refs/heads/main", "")), 401},
		{"another audience", iss.Sign(t, oidctest.GitHubClaims("sts.amazonaws.com", "org/repo", "refs/heads/main", "production")), 401},
		{"a key the issuer never published", iss.SignUnknown(t, jose.RS256, iss.Kid(), oidctest.GitHubClaims(ciAudience, "org/repo", "refs/heads/main", "production")), 401},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := p.as(t, c.token, "POST", "/run-task/development/examples/greet", `{"name": "CI"}`)
			if status != c.status {
				t.Fatalf("status %d %v, want %d", status, body, c.status)
			}
		})
	}
	// The token's claims allow the greet task only.
	if status, _, body := p.as(t, good, "POST", "/run-task/development/examples/sum", `{"a": 1, "b": 2}`); status != 403 {
		t.Fatalf("a task outside the token's allowlist: %d %v", status, body)
	}
}

// TestIssuerDownAtStartE2E: the server starts while the issuer is unreachable, says so in the
// log, answers 503 with Retry-After meanwhile, and accepts the issuer's tokens once it is up.
func TestIssuerDownAtStartE2E(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	iss.SetDown(true)
	p := startOIDCServer(t, iss) // answers /health: start-up was not blocked
	good := iss.Sign(t, oidctest.GitHubClaims(ciAudience, "org/repo", "refs/heads/main", "production"))
	status, header, body := p.as(t, good, "GET", "/task/development/examples/greet", "")
	if status != 503 {
		t.Fatalf("status %d %v, want 503", status, body)
	}
	if ra, err := strconv.Atoi(header.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("Retry-After = %q", header.Get("Retry-After"))
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.stderr.String(), "oidc issuer not reachable"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line about the unreachable issuer:\n%s", p.stderr)
		}
	}
	iss.SetDown(false)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		status, _, body = p.as(t, good, "GET", "/task/development/examples/greet", "")
		if status == 200 {
			break
		}
		if status != 503 || time.Now().After(deadline) {
			t.Fatalf("after the issuer came up: %d %v\n%s", status, body, p.stderr)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(p.stderr.String(), "oidc issuer ready"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) { // info lines are written in batches
			t.Fatalf("no ready line in the log:\n%s", p.stderr)
		}
	}
}
