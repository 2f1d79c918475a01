package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

const (
	// maxDiscoveryBytes bounds an issuer's discovery document (GitHub's is about 1 KiB).
	maxDiscoveryBytes = 64 << 10
	// maxRemoteJWKSBytes bounds an issuer's key set (GitHub's is a few KiB).
	maxRemoteJWKSBytes = 256 << 10
)

// remoteAlgs are the algorithms a discovered issuer's tokens may use: public keys only, so a
// token "signed" with a public key as an HMAC secret has nothing to be checked against.
var remoteAlgs = map[jose.SignatureAlgorithm]bool{algRS256: true, algES256: true}

// remote is a discovered issuer: go-oidc finds its key set (NewProvider: the discovery
// document, whose issuer must equal ours exactly) and keeps it (RemoteKeySet: keys cached,
// fetched again when a token names a kid it does not have, concurrent fetches shared).
//
// go-oidc fetches with the http.Client it is given and trusts what it reads, so the client
// it gets is ours (remote.RoundTrip) and adds what a public-facing service needs: every
// request bounded in time (Timeout) and size, no redirects, a floor of RefreshInterval
// between two fetches of the key set (a fetch asked for sooner is answered with the last key
// set, without a request: a flood of made-up kids costs the issuer one request per interval),
// and our key policy (parseJWKS: RSA of 2048 bits or more, EC P-256, public keys only) applied
// before go-oidc sees the keys.
//
// Until the key set has been read once, the issuer's tokens get CodeUnavailable with
// RetryAfter (503 and Retry-After), never 401: a CI job reads 401 as a bad token and does not
// retry. Start tries discovery in the background, again and again, until it works.
type remote struct {
	cfg    JWTConfig
	log    *slog.Logger
	now    func() time.Time
	direct *http.Client // discovery and key set requests, bounded, no redirects

	fetchMu sync.Mutex // one key set request at a time

	mu          sync.Mutex
	started     bool
	jwksURL     string
	keySet      *oidc.RemoteKeySet // nil until discovery and the first key set read worked
	nextAttempt time.Time          // of discovery, while keySet is nil
	attempted   time.Time          // the last key set request
	body        []byte             // the last key set read, as go-oidc gets it
	algs        map[string]jose.SignatureAlgorithm
}

func newRemote(cfg JWTConfig, log *slog.Logger, now func() time.Time) *remote {
	return &remote{
		cfg: cfg, log: log.With("issuer", cfg.Issuer), now: now,
		direct: &http.Client{
			Timeout:   cfg.Timeout,
			Transport: http.DefaultTransport,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // a 3xx is answered as it is, and refused
			},
		},
	}
}

// unavailableError is the refusal of a token whose issuer's keys cannot be had now.
type unavailableError struct {
	retryAfter time.Duration
	cause      error
}

func (e *unavailableError) Error() string {
	if e.cause == nil {
		return "identity: the issuer's keys are not known yet"
	}
	return "identity: the issuer's keys cannot be fetched: " + e.cause.Error()
}

func (e *unavailableError) Unwrap() error { return e.cause }

// start runs discovery until it works or ctx ends, in the background; once is enough.
func (r *remote) start(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return
	}
	r.started = true
	r.nextAttempt = r.now()
	go r.run(ctx)
}

func (r *remote) run(ctx context.Context) {
	delay := r.cfg.RetryInterval
	for {
		err := r.discover(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		r.mu.Lock()
		r.nextAttempt = r.now().Add(delay)
		r.mu.Unlock()
		r.log.Warn("oidc issuer not reachable: its tokens get 503 until it is", "error", logText(err), "retry_in", delay.String())
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, maxRetryInterval)
	}
}

// discover reads the discovery document and the key set once.
func (r *remote) discover(ctx context.Context) error {
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, r.bounded(maxDiscoveryBytes)), r.cfg.Issuer)
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	var meta struct {
		JWKSURL string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	if err := checkKeySetURL(r.cfg.Issuer, meta.JWKSURL); err != nil {
		return fmt.Errorf("discovery: jwks_uri: %w", err)
	}
	r.mu.Lock()
	r.jwksURL = meta.JWKSURL
	r.mu.Unlock()
	if _, err := r.keys(ctx, true); err != nil {
		return err
	}
	// go-oidc's key set asks us (RoundTrip) for keys; its first request gets the set just
	// read, without a second request to the issuer.
	ks := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), &http.Client{Transport: r}), meta.JWKSURL)
	r.mu.Lock()
	r.keySet = ks
	n := len(r.algs)
	r.mu.Unlock()
	r.log.Info("oidc issuer ready", "jwks_uri", meta.JWKSURL, "keys", n)
	return nil
}

// checkKeySetURL refuses a jwks_uri that is not https (http only when the issuer itself is
// http on a loopback address, for tests).
func checkKeySetURL(issuer, jwks string) error {
	u, err := url.Parse(jwks)
	if err != nil || u.Host == "" || u.User != nil {
		return fmt.Errorf("%q is not an absolute URL", jwks)
	}
	if u.Scheme == "https" {
		return nil
	}
	iu, _ := url.Parse(issuer)
	if u.Scheme == "http" && iu != nil && iu.Scheme == "http" && isLoopback(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("%q: want an https URL", jwks)
}

// RoundTrip is what go-oidc's key set fetches with: the keys as a JSON Web Key Set, fetched
// again only when the last request is RefreshInterval old.
func (r *remote) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	body, err := r.keys(req.Context(), false)
	if err != nil {
		return nil, err
	}
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}

// keys returns the key set: fetched from jwks_uri, or the last one read while the last
// request is younger than RefreshInterval (then, without any, an *unavailableError). force
// fetches whatever the age: discovery's retries are paced by their own backoff.
func (r *remote) keys(ctx context.Context, force bool) ([]byte, error) {
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	now := r.now()
	r.mu.Lock()
	jwksURL, last, body := r.jwksURL, r.attempted, r.body
	r.mu.Unlock()
	if since := now.Sub(last); !force && !last.IsZero() && since < r.cfg.RefreshInterval {
		if body != nil {
			return body, nil
		}
		return nil, &unavailableError{retryAfter: r.cfg.RefreshInterval - since}
	}
	r.mu.Lock()
	r.attempted = now
	r.mu.Unlock()
	fresh, algs, err := r.fetch(ctx, jwksURL)
	if err != nil {
		r.log.Warn("fetching the oidc issuer's keys failed", "jwks_uri", jwksURL, "error", logText(err))
		return nil, &unavailableError{retryAfter: r.cfg.RefreshInterval, cause: err}
	}
	r.mu.Lock()
	r.body, r.algs = fresh, algs
	r.mu.Unlock()
	r.log.Debug("oidc issuer keys fetched", "jwks_uri", jwksURL, "keys", len(algs))
	return fresh, nil
}

// fetch reads the key set and keeps the keys our policy accepts, re-encoded by go-jose, so
// go-oidc holds no other key.
func (r *remote) fetch(ctx context.Context, jwksURL string) ([]byte, map[string]jose.SignatureAlgorithm, error) {
	b, err := r.get(ctx, jwksURL, maxRemoteJWKSBytes)
	if err != nil {
		return nil, nil, err
	}
	keys, skipped, err := parseJWKS(b, true)
	for _, s := range skipped {
		r.log.Warn("oidc issuer key skipped", "jwks_uri", jwksURL, "reason", s)
	}
	if err != nil {
		return nil, nil, err
	}
	set := jose.JSONWebKeySet{}
	algs := map[string]jose.SignatureAlgorithm{}
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.pub, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
		algs[k.kid] = k.alg
	}
	out, err := json.Marshal(set)
	if err != nil {
		return nil, nil, err
	}
	return out, algs, nil
}

// get makes one GET bounded in time (the client's Timeout) and size (limit), answering the
// body of a 200 only.
func (r *remote) get(ctx context.Context, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.bounded(limit).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return b, nil
}

// bounded is r.direct with response bodies capped at limit bytes: reading past it fails.
func (r *remote) bounded(limit int64) *http.Client {
	c := *r.direct
	c.Transport = limitTransport{base: r.direct.Transport, limit: limit}
	return &c
}

type limitTransport struct {
	base  http.RoundTripper
	limit int64
}

// tooLargeError is the answer of a response over its bound.
type tooLargeError struct{ limit int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("response larger than %d bytes", e.limit)
}

func (t limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.limit {
		resp.Body.Close()
		return nil, &tooLargeError{limit: t.limit}
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.limit, limit: t.limit}
	return resp, nil
}

// limitedBody fails once more than its bound is read, instead of cutting the body short
// (a cut key set could still parse as a smaller one).
type limitedBody struct {
	rc          io.ReadCloser
	left, limit int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, &tooLargeError{limit: b.limit}
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, &tooLargeError{limit: b.limit}
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// verify checks the signature of a token of this issuer with go-oidc's key set and returns
// the payload. go-oidc's own verifier (IDTokenVerifier) would check claims its way (exp
// without leeway, no conditions) and flattens its errors to text; the claims are checked by
// issuer.claims instead, for every issuer alike, and the alg check go-oidc's verifier would
// make is made here first.
func (r *remote) verify(ctx context.Context, token string, jws *jose.JSONWebSignature) ([]byte, error) {
	hdr := jws.Signatures[0].Header
	alg := jose.SignatureAlgorithm(hdr.Algorithm)
	if !remoteAlgs[alg] {
		return nil, errAlgorithm
	}
	r.mu.Lock()
	ks, next, started := r.keySet, r.nextAttempt, r.started
	known, ok := r.algs[hdr.KeyID]
	r.mu.Unlock()
	if ks == nil {
		wait := next.Sub(r.now())
		if !started {
			wait = r.cfg.RetryInterval
		}
		return nil, &unavailableError{retryAfter: max(wait, time.Second)}
	}
	if ok && known != alg {
		return nil, errAlgorithm
	}
	payload, err := ks.VerifySignature(ctx, token)
	if err == nil {
		return payload, nil
	}
	var ue *unavailableError
	if errors.As(err, &ue) {
		return nil, ue
	}
	r.mu.Lock()
	_, ok = r.algs[hdr.KeyID]
	r.mu.Unlock()
	if !ok {
		return nil, errNoKey
	}
	return nil, errSignature
}

// logText is err's text, cut to a length fit for a log line: go-oidc puts a refused
// response's body in its errors.
func logText(err error) string {
	const max = 300
	s := err.Error()
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
