package identity

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// jwtVerifier verifies compact JWS tokens (RFC 7515, 7519) against configured keys.
type jwtVerifier struct {
	cfg  JWTConfig // with defaults
	keys []key
	now  func() time.Time // nil: time.Now
}

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

type jwtHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

func (j *jwtVerifier) verify(token string) (controlplane.Identity, error) {
	h64, rest, _ := strings.Cut(token, ".")
	p64, s64, _ := strings.Cut(rest, ".")
	if h64 == "" || p64 == "" || s64 == "" {
		return controlplane.Identity{}, errMalformed
	}
	hb, err1 := base64.RawURLEncoding.Strict().DecodeString(h64)
	pb, err2 := base64.RawURLEncoding.Strict().DecodeString(p64)
	sig, err3 := base64.RawURLEncoding.Strict().DecodeString(s64)
	if err1 != nil || err2 != nil || err3 != nil {
		return controlplane.Identity{}, errMalformed
	}
	var hdr jwtHeader
	if err := json.Unmarshal(hb, &hdr); err != nil || hdr.Alg == "" {
		return controlplane.Identity{}, errMalformed
	}
	if len(hdr.Crit) > 0 {
		// RFC 7515 §4.1.11: extensions we do not understand make the token invalid.
		return controlplane.Identity{}, errMalformed
	}
	k, err := j.pickKey(hdr)
	if err != nil {
		return controlplane.Identity{}, err
	}
	if !k.verify([]byte(token[:len(h64)+1+len(p64)]), sig) {
		return controlplane.Identity{}, errSignature
	}
	// Only a signed payload is looked at.
	return j.claims(pb)
}

// pickKey returns the key for the token's kid, refusing any alg but the key's own.
func (j *jwtVerifier) pickKey(hdr jwtHeader) (key, error) {
	var k *key
	if len(j.keys) == 1 && (hdr.Kid == "" || j.keys[0].kid == "" || j.keys[0].kid == hdr.Kid) {
		k = &j.keys[0]
	} else {
		for i := range j.keys {
			if hdr.Kid != "" && j.keys[i].kid == hdr.Kid {
				k = &j.keys[i]
				break
			}
		}
	}
	if k == nil {
		return key{}, errNoKey
	}
	if hdr.Alg != k.alg {
		return key{}, errAlgorithm
	}
	return *k, nil
}

// verify checks sig over signed with k, using k's algorithm only.
func (k key) verify(signed, sig []byte) bool {
	switch k.alg {
	case algHS256:
		m := hmac.New(sha256.New, k.secret)
		m.Write(signed)
		return hmac.Equal(m.Sum(nil), sig)
	case algRS256:
		d := sha256.Sum256(signed)
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, d[:], sig) == nil
	case algES256:
		// RFC 7518 §3.4: R and S as two 32-byte big-endian integers, not ASN.1.
		if len(sig) != 64 {
			return false
		}
		d := sha256.Sum256(signed)
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k.ec, d[:], r, s)
	}
	return false
}

// claims checks the registered claims of a verified payload and maps it to an identity.
func (j *jwtVerifier) claims(payload []byte) (controlplane.Identity, error) {
	var cl map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&cl); err != nil || cl == nil || dec.More() {
		return controlplane.Identity{}, errMalformed
	}
	now := time.Now
	if j.now != nil {
		now = j.now
	}
	t := now()
	leeway := j.cfg.Leeway.Seconds()
	nowSec := float64(t.UnixNano()) / 1e9

	exp, ok, err := numericDate(cl, "exp")
	if err != nil || !ok {
		return controlplane.Identity{}, errClaims // exp is required
	}
	if nowSec >= exp+leeway {
		return controlplane.Identity{}, errExpired
	}
	if nbf, ok, err := numericDate(cl, "nbf"); err != nil {
		return controlplane.Identity{}, errClaims
	} else if ok && nowSec+leeway < nbf {
		return controlplane.Identity{}, errNotYetValid
	}
	if iat, ok, err := numericDate(cl, "iat"); err != nil {
		return controlplane.Identity{}, errClaims
	} else if ok && nowSec+leeway < iat {
		return controlplane.Identity{}, errNotYetValid
	}

	iss, ok := stringClaim(cl, "iss")
	if !ok || iss != j.cfg.Issuer {
		return controlplane.Identity{}, errIssuer
	}
	if !audienceHas(cl["aud"], j.cfg.Audience) {
		return controlplane.Identity{}, errAudience
	}

	sub, ok := stringClaim(cl, j.cfg.SubjectClaim)
	if !ok || strings.TrimSpace(sub) == "" {
		return controlplane.Identity{}, errClaims
	}
	name, _ := stringClaim(cl, j.cfg.NameClaim)
	if name == "" {
		name, _ = stringClaim(cl, "email")
	}
	if name == "" {
		name = sub
	}
	return controlplane.Identity{Subject: sub, Name: name}, nil
}

// numericDate reads a NumericDate claim (RFC 7519 §2: seconds, possibly fractional).
// ok is false when the claim is absent; err is set when it is not a number.
func numericDate(cl map[string]json.RawMessage, name string) (sec float64, ok bool, err error) {
	raw, present := cl[name]
	if !present {
		return 0, false, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, true, errClaims
	}
	f, err := strconv.ParseFloat(n.String(), 64)
	if err != nil {
		return 0, true, errClaims
	}
	return f, true, nil
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

// audienceHas reports whether aud (a string or an array of strings) contains want.
func audienceHas(raw json.RawMessage, want string) bool {
	if len(raw) == 0 {
		return false
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return one == want
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return false
	}
	for _, a := range many {
		if a == want {
			return true
		}
	}
	return false
}
