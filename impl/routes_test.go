package impl_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/impl"
)

// head sends a HEAD request without credentials. HEAD is outside the spec's operations (see
// api.HeadExtension), so there is no answer of the spec's to check it against: the test
// compares it with the GET's.
func head(t *testing.T, url string) *http.Response {
	t.Helper()
	res, err := http.Head(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if len(b) != 0 {
		t.Errorf("HEAD %s answered a body: %q", url, b)
	}
	return res
}

// TestHeadHealth: HEAD /health answers like GET without the body and without credentials,
// whenever health is enabled, and only then; other operations do not answer HEAD.
func TestHeadHealth(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	s := newServer(t, impl.Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	get := s.call(t, "GET", "/health", nil, map[string]string{"Authorization": ""})
	expectStatus(t, get, http.StatusOK)
	res := head(t, s.URL+"/health")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("HEAD /health: %d", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); ct != get.Header.Get("Content-Type") {
		t.Errorf("HEAD Content-Type %q, GET %q", ct, get.Header.Get("Content-Type"))
	}
	if cl := res.Header.Get("Content-Length"); cl != strconv.Itoa(len(get.Body)) {
		t.Errorf("HEAD Content-Length %q, GET's body has %d bytes", cl, len(get.Body))
	}
	if res.Header.Get("X-Request-Id") == "" {
		t.Error("HEAD answer without X-Request-Id")
	}
	if !strings.Contains(logs.String(), `"method":"HEAD","path":"/health","status":200`) ||
		!strings.Contains(logs.String(), `"operation_id":"health"`) {
		t.Errorf("no access line naming the operation for HEAD: %s", logs.String())
	}

	if res := head(t, s.URL+"/me"); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("HEAD /me: %d, want 405 (only health answers HEAD)", res.StatusCode)
	}

	for _, c := range []struct {
		name string
		cfg  impl.Config
		want int
	}{
		{"only health", impl.Config{Endpoints: []string{"health"}}, http.StatusOK},
		{"core", impl.Config{EndpointGroups: []string{"core"}}, http.StatusOK},
		{"health disabled", impl.Config{EndpointGroups: []string{"task"}}, http.StatusNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, c.cfg)
			if res := head(t, s.URL+"/health"); res.StatusCode != c.want {
				t.Errorf("HEAD /health: %d, want %d", res.StatusCode, c.want)
			}
		})
	}
}

// TestDocsRedirects: / and /redoc (where the Python app serves ReDoc) lead to /docs/, without
// credentials, whatever operations are enabled.
func TestDocsRedirects(t *testing.T) {
	t.Parallel()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, cfg := range []impl.Config{{}, {EndpointGroups: []string{"task"}}} {
		s := newServer(t, cfg)
		for _, path := range []string{"/", "/redoc"} {
			res, err := noFollow.Get(s.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/docs/" {
				t.Errorf("GET %s: %d to %q, want 302 to /docs/", path, res.StatusCode, res.Header.Get("Location"))
			}
			res, err = http.Get(s.URL + path) // followed: the Swagger UI page
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || !strings.Contains(string(b), "swagger-ui") {
				t.Errorf("GET %s followed: %d", path, res.StatusCode)
			}
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
