package identity

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// CookieName is the cookie that carries a token like a bearer token does.
const CookieName = "flyte_webhook_token"

// Anonymous is the identity of calls without credentials when Config.AllowAnonymous is set.
var Anonymous = controlplane.Identity{Subject: "anonymous", Name: "anonymous"}

const (
	// maxTokenBytes bounds a presented token before any parsing or hashing.
	maxTokenBytes = 8 << 10
	// maxCookieHeader bounds the Cookie header we are willing to parse.
	maxCookieHeader = 64 << 10
)

// The reasons a credential is refused. They are the Cause of the *controlplane.Error that
// Verify returns: fit for logs, never shown to the caller, never containing the credential.
var (
	errNoCredentials = errors.New("identity: no credentials")
	errScheme        = errors.New("identity: authorization scheme is not Bearer")
	errTooLarge      = errors.New("identity: token too large")
	errDuplicate     = errors.New("identity: more than one " + CookieName + " cookie")
	errUnknownToken  = errors.New("identity: unknown token")
	errMalformed     = errors.New("identity: malformed jwt")
	errAlgorithm     = errors.New("identity: jwt alg does not match the configured key")
	errNoKey         = errors.New("identity: no configured key matches the jwt kid")
	errSignature     = errors.New("identity: jwt signature mismatch")
	errExpired       = errors.New("identity: jwt expired")
	errNotYetValid   = errors.New("identity: jwt not yet valid")
	errIssuer        = errors.New("identity: jwt issuer mismatch")
	errAudience      = errors.New("identity: jwt audience mismatch")
	errClaims        = errors.New("identity: jwt claims invalid")
	errCondition     = errors.New("identity: jwt claims do not meet the issuer's conditions")
)

// conditionError says which condition a token failed (errCondition), never the value.
type conditionError struct{ claim string }

func (e *conditionError) Error() string {
	return fmt.Sprintf("%v: claim %q", errCondition, e.claim)
}

func (e *conditionError) Unwrap() error { return errCondition }

// Verifier tells who presented some credentials. It is immutable once built by New (the keys
// of discovered issuers aside, which it keeps current) and safe for concurrent use.
type Verifier struct {
	tokens         []staticToken
	issuers        []*issuer
	byIssuer       map[string]*issuer
	allowAnonymous bool
	now            func() time.Time
}

type staticToken struct {
	hash [sha256.Size]byte
	id   controlplane.Identity
}

// New validates cfg, naming the first bad key of each problem (for example
// "auth.tokens[1].sha256: want 64 hex characters"), reads the key sources and returns a
// Verifier. It makes no network request: discovered issuers are looked up by Start.
func New(cfg Config) (*Verifier, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v := &Verifier{allowAnonymous: cfg.AllowAnonymous, byIssuer: map[string]*issuer{}, now: time.Now}
	for _, t := range cfg.Tokens {
		var st staticToken
		// validate checked that this decodes to 32 bytes.
		_, _ = hex.Decode(st.hash[:], []byte(strings.ToLower(strings.TrimSpace(t.SHA256))))
		st.id = controlplane.Identity{Subject: strings.TrimSpace(t.Subject), Name: strings.TrimSpace(t.Name)}
		if st.id.Name == "" {
			st.id.Name = st.id.Subject
		}
		v.tokens = append(v.tokens, st)
	}
	add := func(prefix string, c JWTConfig) error {
		jc := c.withDefaults()
		is := &issuer{cfg: jc}
		// validate checked these.
		is.conditions, _ = parseConditions(prefix+".conditions", jc.Conditions)
		is.grants, _ = parseGrants(prefix, jc.Allowlists)
		if jc.discovered() {
			is.remote = newRemote(jc, log, v.clock)
		} else {
			keys, err := loadKeys(prefix, jc)
			if err != nil {
				return err
			}
			is.keys = keys
		}
		v.issuers = append(v.issuers, is)
		v.byIssuer[jc.Issuer] = is
		return nil
	}
	if cfg.JWT != nil {
		if err := add(cfg.prefix()+".jwt", *cfg.JWT); err != nil {
			return nil, err
		}
	}
	for i, c := range cfg.Issuers {
		if err := add(fmt.Sprintf("%s.issuers[%d]", cfg.prefix(), i), c); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (v *Verifier) clock() time.Time { return v.now() }

// Start looks up the keys of every discovered issuer (an issuer without a key source of its
// own) in the background and returns at once: an unreachable issuer never blocks start-up.
// Each is tried again, with a growing pause (RetryInterval, doubling up to 1m) and a warning
// in the log, until it answers or ctx ends. Until then its tokens are refused with
// CodeUnavailable and a RetryAfter (503 with Retry-After); tokens of other issuers and API
// tokens work meanwhile. Calling Start again does nothing.
func (v *Verifier) Start(ctx context.Context) {
	for _, is := range v.issuers {
		if is.remote != nil {
			is.remote.start(ctx)
		}
	}
}

// Verify returns the identity c stands for. ctx bounds what a discovered issuer's key
// refresh may wait for.
//
// The token comes from the Authorization header (Bearer scheme only, case-insensitive) or,
// when there is no Authorization header, from the flyte_webhook_token cookie; two such
// cookies are refused, whatever else the request carries. It is checked
// against the configured token hashes first, then, when it has the shape of a JWT and an
// issuer is configured, verified as one. Without any token, the caller is Anonymous when
// allowed.
//
// Every refusal is a *controlplane.Error with CodeUnauthenticated, a generic message and the
// reason as its Cause; but a token of a discovered issuer whose keys cannot be had yet gets
// CodeUnavailable with a RetryAfter.
func (v *Verifier) Verify(ctx context.Context, c controlplane.Credentials) (controlplane.Identity, error) {
	token, err := bearer(c)
	if errors.Is(err, errNoCredentials) && v.allowAnonymous {
		return Anonymous, nil
	}
	if err != nil {
		return controlplane.Identity{}, refuse(err)
	}
	if id, ok := v.matchToken(token); ok {
		return id, nil
	}
	if len(v.issuers) > 0 && looksLikeJWT(token) {
		id, err := v.verifyJWT(ctx, token, nil)
		if err != nil {
			return controlplane.Identity{}, refuse(err)
		}
		return id, nil
	}
	return controlplane.Identity{}, refuse(errUnknownToken)
}

// verifyJWT verifies a JWT-shaped token. With one issuer configured, that issuer judges every
// token (and a wrong iss is errIssuer once the signature holds); with several, the token's
// unverified iss picks the one whose keys check it. jws is the token already parsed, or nil.
func (v *Verifier) verifyJWT(ctx context.Context, token string, jws *jose.JSONWebSignature) (controlplane.Identity, error) {
	if jws == nil {
		var err error
		if jws, err = parseJWS(token); err != nil {
			return controlplane.Identity{}, err
		}
	}
	is := v.issuers[0]
	if len(v.issuers) > 1 {
		iss, err := unverifiedIssuer(jws)
		if err != nil {
			return controlplane.Identity{}, err
		}
		if is = v.byIssuer[iss]; is == nil {
			return controlplane.Identity{}, errIssuer
		}
	}
	return is.verify(ctx, token, jws, v.now())
}

// VerifyOwn verifies the credentials that come from a configured issuer, for a webhook in
// front of a backend that verifies tokens itself (impl.Verifier): every JWT among c (the
// bearer token, every cookie value) whose unverified iss is one of the configured issuers
// must verify, claims conditions included. own is false when there is none: the credentials
// are the backend's to judge. The identity is the bearer token's when it is one of ours,
// else the first such cookie's.
func (v *Verifier) VerifyOwn(ctx context.Context, c controlplane.Credentials) (controlplane.Identity, bool, error) {
	var candidates []string
	if scheme, tok, ok := strings.Cut(strings.TrimSpace(c.Authorization), " "); ok && strings.EqualFold(scheme, "Bearer") {
		candidates = append(candidates, strings.TrimSpace(tok))
	}
	if c.Cookie != "" && len(c.Cookie) <= maxCookieHeader {
		if cookies, err := http.ParseCookie(c.Cookie); err == nil {
			for _, ck := range cookies {
				candidates = append(candidates, ck.Value)
			}
		}
	}
	var first controlplane.Identity
	own := false
	for _, tok := range candidates {
		if len(tok) > maxTokenBytes || !looksLikeJWT(tok) {
			continue
		}
		jws, err := parseJWS(tok)
		if err != nil {
			continue // not a token any issuer of ours made
		}
		iss, err := unverifiedIssuer(jws)
		if err != nil || v.byIssuer[iss] == nil {
			continue
		}
		id, err := v.byIssuer[iss].verify(ctx, tok, jws, v.now())
		if err != nil {
			return controlplane.Identity{}, true, refuse(err)
		}
		if !own {
			first, own = id, true
		}
	}
	return first, own, nil
}

// refuse turns a reason into the error Verify returns.
func refuse(reason error) error {
	var unavailable *unavailableError
	if errors.As(reason, &unavailable) {
		return &controlplane.Error{
			Code:       controlplane.CodeUnavailable,
			Message:    "the token's issuer cannot be reached to check it yet; try again later",
			Cause:      reason,
			RetryAfter: max(unavailable.retryAfter, time.Second),
		}
	}
	msg := "invalid or expired credentials"
	switch {
	case reason == errNoCredentials:
		msg = "credentials required"
	case reason == errScheme:
		msg = "unsupported authorization scheme: use Bearer"
	case reason == errExpired:
		msg = "credentials expired"
	case reason == errDuplicate:
		msg = "ambiguous credentials: more than one " + CookieName + " cookie"
	case errors.Is(reason, errCondition):
		msg = "credentials not accepted: the token's claims do not meet the conditions set for its issuer"
	}
	return controlplane.Wrap(controlplane.CodeUnauthenticated, reason, msg)
}

// bearer extracts the presented token. Authorization wins over the cookie; a present but
// unusable Authorization header is an error, not a reason to look at the cookie. Two
// flyte_webhook_token cookies are an error whatever else comes with them (in one Cookie
// header or, joined by the webhook, in several): which one counts would depend on the
// reader, and "first one wins" is how two readers of a request come to disagree.
func bearer(c controlplane.Credentials) (string, error) {
	var cookies []*http.Cookie
	if c.Cookie != "" {
		if len(c.Cookie) > maxCookieHeader {
			return "", errTooLarge
		}
		r := http.Request{Header: http.Header{"Cookie": {c.Cookie}}}
		if cookies = r.CookiesNamed(CookieName); len(cookies) > 1 {
			return "", errDuplicate
		}
	}
	var token string
	switch {
	case c.Authorization != "":
		scheme, rest, _ := strings.Cut(strings.TrimSpace(c.Authorization), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", errScheme
		}
		token = strings.TrimSpace(rest)
		if token == "" {
			return "", errUnknownToken
		}
	case len(cookies) == 1 && cookies[0].Value != "":
		token = cookies[0].Value
	default:
		return "", errNoCredentials
	}
	if len(token) > maxTokenBytes {
		return "", errTooLarge
	}
	return token, nil
}

// matchToken compares the token's hash with every configured hash in constant time, without
// stopping at a match, so the time taken says nothing about which token (if any) matched.
func (v *Verifier) matchToken(token string) (controlplane.Identity, bool) {
	sum := sha256.Sum256([]byte(token))
	found := 0
	match := 0
	for i := range v.tokens {
		eq := subtle.ConstantTimeCompare(sum[:], v.tokens[i].hash[:])
		match = subtle.ConstantTimeSelect(eq, i, match)
		found |= eq
	}
	if found == 0 {
		return controlplane.Identity{}, false
	}
	return v.tokens[match].id, true
}
