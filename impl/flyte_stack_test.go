package impl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/api"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// The flyte tests run the whole handler (impl.NewHandler) over a flyte.Backend connected to
// an in-test Flyte 2 control plane (flytetest) that speaks the real wire format, on real
// loopback listeners. Every answer is validated against openapi.yaml like the other HTTP
// tests'; the operations answered with a 2xx are recorded per test (coverage), not in the
// package's contract, so the fake-backend tests' own coverage check stays theirs.

// Where the fixtures live in the fake, and the bearer tokens it knows.
const (
	flyteProject = "flytesnacks"
	flyteDomain  = "development"
	flyteCI      = "tok-ci"
	flyteOther   = "tok-dashboard"
	flyteDeploy  = "tok-deployer"
	flyteHook    = "flyte-hook" // the webhook's name
)

var flyteUsers = map[string]flytetest.User{
	flyteCI:     {Subject: "ci", Name: "CI pipeline"},
	flyteOther:  {Subject: "dashboard", GivenName: "Dash", FamilyName: "Board"},
	flyteDeploy: {Subject: "deployer"},
}

// The stand-ins for the image build and model prefetch tasks, under their default names.
var (
	flyteBuildTask = flytetest.StringsTask("system", "production", "build-image",
		[]string{"base_image", "python_version", "flyte_version", "name"}, []string{"pip_packages", "apt_packages", "platform"})
	flytePrefetchTask = flytetest.StringsTask("system", "production", "prefetch-hf-model",
		[]string{"repo", "raw_data_path", "artifact_name", "architecture", "task", "serial_format", "model_type",
			"short_description", "hf_token_key", "cpu", "memory", "disk"}, []string{"modality"})
)

// stackOptions adjusts a flyteStack.
type stackOptions struct {
	impl        impl.Config
	fake        flytetest.Options
	flyte       func(*flyte.Config)
	systemTasks bool // deploy the build and prefetch stand-ins
}

// flyteStack is the webhook over the flyte backend over the fake, each on its own loopback
// listener.
type flyteStack struct {
	url     string
	fake    *flytetest.Server
	enabled map[string]bool
	cov     *coverage
	logs    *lockedBuffer // both the handler's and the backend's logs, at debug level
}

func newFlyteStack(t *testing.T, o stackOptions, cov *coverage) *flyteStack {
	t.Helper()
	if o.fake.Users == nil {
		o.fake.Users = flyteUsers
	}
	fake := flytetest.Start(t, o.fake)
	fake.Deploy(t, flyteDeploy, flytetest.ConformanceTasks(flyteProject, flyteDomain)...)
	if o.systemTasks {
		fake.Deploy(t, flyteDeploy, flyteBuildTask, flytePrefetchTask)
	}
	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	// The listener first, so the backend knows the webhook's URL (run urls).
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	fcfg := flyte.Config{
		Endpoint: fake.URL, Project: flyteProject, Domain: flyteDomain, Name: flyteHook, BaseURL: base,
		AppPollInterval: 10 * time.Millisecond, AppWaitTimeout: 10 * time.Second, Logger: log,
	}
	if o.flyte != nil {
		o.flyte(&fcfg)
	}
	backend, err := flyte.Open(t.Context(), fcfg)
	if err != nil {
		t.Fatalf("flyte.Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := backend.Close(ctx); err != nil {
			t.Errorf("closing the backend: %v", err)
		}
	})
	icfg := o.impl
	icfg.Name, icfg.Logger = flyteHook, log
	h, err := impl.NewHandler(icfg, backend)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	enabled, err := contract.Catalog.Select(icfg.EndpointGroups, icfg.Endpoints)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = h
	srv.Start()
	t.Cleanup(srv.Close)
	return &flyteStack{url: base, fake: fake, enabled: enabled, cov: cov, logs: logs}
}

// call sends a request with the CI caller's bearer token unless headers say otherwise (""
// removes a header), validates the answer against openapi.yaml, and records the operation
// when it answered 2xx.
func (s *flyteStack) call(t *testing.T, method, target string, body any, headers map[string]string) response {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	var rd io.Reader
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.url+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+flyteCI)
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := http.DefaultClient.Do(req)
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
	op, err := contract.Check(req, raw, out.Status, out.Header, out.Body)
	switch {
	case op == "":
	case !s.enabled[op]:
		if out.Status != http.StatusNotFound && out.Status != http.StatusMethodNotAllowed {
			t.Errorf("disabled operation %s answered %d", op, out.Status)
		}
	case err != nil:
		t.Error(err)
	case out.Status >= 200 && out.Status < 300 && s.cov != nil:
		s.cov.record(op)
	}
	return out
}

// waitRun polls GET /run/{name} until the run is done and returns its last answer.
func (s *flyteStack) waitRun(t *testing.T, name string) response {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		r := s.call(t, "GET", "/run/"+name, nil, nil)
		expectStatus(t, r, http.StatusOK)
		if r.JSON["done"] == true {
			return r
		}
	}
	t.Fatalf("run %s not done in 20s", name)
	return response{}
}

// callsTo returns the requests the fake received for a procedure since the last reset.
func (s *flyteStack) callsTo(procedure string) []flytetest.Call { return s.fake.CallsTo(procedure) }

// noSecretsLogged fails when a log line carries a credential.
func (s *flyteStack) noSecretsLogged(t *testing.T, secrets ...string) {
	t.Helper()
	logs := s.logs.String()
	if logs == "" {
		t.Error("nothing was logged: the check below would be empty")
	}
	for _, secret := range secrets {
		if strings.Contains(logs, secret) {
			t.Errorf("a credential (%q) reached the log", secret)
		}
	}
}

// coverage records the operations a test got a 2xx answer from.
type coverage struct {
	mu   sync.Mutex
	seen map[string]bool
}

func newCoverage() *coverage { return &coverage{seen: map[string]bool{}} }

func (c *coverage) record(op string) {
	c.mu.Lock()
	c.seen[op] = true
	c.mu.Unlock()
}

// missing returns the spec's operations never answered with a 2xx.
func (c *coverage) missing() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, o := range contract.Catalog.Operations {
		if !c.seen[o.ID] {
			out = append(out, o.ID)
		}
	}
	return out
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// appServer is an app behind a public URL: it answers what it was sent.
func startAppServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/echo":
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{
				"method": r.Method, "query": r.URL.RawQuery, "body": string(b),
				"authorization": r.Header.Get("Authorization"), "user_agent": r.Header.Get("User-Agent"),
			})
		case "/text":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("pong"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}
