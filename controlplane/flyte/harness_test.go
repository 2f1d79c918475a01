package flyte_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/controlplanetest"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
)

// The fixtures live in this project and domain of the fake control plane.
const (
	project = "conformance"
	domain  = "test"
)

// Bearer tokens the fake knows: the suite's two callers and whoever deploys the fixtures.
const (
	callerToken = "tok-ci"
	otherToken  = "tok-dashboard"
	deployToken = "tok-deployer"
)

var users = map[string]flytetest.User{
	callerToken: {Subject: "ci", Name: "CI pipeline"},
	otherToken:  {Subject: "dashboard", GivenName: "Dash", FamilyName: "Board"},
	deployToken: {Subject: "deployer", Email: "deployer@example.com"},
}

// callerCtx carries the suite's caller's credentials.
func callerCtx(t testing.TB) context.Context {
	return controlplane.WithCredentials(t.Context(), controlplane.Credentials{Authorization: "Bearer " + callerToken})
}

// startFake starts a fake control plane with the conformance fixtures deployed.
func startFake(t testing.TB, opts flytetest.Options) *flytetest.Server {
	t.Helper()
	if opts.Users == nil {
		opts.Users = users
	}
	s := flytetest.Start(t, opts)
	s.Deploy(t, deployToken, flytetest.ConformanceTasks(project, domain)...)
	return s
}

// open opens a backend on the fake, closed when the test ends.
func open(t testing.TB, s *flytetest.Server, adjust func(*flyte.Config)) *flyte.Backend {
	t.Helper()
	cfg := flyte.Config{Endpoint: s.URL, Project: project, Domain: domain, Name: "hook", BaseURL: "http://127.0.0.1:1"}
	if adjust != nil {
		adjust(&cfg)
	}
	b, err := flyte.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

func conformanceHarness() controlplanetest.Harness {
	const concurrency = 4
	return controlplanetest.Harness{
		New: func(t *testing.T) controlplane.Backend {
			s := startFake(t, flytetest.Options{Concurrency: concurrency})
			// The suite's fixture app, served by a real HTTP server as its public URL, and
			// its fixture trigger (see the controlplanetest package doc).
			s.AddApp(project, domain, "echo-app", echoApp(t), false)
			s.AddTrigger(project, domain, "echo", "nightly", false)
			return open(t, s, nil)
		},
		Domain:      domain,
		Project:     project,
		Caller:      controlplanetest.Caller{Credentials: controlplane.Credentials{Authorization: "Bearer " + callerToken}, Subject: "ci"},
		OtherCaller: controlplanetest.Caller{Credentials: controlplane.Credentials{Cookie: "flyte_session=" + otherToken}, Subject: "dashboard"},
		BadCredentials: []controlplane.Credentials{
			{},
			{Authorization: "Bearer " + callerToken + "x"},
			{Authorization: "Basic " + callerToken},
			{Cookie: "session=" + callerToken},
		},
		Capabilities: []controlplanetest.Capability{controlplanetest.Tasks, controlplanetest.Runs, controlplanetest.Apps, controlplanetest.Triggers, controlplanetest.Lists, controlplanetest.Follow},
		Concurrency:  concurrency,
		// Its ListRuns filters by one task, not by a list of them (see lists.go).
		ListAllowlistsNeedTask: true,
	}
}

// echoApp serves the suite's echo-app fixture on 127.0.0.1 and returns its URL.
func echoApp(t testing.TB) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		query := map[string]string{}
		for k, v := range r.URL.Query() {
			query[k] = v[0]
		}
		var body any
		if data, _ := io.ReadAll(r.Body); len(data) > 0 {
			body = json.RawMessage(data)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "path": r.URL.Path, "query": query,
			"body": body, "authorization": r.Header.Get("Authorization")})
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "hello")
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.PathValue("code"))
		if err != nil || code < 200 || code > 599 {
			code = http.StatusBadRequest
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]int{"status": code})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestConformance(t *testing.T) {
	controlplanetest.Run(t, conformanceHarness())
}

// directCall posts a Connect JSON request with the caller's token, as any client would, and
// returns the answer's body.
func directCall(t testing.TB, url, body string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+callerToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s %s %v", url, res.Status, b, err)
	}
	return b
}
