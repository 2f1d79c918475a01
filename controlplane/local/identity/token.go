package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// TokenPrefix starts every token NewToken makes, so that a leaked one is easy to recognise
// (secret scanners, logs).
const TokenPrefix = "fwh_"

// NewToken returns a new random API token (TokenPrefix and 32 random bytes, base64url) and
// its SHA-256 in hex, the value for a Token's sha256 key. Only the hash belongs in the config;
// the token is shown once to whoever will use it.
func NewToken() (token string, sha256hex string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("identity: new token: %w", err)
	}
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token), nil
}

// HashToken returns the lower-case hex SHA-256 of token, as compared by Verify and written
// in a Token's sha256 key.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
