package hfhub_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/internal/hfhub"
	"github.com/flyte-webhook/flyte-webhook/internal/hfhub/hubtest"
)

// redirectHub serves a one-file repo whose file answers with redirect(w, r); it records the
// Authorization header of each request by path.
type redirectHub struct {
	srv      *httptest.Server
	redirect func(w http.ResponseWriter, r *http.Request)
	mu       sync.Mutex
	auth     map[string]string
	resolves int
}

const content = "hello"

func newRedirectHub(t *testing.T, redirect func(w http.ResponseWriter, r *http.Request)) *redirectHub {
	h := &redirectHub{redirect: redirect, auth: map[string]string{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.auth[r.URL.Path] = r.Header.Get("Authorization")
		h.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.Header().Set("X-Error-Code", "RepoNotFound")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch {
		case strings.HasPrefix(r.URL.Path, "/api/models/acme/x/revision/"):
			fmt.Fprintf(w, `{"sha": "%s", "siblings": [{"rfilename": "f.txt", "size": %d, "blobId": "%s"}]}`,
				strings.Repeat("a", 40), len(content), hubtest.BlobID([]byte(content)))
		case strings.HasPrefix(r.URL.Path, "/acme/x/resolve/"):
			h.mu.Lock()
			h.resolves++
			h.mu.Unlock()
			redirect(w, r)
		case r.URL.Path == "/renamed/x/f.txt":
			fmt.Fprint(w, content)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func TestRedirects(t *testing.T) {
	t.Parallel()
	token := func(context.Context) (string, error) { return "tok", nil }
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			http.Error(w, "the token reached another host", http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, content)
	}))
	t.Cleanup(elsewhere.Close)
	for _, tc := range []struct {
		name     string
		redirect func(w http.ResponseWriter, r *http.Request)
		want     string // "" for success
	}{
		{"relative, on the endpoint, keeps the token", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/renamed/x/f.txt", http.StatusTemporaryRedirect)
		}, ""},
		{"to another loopback host, without the token", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1)+"/f", http.StatusFound)
		}, ""},
		{"to http off the loopback", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://files.example.com/f", http.StatusFound)
		}, "only https is followed"},
		{"to another scheme", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		}, "only https is followed"},
		{"with user info", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://u:p@files.example.com/f", http.StatusFound)
		}, "user info"},
		{"in a loop", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.Path, http.StatusFound)
		}, "more than 5 redirects"},
		{"without a Location", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusFound)
		}, "without a valid Location"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newRedirectHub(t, tc.redirect)
			dir, root := openDir(t)
			_, err := (&hfhub.Client{Endpoint: h.srv.URL, Retries: 1}).Snapshot(context.Background(), hfhub.Options{Repo: "acme/x", Dir: root, Token: token})
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("want an error saying %q: %v", tc.want, err)
			case tc.want == "":
				checkFiles(t, dir, []hubtest.File{{Name: "f.txt", Content: []byte(content)}})
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.resolves > 6 {
				t.Errorf("%d requests: want at most 1 + 5 redirects (Retries 1)", h.resolves)
			}
			if tc.want == "" && strings.HasPrefix(tc.name, "relative") && h.auth["/renamed/x/f.txt"] != "Bearer tok" {
				t.Errorf("the relative redirect lost the token: %q", h.auth["/renamed/x/f.txt"])
			}
		})
	}
}

func TestAPIRedirectStaysOnTheEndpoint(t *testing.T) {
	t.Parallel()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the file list request left the endpoint: %s", r.URL)
	}))
	t.Cleanup(other.Close)
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
	}))
	t.Cleanup(hub.Close)
	_, err := (&hfhub.Client{Endpoint: hub.URL}).ModelInfo(context.Background(), "acme/x", "", nil)
	if err == nil || !strings.Contains(err.Error(), "to another host") {
		t.Fatalf("want the redirect refused: %v", err)
	}
}
