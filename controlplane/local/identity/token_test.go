package identity_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
)

func TestNewTokenRoundTrip(t *testing.T) {
	t.Parallel()
	tok, sum, err := identity.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, identity.TokenPrefix) || len(tok) != len(identity.TokenPrefix)+43 {
		t.Fatalf("token %q: want %s and 43 base64url characters", tok, identity.TokenPrefix)
	}
	if sum != identity.HashToken(tok) {
		t.Fatalf("NewToken hash %s != HashToken %s", sum, identity.HashToken(tok))
	}
	if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 || sum != strings.ToLower(sum) {
		t.Fatalf("hash %q: want 64 lower-case hex characters", sum)
	}
	tok2, _, err := identity.NewToken()
	if err != nil || tok2 == tok {
		t.Fatalf("second token %q (err %v) equals the first", tok2, err)
	}

	v := mustNew(t, identity.Config{Tokens: []identity.Token{{SHA256: sum, Subject: "ci"}}})
	got, err := v.Verify(context.Background(), bearerCreds(tok))
	checkResult(t, got, err, controlplane.Identity{Subject: "ci", Name: "ci"}, nil, "")
	_, err = v.Verify(context.Background(), bearerCreds(tok2))
	checkResult(t, controlplane.Identity{}, err, controlplane.Identity{}, identity.ErrUnknownToken, tok2)
}

func TestHashToken(t *testing.T) {
	t.Parallel()
	// sha256("foo"), a well-known vector.
	if got, want := identity.HashToken("foo"), "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"; got != want {
		t.Fatalf("HashToken(foo) = %s, want %s", got, want)
	}
}

func ExampleNewToken() {
	token, sum, err := identity.NewToken()
	if err != nil {
		panic(err)
	}
	// Give token to the caller once; paste the hash into backend.local.auth.tokens.
	fmt.Println(strings.HasPrefix(token, "fwh_"), len(sum))
	// Output: true 64
}

func ExampleVerifier_Verify() {
	v, err := identity.New(identity.Config{Tokens: []identity.Token{
		{SHA256: identity.HashToken("fwh_example"), Subject: "ci-bot", Name: "CI pipeline"},
	}})
	if err != nil {
		panic(err)
	}
	id, err := v.Verify(context.Background(), controlplane.Credentials{Authorization: "Bearer fwh_example"})
	fmt.Println(id.Subject, id.Name, err)
	_, err = v.Verify(context.Background(), controlplane.Credentials{Authorization: "Bearer fwh_wrong"})
	fmt.Println(controlplane.CodeOf(err), controlplane.MessageOf(err))
	// Output:
	// ci-bot CI pipeline <nil>
	// unauthenticated invalid or expired credentials
}
