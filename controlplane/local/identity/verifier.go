package identity

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

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
)

// Verifier tells who presented some credentials. It is immutable once built by New and safe
// for concurrent use.
type Verifier struct {
	tokens         []staticToken
	jwt            *jwtVerifier
	allowAnonymous bool
}

type staticToken struct {
	hash [sha256.Size]byte
	id   controlplane.Identity
}

// New validates cfg, naming the first bad key of each problem (for example
// "auth.tokens[1].sha256: want 64 hex characters"), reads the JWT key source and returns a
// Verifier.
func New(cfg Config) (*Verifier, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	v := &Verifier{allowAnonymous: cfg.AllowAnonymous}
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
	if cfg.JWT != nil {
		jc := cfg.JWT.withDefaults()
		keys, err := loadKeys(jc)
		if err != nil {
			return nil, err
		}
		v.jwt = &jwtVerifier{cfg: jc, keys: keys}
	}
	return v, nil
}

// Verify returns the identity c stands for. ctx is unused today; it is there for key sources
// that may one day block.
//
// The token comes from the Authorization header (Bearer scheme only, case-insensitive) or,
// when there is no Authorization header, from the flyte_webhook_token cookie; two such
// cookies are refused, whatever else the request carries. It is checked
// against the configured token hashes first, then, when it has the shape of a JWT and JWT is
// configured, verified as one. Without any token, the caller is Anonymous when allowed.
//
// Every refusal is a *controlplane.Error with CodeUnauthenticated, a generic message and the
// reason as its Cause.
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
	if v.jwt != nil && looksLikeJWT(token) {
		id, err := v.jwt.verify(token)
		if err != nil {
			return controlplane.Identity{}, refuse(err)
		}
		return id, nil
	}
	return controlplane.Identity{}, refuse(errUnknownToken)
}

// refuse turns a reason into the error Verify returns.
func refuse(reason error) error {
	msg := "invalid or expired credentials"
	switch reason {
	case errNoCredentials:
		msg = "credentials required"
	case errScheme:
		msg = "unsupported authorization scheme: use Bearer"
	case errExpired:
		msg = "credentials expired"
	case errDuplicate:
		msg = "ambiguous credentials: more than one " + CookieName + " cookie"
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
