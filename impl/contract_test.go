package impl_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/flyte-webhook/flyte-webhook/api"
	"github.com/flyte-webhook/flyte-webhook/api/apitest"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// The contract harness: every response a test receives through call() is validated against
// the full openapi.yaml, and TestMain fails the run when an operation was never exercised
// with a 2xx answer.
var contract *apitest.Contract

func TestMain(m *testing.M) {
	// gin prints a warning and every route to stdout in its default debug mode; the
	// library leaves the mode to its program (cmd/flyte-webhook sets release mode).
	gin.SetMode(gin.ReleaseMode)
	os.Exit(apitest.Main(m, &contract, "exercised with a 2xx answer"))
}

// response is what call() returns: status, headers, raw body and the body decoded as JSON.
type response struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

func (r response) str(key string) string {
	s, _ := r.JSON[key].(string)
	return s
}

// testServer is the whole HTTP stack over a fake backend on a real loopback listener.
type testServer struct {
	*httptest.Server
	fake    *fakeBackend
	enabled map[string]bool
}

func newServer(t *testing.T, cfg impl.Config) *testServer {
	t.Helper()
	fake := newFake()
	h, err := impl.NewHandler(cfg, fake)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	enabled, err := contract.Catalog.Select(cfg.EndpointGroups, cfg.Endpoints)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testServer{Server: srv, fake: fake, enabled: enabled}
}

const token = "Bearer t0ken"

// noRedirects answers each response as it came: call_app relays an app's redirects, which a
// test looks at rather than follows.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// call sends a request (with a bearer token unless headers say otherwise; pass
// "Authorization": "" to send none) and validates the answer against the spec.
func (s *testServer) call(t *testing.T, method, target string, body any, headers map[string]string) response {
	t.Helper()
	var rd io.Reader
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.URL+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", token)
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	out := response{Status: res.StatusCode, Header: res.Header}
	if out.Body, err = io.ReadAll(res.Body); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(out.Body, &out.JSON)
	if strings.HasPrefix(res.Header.Get("Content-Type"), api.ProblemContentType) {
		checkProblem(t, out)
	}
	validateAgainstSpec(t, req, raw, out, s.enabled)
	return out
}

// validateAgainstSpec checks the answer of every request the spec routes (404s for unrouted
// paths and the docs are outside the spec).
func validateAgainstSpec(t *testing.T, req *http.Request, raw []byte, out response, enabled map[string]bool) {
	t.Helper()
	op, err := contract.Check(req, raw, out.Status, out.Header, out.Body)
	switch {
	case op == "":
	case !enabled[op]:
		// A disabled operation is not routed at all: outside the served spec.
		if out.Status != http.StatusNotFound && out.Status != http.StatusMethodNotAllowed {
			t.Errorf("disabled operation %s answered %d", op, out.Status)
		}
	case err != nil:
		t.Error(err)
	case out.Status >= 200 && out.Status < 300:
		contract.Record(op)
	}
}

// checkProblem holds every problem+json answer to RFC 9457 and our additions.
func checkProblem(t *testing.T, r response) {
	t.Helper()
	if int(r.JSON["status"].(float64)) != r.Status {
		t.Errorf("problem status %v != HTTP status %d", r.JSON["status"], r.Status)
	}
	if r.str("detail") == "" || r.str("title") == "" || r.str("type") == "" {
		t.Errorf("problem lacks detail/title/type: %s", r.Body)
	}
	if id := r.str("request_id"); id == "" || id != r.Header.Get("X-Request-Id") {
		t.Errorf("problem request_id %q does not match X-Request-Id %q", id, r.Header.Get("X-Request-Id"))
	}
	if r.Status == http.StatusUnauthorized && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without WWW-Authenticate: Bearer")
	}
}

func expectStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d; body: %s", r.Status, want, r.Body)
	}
}
