package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// jwsAlgs are the only algorithms a token may name; each issuer then accepts only its keys'.
var jwsAlgs = []jose.SignatureAlgorithm{algHS256, algRS256, algES256}

// looksLikeJWT reports whether token has the compact shape header.payload.signature with
// base64url parts; anything else is not worth parsing as a JWT.
func looksLikeJWT(token string) bool {
	if strings.Count(token, ".") != 2 {
		return false
	}
	for _, r := range token {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

// parseJWS parses a compact JWS with go-jose, refusing before any key is looked at: an empty
// part, an alg other than HS256, RS256 or ES256 ("none" included: errAlgorithm), and a crit
// or b64 header (RFC 7515 §4.1.11: extensions we do not understand make the token invalid).
func parseJWS(token string) (*jose.JSONWebSignature, error) {
	h, rest, _ := strings.Cut(token, ".")
	p, s, _ := strings.Cut(rest, ".")
	if h == "" || p == "" || s == "" {
		return nil, errMalformed
	}
	jws, err := jose.ParseSignedCompact(token, jwsAlgs)
	if err != nil {
		var alg *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &alg) && alg.Got != "" {
			return nil, errAlgorithm
		}
		return nil, errMalformed
	}
	hdr := jws.Signatures[0].Protected
	for _, name := range []jose.HeaderKey{"crit", "b64"} {
		if _, ok := hdr.ExtraHeaders[name]; ok {
			return nil, errMalformed
		}
	}
	return jws, nil
}

// unverifiedIssuer returns the iss claim of a parsed token whose signature is not checked
// yet: it only picks which issuer's keys will check it, and iss is checked again once they
// have. A payload that is not a JSON object is errMalformed.
func unverifiedIssuer(jws *jose.JSONWebSignature) (string, error) {
	var cl struct {
		Iss any `json:"iss"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &cl); err != nil {
		return "", errMalformed
	}
	s, _ := cl.Iss.(string)
	return s, nil
}

// issuer verifies the tokens of one configured issuer.
type issuer struct {
	cfg        JWTConfig // with defaults
	keys       []key     // its own key source; nil when discovered
	remote     *remote   // discovery and its key set; nil with a key source of its own
	conditions []condition
	grants     []grant
}

// verify checks the signature of a parsed token with this issuer's keys, then its claims.
func (is *issuer) verify(ctx context.Context, token string, jws *jose.JSONWebSignature, now time.Time) (controlplane.Identity, error) {
	var payload []byte
	if is.remote != nil {
		p, err := is.remote.verify(ctx, token, jws)
		if err != nil {
			return controlplane.Identity{}, err
		}
		payload = p
	} else {
		hdr := jws.Signatures[0].Header
		k, err := pickKey(is.keys, hdr.KeyID, jose.SignatureAlgorithm(hdr.Algorithm))
		if err != nil {
			return controlplane.Identity{}, err
		}
		if payload, err = jws.Verify(k.pub); err != nil {
			if errors.Is(err, jose.ErrUnsupportedCriticalHeader) {
				return controlplane.Identity{}, errMalformed
			}
			return controlplane.Identity{}, errSignature
		}
	}
	// Only a signed payload is looked at from here on.
	return is.claims(payload, now)
}

// pickKey returns the key for the token's kid, refusing any alg but the key's own.
func pickKey(keys []key, kid string, alg jose.SignatureAlgorithm) (key, error) {
	var k *key
	if len(keys) == 1 && (kid == "" || keys[0].kid == "" || keys[0].kid == kid) {
		k = &keys[0]
	} else {
		for i := range keys {
			if kid != "" && keys[i].kid == kid {
				k = &keys[i]
				break
			}
		}
	}
	if k == nil {
		return key{}, errNoKey
	}
	if alg != k.alg {
		return key{}, errAlgorithm
	}
	return *k, nil
}

// claims checks the registered claims of a verified payload with go-jose's jwt package, then
// the issuer's conditions, and maps the payload to an identity.
func (is *issuer) claims(payload []byte, now time.Time) (controlplane.Identity, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(payload, &raw); err != nil || raw == nil {
		return controlplane.Identity{}, errMalformed
	}
	var cl jwt.Claims
	if err := json.Unmarshal(payload, &cl); err != nil {
		if errors.Is(err, jwt.ErrUnmarshalAudience) {
			return controlplane.Identity{}, errAudience
		}
		return controlplane.Identity{}, errClaims
	}
	if cl.Expiry == nil {
		return controlplane.Identity{}, errClaims // exp is required
	}
	err := cl.ValidateWithLeeway(jwt.Expected{Issuer: is.cfg.Issuer, AnyAudience: []string{is.cfg.Audience}, Time: now}, is.cfg.Leeway)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return controlplane.Identity{}, errIssuer
	case errors.Is(err, jwt.ErrInvalidAudience):
		return controlplane.Identity{}, errAudience
	case errors.Is(err, jwt.ErrExpired):
		return controlplane.Identity{}, errExpired
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return controlplane.Identity{}, errNotYetValid
	default:
		return controlplane.Identity{}, errClaims
	}

	sub, ok := stringClaim(raw, is.cfg.SubjectClaim)
	if !ok || strings.TrimSpace(sub) == "" {
		return controlplane.Identity{}, errClaims
	}
	for _, c := range is.conditions {
		if !c.holds(raw) {
			return controlplane.Identity{}, &conditionError{claim: c.claim}
		}
	}
	name, _ := stringClaim(raw, is.cfg.NameClaim)
	if name == "" {
		name, _ = stringClaim(raw, "email")
	}
	if name == "" {
		name = sub
	}
	return controlplane.Identity{Subject: sub, Name: name, Allowlists: is.allowlists(raw)}, nil
}

// nothing is what a token that no allowlists entry matches may reach.
var nothing = mustNothing()

func mustNothing() *controlplane.Allowlists {
	a, err := controlplane.ParseAllowlists(&[]string{}, &[]string{}, &[]string{})
	if err != nil {
		panic(err)
	}
	return a
}

// allowlists returns the narrowing the issuer's allowlists entries give these claims: nil
// without entries, the matching entries' lists merged (controlplane.MergeAllowlists),
// nothing when none matches.
func (is *issuer) allowlists(raw map[string]json.RawMessage) *controlplane.Allowlists {
	if len(is.grants) == 0 {
		return nil
	}
	var matched []*controlplane.Allowlists
	for _, g := range is.grants {
		all := true
		for _, c := range g.when {
			if !c.holds(raw) {
				all = false
				break
			}
		}
		if all {
			matched = append(matched, g.lists)
		}
	}
	if len(matched) == 0 {
		return nothing
	}
	return controlplane.MergeAllowlists(matched...)
}

// holds reports whether the claim has one of the accepted values: a string by equality, a
// number or boolean by its JSON text, a list when any element does.
func (c condition) holds(raw map[string]json.RawMessage) bool {
	v, ok := raw[c.claim]
	if !ok {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var x any
	if dec.Decode(&x) != nil {
		return false
	}
	if list, ok := x.([]any); ok {
		for _, e := range list {
			if s, ok := scalarText(e); ok && c.values[s] {
				return true
			}
		}
		return false
	}
	s, ok := scalarText(x)
	return ok && c.values[s]
}

func scalarText(x any) (string, bool) {
	switch v := x.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return fmt.Sprint(v), true
	}
	return "", false
}

// stringClaim reads a string claim; ok is false when absent or not a string.
func stringClaim(cl map[string]json.RawMessage, name string) (string, bool) {
	raw, present := cl[name]
	if !present {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}
