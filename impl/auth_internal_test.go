package impl

import (
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func jwtWith(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256"}`)) + "." + enc([]byte(payload)) + ".c2ln"
}

// TestIdentityCacheExpiry: an entry lives ttl, and never past the exp of a JWT among the
// credentials, whether in the bearer token or a cookie; one already past its exp is not
// kept at all.
func TestIdentityCacheExpiry(t *testing.T) {
	t.Parallel()
	start := time.Unix(1_800_000_000, 0)
	id := controlplane.Identity{Subject: "alice"}
	cases := []struct {
		name  string
		creds controlplane.Credentials
		lives time.Duration // 0: not cached
	}{
		{"opaque token", controlplane.Credentials{Authorization: "Bearer fwh_x"}, 10 * time.Second},
		{"jwt expiring later", controlplane.Credentials{Authorization: "Bearer " + jwtWith(fmt.Sprintf(`{"exp": %d}`, start.Unix()+3600))}, 10 * time.Second},
		{"jwt expiring sooner", controlplane.Credentials{Authorization: "bearer " + jwtWith(fmt.Sprintf(`{"exp": %d}`, start.Unix()+3))}, 3 * time.Second},
		{"jwt in a cookie", controlplane.Credentials{Cookie: "a=b; tok=" + jwtWith(fmt.Sprintf(`{"exp": %d.5}`, start.Unix()+4))}, 4 * time.Second},
		{"earliest of two", controlplane.Credentials{Authorization: "Bearer " + jwtWith(fmt.Sprintf(`{"exp": %d}`, start.Unix()+7)), Cookie: "t=" + jwtWith(fmt.Sprintf(`{"exp": %d}`, start.Unix()+2))}, 2 * time.Second},
		{"jwt already expired", controlplane.Credentials{Authorization: "Bearer " + jwtWith(fmt.Sprintf(`{"exp": %d}`, start.Unix()-1))}, 0},
		{"jwt without exp", controlplane.Credentials{Authorization: "Bearer " + jwtWith(`{"sub": "a"}`)}, 10 * time.Second},
		{"jwt with a huge exp", controlplane.Credentials{Authorization: "Bearer " + jwtWith(`{"exp": 1e300}`)}, 10 * time.Second},
		{"not base64", controlplane.Credentials{Authorization: "Bearer a.%%%.c"}, 10 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{t: start}
			cache := newIdentityCache(10*time.Second, 8)
			cache.now = clock.now
			key := credentialsKey(c.creds)
			cache.put(key, id, c.creds)
			if c.lives == 0 {
				if _, ok := cache.get(key); ok {
					t.Fatal("cached credentials whose JWT has expired")
				}
				return
			}
			clock.t = start.Add(c.lives - time.Millisecond)
			if got, ok := cache.get(key); !ok || got != id {
				t.Fatalf("gone before %v", c.lives)
			}
			clock.t = start.Add(c.lives)
			if _, ok := cache.get(key); ok {
				t.Fatalf("still there after %v", c.lives)
			}
		})
	}
}

// TestIdentityCacheBounded: the cache never holds more than its size; expired entries make
// room first, and the newest entry is always kept.
func TestIdentityCacheBounded(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	cache := newIdentityCache(10*time.Second, 64)
	cache.now = clock.now
	creds := func(i int) controlplane.Credentials {
		return controlplane.Credentials{Authorization: fmt.Sprintf("Bearer t%d", i)}
	}
	for i := range 64 {
		cache.put(credentialsKey(creds(i)), controlplane.Identity{Subject: fmt.Sprint(i)}, creds(i))
	}
	clock.t = clock.t.Add(11 * time.Second) // all of them expire
	cache.put(credentialsKey(creds(64)), controlplane.Identity{Subject: "64"}, creds(64))
	if n := len(cache.entries); n != 1 {
		t.Fatalf("%d entries after expired ones made room, want 1", n)
	}
	for i := 65; i < 1000; i++ {
		cache.put(credentialsKey(creds(i)), controlplane.Identity{Subject: fmt.Sprint(i)}, creds(i))
		if n := len(cache.entries); n > 64 {
			t.Fatalf("%d entries, bound is 64", n)
		}
		if _, ok := cache.get(credentialsKey(creds(i))); !ok {
			t.Fatalf("the newest entry %d is missing", i)
		}
	}
}

// TestCredentialsKey: the key tells apart credentials that concatenate alike.
func TestCredentialsKey(t *testing.T) {
	t.Parallel()
	a := credentialsKey(controlplane.Credentials{Authorization: "Bearer x", Cookie: "y=1"})
	b := credentialsKey(controlplane.Credentials{Authorization: "Bearer xy=1"})
	c := credentialsKey(controlplane.Credentials{Cookie: "Bearer xy=1"})
	if a == b || b == c || a == c {
		t.Fatal("different credentials share a cache key")
	}
}

// BenchmarkIdentifyCached is what the auth layer adds to a request whose credentials were
// verified a moment ago: hash them, find the identity, put it in the context.
func BenchmarkIdentifyCached(b *testing.B) {
	s := &Server{ids: newIdentityCache(identityTTL, identityCacheSize)}
	creds := controlplane.Credentials{Authorization: "Bearer fwh_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"}
	s.ids.put(credentialsKey(creds), controlplane.Identity{Subject: "ci"}, creds)
	ctx := controlplane.WithCredentials(b.Context(), creds)
	b.ReportAllocs()
	for b.Loop() {
		id, err := s.identify(ctx, creds)
		if err != nil {
			b.Fatal(err)
		}
		_ = controlplane.WithIdentity(ctx, id)
	}
}
