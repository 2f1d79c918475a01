package client_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	client "github.com/flyte-webhook/flyte-webhook/clients/go"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// The harness starts the real server in-process (impl.NewHandler over the local backend on
// examples/workspace.yaml) and gives clients whose transport validates every answer against
// openapi.yaml and records which operations the tests called. TestMain fails the run when an
// operation of the spec was never called through the client.

var contract struct {
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	mu     sync.Mutex
	called map[string]bool
}

func loadContract() {
	contract.once.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromFile("../../openapi.yaml")
		if err != nil {
			panic(err)
		}
		if err := doc.Validate(context.Background()); err != nil {
			panic(err)
		}
		doc.Servers = openapi3.Servers{{URL: "/"}}
		contract.router, err = gorillamux.NewRouter(doc)
		if err != nil {
			panic(err)
		}
		contract.doc = doc
		contract.called = map[string]bool{}
	})
}

func TestMain(m *testing.M) {
	flag.Parse()
	loadContract()
	code := m.Run()
	// Only a full run has to call everything (not `go test -run X`).
	if code == 0 && flag.Lookup("test.run").Value.String() == "" {
		var missing []string
		for _, item := range contract.doc.Paths.Map() {
			for _, op := range item.Operations() {
				if !contract.called[op.OperationID] {
					missing = append(missing, op.OperationID)
				}
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: operations never called through the client: %v\n", missing)
			code = 1
		}
	}
	os.Exit(code)
}

// contractTransport validates each answer against the spec (declared status, headers, body
// schema) and records the operation. lax skips the validation, for answers that by design are
// not the spec's (the plain 404 of an operation a deployment does not enable).
type contractTransport struct {
	t    testing.TB
	next http.RoundTripper
	lax  bool
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
	route, params, ferr := contract.router.FindRoute(req)
	if ferr != nil {
		c.t.Errorf("%s %s: not an operation of openapi.yaml: %v", req.Method, req.URL.Path, ferr)
		return res, nil
	}
	contract.mu.Lock()
	contract.called[route.Operation.OperationID] = true
	contract.mu.Unlock()
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	if c.lax {
		return res, nil
	}
	vreq := req.Clone(req.Context())
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: vreq, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status:  res.StatusCode,
		Header:  res.Header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		c.t.Errorf("%s %s → %d does not match openapi.yaml: %v\nbody: %s", req.Method, req.URL.Path, res.StatusCode, err, body)
	}
	return res, nil
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
