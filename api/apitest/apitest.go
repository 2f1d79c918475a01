// Package apitest holds the contract checker the HTTP tests share: it validates each answer
// against the full openapi.yaml (declared status, headers, body schema) and records which
// operations the tests exercised, so a suite can fail when one was never reached.
package apitest

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/flyte-webhook/flyte-webhook/api"
)

// Contract checks answers against the spec and records exercised operations. Safe for
// concurrent use.
type Contract struct {
	// Doc is the whole spec, unfiltered; Catalog its operations.
	Doc     *openapi3.T
	Catalog *api.Catalog
	router  routers.Router

	mu        sync.Mutex
	exercised map[string]bool
}

// New loads the embedded spec.
func New() (*Contract, error) {
	doc, err := api.LoadSpec()
	if err != nil {
		return nil, err
	}
	catalog, err := api.NewCatalog(doc)
	if err != nil {
		return nil, err
	}
	doc.Servers = openapi3.Servers{{URL: "/"}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("apitest: route the spec: %w", err)
	}
	return &Contract{Doc: doc, Catalog: catalog, router: router, exercised: map[string]bool{}}, nil
}

// Check validates one exchange: the request as sent (with its body, which may be nil) and
// the answer. It returns the operationId the request routes to, "" when the spec has no such
// operation (then nothing is checked), and an error when the answer does not fit the spec.
func (c *Contract) Check(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) (string, error) {
	vreq := req.Clone(context.Background())
	if reqBody != nil {
		vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		return "", nil
	}
	noAuth := openapi3filter.NoopAuthenticationFunc
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: vreq, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: noAuth},
		},
		Status:  status,
		Header:  header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: noAuth},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return route.Operation.OperationID, fmt.Errorf("%s %s → %d does not fit openapi.yaml: %w\nbody: %s", req.Method, req.URL.RequestURI(), status, err, body)
	}
	return route.Operation.OperationID, nil
}

// Record marks an operation as exercised.
func (c *Contract) Record(operationID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.exercised[operationID] = true
}

// Missing returns the operationIds never recorded, sorted.
func (c *Contract) Missing() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, o := range c.Catalog.Operations {
		if !c.exercised[o.ID] {
			out = append(out, o.ID)
		}
	}
	sort.Strings(out)
	return out
}

// FullRun reports whether the test binary runs all its tests (no -run filter, not -short),
// the only case in which every operation has to be exercised. Call it after flag.Parse.
func FullRun() bool {
	f := flag.Lookup("test.run")
	s := flag.Lookup("test.short")
	return f != nil && f.Value.String() == "" && (s == nil || s.Value.String() != "true")
}

// Main is a TestMain for contract-checked packages: it sets *c to a fresh Contract, runs the
// tests, and fails a full run that left an operation of the spec unexercised (what says what
// exercising means there, for the message). It returns the exit code for os.Exit.
func Main(m *testing.M, c **Contract, what string) int {
	flag.Parse()
	var err error
	if *c, err = New(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if missing := (*c).Missing(); code == 0 && FullRun() && len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "contract: operations never %s: %s\n", what, strings.Join(missing, ", "))
		code = 1
	}
	return code
}
