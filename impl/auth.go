package impl

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/flyte-webhook/flyte-webhook/api"
	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

const (
	// identityTTL is how long an identity the backend verified is reused for the same
	// credentials. Short: it only decides whether the allowlists may answer and whom the
	// access log names; the backend still checks the credentials on every call.
	identityTTL = 10 * time.Second
	// identityCacheSize bounds how many verified credentials are remembered.
	identityCacheSize = 4096
)

// auth is the auth layer, between validation and the allowlists. It refuses, with 401:
//   - two Authorization header lines, or an empty one (ambiguous or malformed, whatever the
//     backend; "first one wins" would let two readers of the request disagree);
//   - a request with neither Authorization nor Cookie, when credentials are required;
//   - credentials the backend does not accept: it asks the backend who the caller is
//     (Backend.Me) before any allowlist answers, so an unauthenticated caller cannot tell
//     an allowed target (401 from the backend) from a refused one (403 from the allowlist).
//
// A backend whose Me answers CodeUnimplemented cannot verify credentials ahead of a call;
// the request goes on and the backend checks them on the call itself. Any other failure of
// Me is the request's answer (CodeUnavailable: 503). The identity verified rides in the
// request context (controlplane.WithIdentity). Successes are cached by the SHA-256 of the
// credentials (see identityCache); failures never are.
//
// Without credentials and with requires_auth false, the backend is asked as well: it
// decides whether anonymous callers are welcome.
//
// With Config.Verifier set, credentials it calls its own (a token of an issuer configured on
// the webhook) are judged by it instead of Me, and a refusal is the answer (401, or 503 while
// the issuer's keys are not known); the backend still checks them on every call.
func (s *Server) auth(r api.Route) gin.HandlerFunc {
	if r.Open {
		return func(*gin.Context) {}
	}
	required := !s.cfg.AuthOptional
	return func(c *gin.Context) {
		switch vs := c.Request.Header["Authorization"]; {
		case len(vs) > 1:
			api.Fail(c, http.StatusUnauthorized, "more than one Authorization header: send exactly one")
			return
		case len(vs) == 1 && vs[0] == "":
			api.Fail(c, http.StatusUnauthorized, "empty Authorization header: send Authorization: Bearer <token>")
			return
		}
		ctx := c.Request.Context()
		creds := controlplane.CredentialsFrom(ctx)
		if required && creds.Empty() {
			api.Fail(c, http.StatusUnauthorized, "credentials required: send an Authorization: Bearer <token> header or a Cookie")
			return
		}
		id, err := s.identify(ctx, creds)
		switch {
		case err == nil:
			c.Request = c.Request.WithContext(controlplane.WithIdentity(ctx, id))
		case controlplane.CodeOf(err) == controlplane.CodeUnimplemented:
			// Cannot verify here: the backend checks the credentials on the call.
		default:
			s.writeError(c, err)
		}
	}
}

// identify returns who creds stand for: from the cache, else from the webhook's own
// Verifier when the credentials are its own (Config.Verifier), else from the backend's Me.
func (s *Server) identify(ctx context.Context, creds controlplane.Credentials) (controlplane.Identity, error) {
	key := credentialsKey(creds)
	if id, ok := s.ids.get(key); ok {
		return id, nil
	}
	var (
		id  controlplane.Identity
		own bool
		err error
	)
	if s.cfg.Verifier != nil {
		id, own, err = s.cfg.Verifier.VerifyOwn(ctx, creds)
	}
	if !own {
		id, err = s.backend.Me(ctx)
	}
	if err != nil {
		return controlplane.Identity{}, err
	}
	s.ids.put(key, id, creds)
	return id, nil
}

// credentialsKey is the cache key of creds: a SHA-256, so the cache never holds a
// credential. The length prefix keeps (Authorization, Cookie) pairs apart whatever they
// contain.
func credentialsKey(c controlplane.Credentials) [sha256.Size]byte {
	var buf [256]byte
	b := binary.BigEndian.AppendUint64(buf[:0], uint64(len(c.Authorization)))
	b = append(b, c.Authorization...)
	b = append(b, c.Cookie...)
	return sha256.Sum256(b)
}

// identityCache remembers identities the backend verified, by credentials key, for at most
// ttl and never past the expiry of a JWT among the credentials. It holds at most max entries;
// when full, expired entries go first, then arbitrary ones. Safe for concurrent use.
type identityCache struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.RWMutex
	entries map[[sha256.Size]byte]cachedIdentity
}

type cachedIdentity struct {
	id      controlplane.Identity
	expires time.Time
}

func newIdentityCache(ttl time.Duration, max int) *identityCache {
	return &identityCache{ttl: ttl, max: max, now: time.Now, entries: make(map[[sha256.Size]byte]cachedIdentity)}
}

func (c *identityCache) get(key [sha256.Size]byte) (controlplane.Identity, bool) {
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok || !c.now().Before(e.expires) {
		return controlplane.Identity{}, false
	}
	return e.id, true
}

// put remembers id for the credentials creds (whose key is key).
func (c *identityCache) put(key [sha256.Size]byte, id controlplane.Identity, creds controlplane.Credentials) {
	now := c.now()
	expires := now.Add(c.ttl)
	if exp, ok := jwtExpiry(creds); ok && exp.Before(expires) {
		expires = exp
	}
	if !now.Before(expires) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries { // all alive: make room for an eighth more (random order)
			if len(c.entries) < c.max-c.max/8 {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = cachedIdentity{id: id, expires: expires}
}

// forget drops what is remembered for key: the backend has just refused those credentials.
func (c *identityCache) forget(key [sha256.Size]byte) {
	c.mu.Lock()
	delete(c.entries, key)
	c.mu.Unlock()
}

// jwtExpiry returns the earliest exp claim of the JWT-shaped credentials in c (the bearer
// token, any cookie value). The signature is not checked: the value only ever shortens how
// long a verification the backend made is reused, never lengthens it.
func jwtExpiry(c controlplane.Credentials) (time.Time, bool) {
	var earliest time.Time
	found := false
	consider := func(token string) {
		if exp, ok := expClaim(token); ok && (!found || exp.Before(earliest)) {
			earliest, found = exp, true
		}
	}
	if scheme, token, ok := strings.Cut(strings.TrimSpace(c.Authorization), " "); ok && strings.EqualFold(scheme, "Bearer") {
		consider(strings.TrimSpace(token))
	}
	if c.Cookie != "" {
		if cookies, err := http.ParseCookie(c.Cookie); err == nil {
			for _, ck := range cookies {
				consider(ck.Value)
			}
		}
	}
	return earliest, found
}

// expClaim returns the exp claim of a compact JWS, false when token is not one or has none.
// go-jose parses it (any of its signature algorithms: the signature is not what this reads).
func expClaim(token string) (time.Time, bool) {
	if len(token) > 8<<10 {
		return time.Time{}, false
	}
	tok, err := jwt.ParseSigned(token, anyAlgorithm)
	if err != nil {
		return time.Time{}, false
	}
	var claims jwt.Claims
	if tok.UnsafeClaimsWithoutVerification(&claims) != nil || claims.Expiry == nil {
		return time.Time{}, false
	}
	return claims.Expiry.Time(), true
}

// anyAlgorithm is every JWS algorithm go-jose knows, for reading an unverified exp claim.
var anyAlgorithm = []jose.SignatureAlgorithm{
	jose.EdDSA, jose.HS256, jose.HS384, jose.HS512, jose.RS256, jose.RS384, jose.RS512,
	jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512,
}
