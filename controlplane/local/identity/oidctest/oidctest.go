// Package oidctest is an OpenID Connect issuer for tests: an httptest server answering
// discovery (/.well-known/openid-configuration) and its key set (/.well-known/jwks) in the
// wire format GitHub Actions' token issuer uses, signing tokens with keys it can rotate, and
// able to be down, slow or to answer an oversized key set.
package oidctest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// The paths the issuer serves.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/.well-known/jwks"
)

// Issuer is a running test issuer. Its methods are safe for concurrent use.
type Issuer struct {
	// URL is the issuer identifier: the server's base URL, and the iss of its tokens.
	URL string

	srv *httptest.Server

	mu        sync.Mutex
	signing   key   // signs new tokens
	published []key // in the key set
	made      []key // every key it ever had, retired ones too
	issuer    string
	jwksBody  []byte // answered instead of the key set when set

	down  atomic.Bool
	delay atomic.Int64 // nanoseconds before answering
	hits  sync.Map     // path → *atomic.Int64
}

type key struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv any
}

// New starts an issuer with one RS256 key, stopped when the test ends.
func New(t testing.TB) *Issuer {
	t.Helper()
	i := &Issuer{}
	i.srv = httptest.NewServer(http.HandlerFunc(i.serve))
	t.Cleanup(i.srv.Close)
	i.URL = i.srv.URL
	i.issuer = i.URL
	k := newKey(t, jose.RS256)
	i.signing, i.published, i.made = k, []key{k}, []key{k}
	return i
}

var (
	rsaPoolMu sync.Mutex
	rsaPool   []*rsa.PrivateKey
	rsaNext   atomic.Int64
)

// newKey makes a key; RSA keys come from a small pool made once per test binary (making
// them is slow under -race), each handed out with a new kid.
func newKey(t testing.TB, alg jose.SignatureAlgorithm) key {
	t.Helper()
	n := rsaNext.Add(1)
	kid := fmt.Sprintf("key-%d", n)
	switch alg {
	case jose.RS256:
		rsaPoolMu.Lock()
		defer rsaPoolMu.Unlock()
		if len(rsaPool) < 4 { // the first four are distinct
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				t.Fatal(err)
			}
			rsaPool = append(rsaPool, k)
			return key{kid: kid, alg: alg, priv: k}
		}
		return key{kid: kid, alg: alg, priv: rsaPool[int(n)%len(rsaPool)]}
	case jose.ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return key{kid: kid, alg: alg, priv: k}
	}
	t.Fatalf("oidctest: unsupported alg %s", alg)
	return key{}
}

// Rotate makes a new signing key (RS256 or ES256) and publishes it; with keepOld the
// previous keys stay in the key set, else it holds only the new one. It returns the new kid.
func (i *Issuer) Rotate(t testing.TB, alg jose.SignatureAlgorithm, keepOld bool) string {
	t.Helper()
	k := newKey(t, alg)
	i.mu.Lock()
	defer i.mu.Unlock()
	i.signing = k
	i.made = append(i.made, k)
	if keepOld {
		i.published = append(i.published, k)
	} else {
		i.published = []key{k}
	}
	return k.kid
}

// Kid is the kid of the current signing key.
func (i *Issuer) Kid() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.signing.kid
}

// Sign signs claims with the current signing key. iss is set to the issuer's URL unless
// claims has one.
func (i *Issuer) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	i.mu.Lock()
	k := i.signing
	i.mu.Unlock()
	return i.SignWith(t, k.kid, claims)
}

// SignWith signs claims with the published or former key kid, naming kid in the header.
func (i *Issuer) SignWith(t testing.TB, kid string, claims map[string]any) string {
	t.Helper()
	i.mu.Lock()
	var k *key
	for _, c := range i.made {
		if c.kid == kid {
			k = &c
			break
		}
	}
	i.mu.Unlock()
	if k == nil {
		t.Fatalf("oidctest: no key %q", kid)
	}
	return sign(t, *k, kid, i.withIss(claims))
}

// SignUnknown signs claims with a new key of alg the issuer never published, naming kid.
func (i *Issuer) SignUnknown(t testing.TB, alg jose.SignatureAlgorithm, kid string, claims map[string]any) string {
	t.Helper()
	k := newKey(t, alg)
	if alg == jose.RS256 { // not one of the pooled keys, which the issuer may have
		pk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		k.priv = pk
	}
	return sign(t, k, kid, i.withIss(claims))
}

func (i *Issuer) withIss(claims map[string]any) map[string]any {
	c := map[string]any{}
	for k, v := range claims {
		c[k] = v
	}
	if _, ok := c["iss"]; !ok {
		c["iss"] = i.URL
	}
	return c
}

func sign(t testing.TB, k key, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// GitHubClaims returns claims shaped like a GitHub Actions OIDC token's for a job of repo
// (owner/name) on ref in environment (none when ""), for audience, valid for ten minutes.
func GitHubClaims(audience, repo, ref, environment string) map[string]any {
	now := time.Now().Unix()
	owner, _, _ := strings.Cut(repo, "/")
	sub := "repo:" + repo + ":ref:" + ref
	if environment != "" {
		sub = "repo:" + repo + ":environment:" + environment
	}
	c := map[string]any{
		"jti":                   fmt.Sprintf("jti-%d", rsaNext.Add(1)),
		"sub":                   sub,
		"aud":                   audience,
		"ref":                   ref,
		"sha":                   "0123456789abcdef0123456789abcdef01234567",
		"repository":            repo,
		"repository_owner":      owner,
		"repository_owner_id":   "1234",
		"repository_id":         "5678",
		"repository_visibility": "private",
		"run_id":                "42",
		"run_number":            "7",
		"run_attempt":           "1",
		"runner_environment":    "github-hosted",
		"actor":                 "octocat",
		"actor_id":              "1",
		"workflow":              "deploy",
		"workflow_ref":          repo + "/.github/workflows/deploy.yml@" + ref,
		"event_name":            "push",
		"ref_type":              "branch",
		"ref_protected":         "true",
		"job_workflow_ref":      repo + "/.github/workflows/deploy.yml@" + ref,
		"iat":                   now,
		"nbf":                   now - 5,
		"exp":                   now + 600,
	}
	if environment != "" {
		c["environment"] = environment
	}
	return c
}

// SetDown makes the issuer drop every connection without an answer (as an unreachable one
// would look), or answer again.
func (i *Issuer) SetDown(down bool) { i.down.Store(down) }

// SetDelay makes the issuer wait d before answering.
func (i *Issuer) SetDelay(d time.Duration) { i.delay.Store(int64(d)) }

// SetJWKSBody makes the key set answer body instead (nil: the real key set again).
func (i *Issuer) SetJWKSBody(body []byte) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.jwksBody = body
}

// SetIssuer makes discovery name another issuer than URL (a misconfigured issuer).
func (i *Issuer) SetIssuer(iss string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.issuer = iss
}

// Hits is how many requests path got.
func (i *Issuer) Hits(path string) int64 {
	if c, ok := i.hits.Load(path); ok {
		return c.(*atomic.Int64).Load()
	}
	return 0
}

func (i *Issuer) serve(w http.ResponseWriter, r *http.Request) {
	c, _ := i.hits.LoadOrStore(r.URL.Path, new(atomic.Int64))
	c.(*atomic.Int64).Add(1)
	if i.down.Load() {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if d := time.Duration(i.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	switch r.URL.Path {
	case DiscoveryPath:
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                i.issuer,
			"jwks_uri":                              i.URL + JWKSPath,
			"subject_types_supported":               []string{"public", "pairwise"},
			"response_types_supported":              []string{"id_token"},
			"claims_supported":                      []string{"sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "repository", "repository_owner", "environment", "run_id", "actor", "workflow", "event_name"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"scopes_supported":                      []string{"openid"},
		})
	case JWKSPath:
		if i.jwksBody != nil {
			_, _ = w.Write(i.jwksBody)
			return
		}
		set := jose.JSONWebKeySet{}
		for _, k := range i.published {
			var pub any
			switch p := k.priv.(type) {
			case *rsa.PrivateKey:
				pub = &p.PublicKey
			case *ecdsa.PrivateKey:
				pub = &p.PublicKey
			}
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
		}
		_ = json.NewEncoder(w).Encode(set)
	default:
		http.NotFound(w, r)
	}
}
