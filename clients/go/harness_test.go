package client_test

import (
	"bytes"
	"context"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/flyte-webhook/flyte-webhook/api/apitest"
	client "github.com/flyte-webhook/flyte-webhook/clients/go"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// The harness starts the real server in-process (impl.NewHandler over the local backend on
// examples/workspace.yaml) and gives clients whose transport validates every answer against
// openapi.yaml and records which operations the tests called. TestMain fails the run when an
// operation of the spec was never called through the client.

var contract *apitest.Contract

func TestMain(m *testing.M) {
	// gin prints a warning and every route to stdout in its default debug mode; the
	// library leaves the mode to its program (cmd/flyte-webhook sets release mode).
	gin.SetMode(gin.ReleaseMode)
	os.Exit(apitest.Main(m, &contract, "called through the client"))
}

// contractTransport validates each answer against the spec (declared status, headers, body
// schema) and records the operation. lax skips the validation, for answers that by design are
// not the spec's (the plain 404 of an operation a deployment does not enable).
type contractTransport struct {
	t    testing.TB
	next http.RoundTripper
	lax  bool
	// streams, when set, keeps the event streams read.
	streams *streamLog
}

func (c contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	res, err := c.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt == "text/event-stream" {
		// A stream is read as it comes: it is checked when it is closed.
		res.Body = &checkedStream{c: c, req: req, reqBody: reqBody, res: res, body: res.Body}
		return res, nil
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	op, cerr := contract.Check(req, reqBody, res.StatusCode, res.Header, body)
	if op == "" {
		c.t.Errorf("%s %s: not an operation of openapi.yaml", req.Method, req.URL.Path)
		return res, nil
	}
	contract.Record(op)
	if cerr != nil && !c.lax {
		c.t.Error(cerr)
	}
	return res, nil
}

// checkedStream passes an event stream on as it is read and, when it is closed, checks what
// was read against the spec (up to its last whole event: a stream cut by the reader or a
// dropped connection ends anywhere) and records the operation.
type checkedStream struct {
	c       contractTransport
	req     *http.Request
	reqBody []byte
	res     *http.Response
	body    io.ReadCloser
	mu      sync.Mutex
	seen    bytes.Buffer
	closed  bool
}

func (s *checkedStream) Read(p []byte) (int, error) {
	n, err := s.body.Read(p)
	s.mu.Lock()
	s.seen.Write(p[:n])
	s.mu.Unlock()
	return n, err
}

func (s *checkedStream) Close() error {
	err := s.body.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return err
	}
	s.closed = true
	seen := s.seen.Bytes()
	var whole []byte
	if i := bytes.LastIndex(seen, []byte("\n\n")); i >= 0 {
		whole = seen[:i+2]
	}
	op, cerr := contract.Check(s.req, s.reqBody, s.res.StatusCode, s.res.Header, whole)
	if op == "" {
		s.c.t.Errorf("%s %s: not an operation of openapi.yaml", s.req.Method, s.req.URL.Path)
		return err
	}
	contract.Record(op)
	if cerr != nil && !s.c.lax {
		s.c.t.Error(cerr)
	}
	if s.c.streams != nil {
		s.c.streams.add(string(seen))
	}
	return err
}

// streamLog keeps the streams a client read, as sent (heartbeats and all).
type streamLog struct {
	mu  sync.Mutex
	all []string
}

func (l *streamLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, s)
}

func (l *streamLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "")
}

// server is one running webhook: its URL, a valid token and the backend under it.
type server struct {
	URL     string
	Token   string
	Backend *local.Backend
}

func workspacePath() string {
	p, err := filepath.Abs("../../examples/workspace.yaml")
	if err != nil {
		panic(err)
	}
	return p
}

// openBackend opens the local backend on the example workspace in dataDir, accepting token.
func openBackend(dataDir, token string) (*local.Backend, error) {
	v, err := identity.New(identity.Config{Tokens: []identity.Token{
		{SHA256: identity.HashToken(token), Subject: "tester", Name: "Tester"},
	}})
	if err != nil {
		return nil, err
	}
	return local.Open(context.Background(), local.Config{
		Workspace:  workspacePath(),
		DataDir:    dataDir,
		AbortGrace: 2 * time.Second,
		Verifier:   v,
		// No builder: build runs fail at once, saying so, whatever is installed here (the
		// builds themselves are tested in controlplane/local and cmd/flyte-webhook).
		Builds: local.BuildConfig{Builder: "/nonexistent/buildah"},
	})
}

// startServer starts the webhook configured by cfg over a fresh backend (or over b, to share
// one backend's runs between differently configured webhooks).
func startServer(t testing.TB, cfg impl.Config, b *local.Backend, token string) *server {
	t.Helper()
	if b == nil {
		tok, _, err := identity.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		token = tok
		b, err = openBackend(t.TempDir(), token)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = b.Close(ctx)
		})
	}
	h, err := impl.NewHandler(cfg, b)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &server{URL: ts.URL, Token: token, Backend: b}
}

// newClient returns a client of s with token (none when ""), validating every answer.
func newClient(t testing.TB, s *server, token string, opts ...client.ClientOption) *client.ClientWithResponses {
	t.Helper()
	hc := &http.Client{Transport: contractTransport{t: t, next: http.DefaultTransport}}
	c, err := client.New(s.URL, token, append([]client.ClientOption{client.WithHTTPClient(hc)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func laxClient(t testing.TB, s *server, token string) *client.ClientWithResponses {
	t.Helper()
	hc := &http.Client{Transport: contractTransport{t: t, next: http.DefaultTransport, lax: true}}
	c, err := client.New(s.URL, token, client.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ptr[T any](v T) *T { return &v }
