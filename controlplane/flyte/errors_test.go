package flyte_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
)

// TestErrorCodes: every Connect code (and what proxies answer instead) maps to one
// controlplane code. The control plane's message reaches the caller only for
// invalid_argument; it stays in the error's cause for the logs.
func TestErrorCodes(t *testing.T) {
	t.Parallel()
	const secret = "db password is hunter2"
	connectErr := func(status int, code string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { flytetest.WriteConnectError(w, status, code, secret) }
	}
	plain := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { http.Error(w, secret, status) }
	}
	cases := []struct {
		name     string
		answer   http.HandlerFunc
		code     controlplane.Code
		showsMsg bool // the control plane's message reaches the caller
	}{
		{"not_found", connectErr(404, "not_found"), controlplane.CodeNotFound, false},
		{"invalid_argument", connectErr(400, "invalid_argument"), controlplane.CodeInvalidInput, true},
		{"unauthenticated", connectErr(401, "unauthenticated"), controlplane.CodeUnauthenticated, false},
		{"permission_denied", connectErr(403, "permission_denied"), controlplane.CodePermissionDenied, false},
		{"already_exists", connectErr(409, "already_exists"), controlplane.CodeConflict, false},
		{"unimplemented", connectErr(501, "unimplemented"), controlplane.CodeUnimplemented, false},
		{"unmounted service", plain(404), controlplane.CodeUnimplemented, false},
		{"unavailable", connectErr(503, "unavailable"), controlplane.CodeUnavailable, false},
		{"proxy 502", plain(502), controlplane.CodeUnavailable, false},
		{"deadline_exceeded", connectErr(504, "deadline_exceeded"), controlplane.CodeDeadlineExceeded, false},
		{"unknown", connectErr(500, "unknown"), controlplane.CodeBadGateway, false},
		{"internal", connectErr(500, "internal"), controlplane.CodeBadGateway, false},
		{"resource_exhausted", connectErr(429, "resource_exhausted"), controlplane.CodeUnavailable, false},
		{"rate limited by a proxy", plain(429), controlplane.CodeUnavailable, false},
		{"data_loss", connectErr(500, "data_loss"), controlplane.CodeBadGateway, false},
		{"answer not JSON", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("<html>" + secret))
		}, controlplane.CodeBadGateway, false},
	}
	s := startFake(t, flytetest.Options{})
	b := open(t, s, nil)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// GetTask of a pinned version is one GetTaskDetails call.
			s.Inject(pGetTask, c.answer)
			_, err := b.GetTask(callerCtx(t), ref("echo", "v"+strings.ReplaceAll(c.name, "_", "-")))
			s.Inject(pGetTask, nil)
			if got := controlplane.CodeOf(err); got != c.code {
				t.Fatalf("%v: code %s, want %s", err, got, c.code)
			}
			if shown := strings.Contains(controlplane.MessageOf(err), secret); shown != c.showsMsg {
				t.Errorf("message %q: the control plane's message shown %v, want %v", controlplane.MessageOf(err), shown, c.showsMsg)
			}
			// A Connect error's message is kept for the logs (of a plain-text answer the
			// client reads the status, not the body).
			if isConnect := !strings.Contains(c.name, " "); isConnect && !strings.Contains(err.Error(), secret) {
				t.Errorf("the cause %q lost what the control plane said", err)
			}
		})
	}
}

// TestTransportFailures: no answer, a slow answer and a huge answer.
func TestTransportFailures(t *testing.T) {
	t.Parallel()
	t.Run("connection refused", func(t *testing.T) {
		b, err := flyte.Open(t.Context(), flyte.Config{Endpoint: "http://127.0.0.1:1", Project: project, Domain: domain})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.GetRun(callerCtx(t), controlplane.RunRef{Name: "rx"}); controlplane.CodeOf(err) != controlplane.CodeUnavailable {
			t.Errorf("%v (%s), want unavailable", err, controlplane.CodeOf(err))
		}
	})
	t.Run("too slow", func(t *testing.T) {
		s := startFake(t, flytetest.Options{})
		s.Inject(pGetRun, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		})
		b := open(t, s, func(c *flyte.Config) { c.Timeout = 50 * time.Millisecond })
		_, err := b.GetRun(callerCtx(t), controlplane.RunRef{Name: "rx"})
		if controlplane.CodeOf(err) != controlplane.CodeDeadlineExceeded {
			t.Errorf("%v (%s), want deadline exceeded", err, controlplane.CodeOf(err))
		}
		if got := s.CallsTo(pGetRun)[0].Header.Get("Connect-Timeout-Ms"); got == "" {
			t.Error("the call's deadline was not sent")
		}
	})
	t.Run("too large", func(t *testing.T) {
		s := startFake(t, flytetest.Options{})
		b := open(t, s, func(c *flyte.Config) { c.MaxResponseBytes = 256 })
		_, err := b.GetTask(callerCtx(t), ref("echo", "v1"))
		if controlplane.CodeOf(err) != controlplane.CodeBadGateway {
			t.Errorf("%v (%s), want bad gateway", err, controlplane.CodeOf(err))
		}
	})
	t.Run("caller gone", func(t *testing.T) {
		s := startFake(t, flytetest.Options{})
		b := open(t, s, nil)
		ctx, cancel := context.WithCancel(callerCtx(t))
		cancel()
		_, err := b.GetRun(ctx, controlplane.RunRef{Name: "rx"})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%v, want context.Canceled in the chain", err)
		}
	})
}

func TestConfig(t *testing.T) {
	t.Parallel()
	ok := flyte.Config{Endpoint: "https://flyte.example/api", Project: "p", Domain: "d"}
	cases := []struct {
		name    string
		adjust  func(*flyte.Config)
		mention string
	}{
		{"no endpoint", func(c *flyte.Config) { c.Endpoint = "" }, "flyte.endpoint: required"},
		{"endpoint scheme", func(c *flyte.Config) { c.Endpoint = "dns:///flyte:8089" }, "flyte.endpoint"},
		{"endpoint without host", func(c *flyte.Config) { c.Endpoint = "http://" }, "flyte.endpoint"},
		{"endpoint with query", func(c *flyte.Config) { c.Endpoint = "http://flyte?x=1" }, "flyte.endpoint"},
		{"tls for plaintext", func(c *flyte.Config) {
			c.Endpoint = "http://flyte:8089"
			c.TLS.InsecureSkipVerify = true
		}, "flyte.tls"},
		{"missing ca file", func(c *flyte.Config) { c.TLS.CAFile = "/nonexistent/ca.pem" }, "flyte.tls.ca_file"},
		{"no project", func(c *flyte.Config) { c.Project = "" }, "flyte.project: required"},
		{"no domain", func(c *flyte.Config) { c.Domain = "" }, "flyte.domain: required"},
		{"bad run scope", func(c *flyte.Config) { c.RunScopes = []flyte.Scope{{Project: "p"}} }, "flyte.run_scopes[0]"},
		{"console url", func(c *flyte.Config) { c.ConsoleURL = "flyte.example" }, "flyte.console_url"},
		{"empty app name", func(c *flyte.Config) { c.ForwardCredentialsApps = []string{""} }, "flyte.forward_credentials_apps[0]"},
		{"negative timeout", func(c *flyte.Config) { c.Timeout = -time.Second }, "flyte.timeout"},
		{"negative app wait", func(c *flyte.Config) { c.AppWaitTimeout = -time.Second }, "flyte.app_wait_timeout"},
		{"negative cap", func(c *flyte.Config) { c.MaxResponseBytes = -1 }, "flyte.max_response_bytes"},
		{"half a build task", func(c *flyte.Config) { c.BuildImageTask = flyte.TaskName{Name: "b"} }, "flyte.build_image_task"},
		{"client id", func(c *flyte.Config) { c.ServiceIdentity = &flyte.ServiceIdentity{ClientSecretEnv: "X"} }, "flyte.service_identity.client_id: required"},
		{"no secret", func(c *flyte.Config) { c.ServiceIdentity = &flyte.ServiceIdentity{ClientID: "x"} }, "exactly one of client_secret_file and client_secret_env"},
		{"two secrets", func(c *flyte.Config) {
			c.ServiceIdentity = &flyte.ServiceIdentity{ClientID: "x", ClientSecretEnv: "X", ClientSecretFile: "/f"}
		}, "exactly one of"},
		{"token url", func(c *flyte.Config) {
			c.ServiceIdentity = &flyte.ServiceIdentity{ClientID: "x", ClientSecretEnv: "X", TokenURL: "ftp://x"}
		}, "flyte.service_identity.token_url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			c.adjust(&cfg)
			_, err := flyte.Open(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), c.mention) {
				t.Errorf("Open: %v, want an error naming %q", err, c.mention)
			}
		})
	}
	b, err := flyte.Open(t.Context(), ok)
	if err != nil {
		t.Fatalf("a good config: %v", err)
	}
	_ = b.Close(t.Context())
}

// TestClose: Close waits for calls in progress until its context ends, then refuses new ones;
// a second Close returns the first one's result.
func TestClose(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{})
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	s.Inject(pGetRun, func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		flytetest.WriteConnectError(w, 404, "not_found", "no")
	})
	b, err := flyte.Open(t.Context(), flyte.Config{Endpoint: s.URL, Project: project, Domain: domain})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.GetRun(callerCtx(t), controlplane.RunRef{Name: "rx"})
		done <- err
	}()
	<-entered
	short, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := b.Close(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close with a call in progress: %v, want its context's error", err)
	}
	if err := b.Close(t.Context()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a second Close: %v, want the first one's result", err)
	}
	if _, err := b.Me(callerCtx(t)); controlplane.CodeOf(err) != controlplane.CodeUnavailable {
		t.Errorf("a call after Close: %v, want unavailable", err)
	}
	close(release)
	if err := <-done; controlplane.CodeOf(err) != controlplane.CodeNotFound {
		t.Errorf("the call in progress ended with %v", err)
	}

	// With nothing in progress, Close returns at once.
	idle, err := flyte.Open(t.Context(), flyte.Config{Endpoint: s.URL, Project: project, Domain: domain})
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.Close(t.Context()); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestMe names the caller as the control plane knows them, best name first.
func TestMe(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{})
	b := open(t, s, nil)
	for token, want := range map[string]controlplane.Identity{
		callerToken: {Subject: "ci", Name: "CI pipeline"},
		otherToken:  {Subject: "dashboard", Name: "Dash Board"},
		deployToken: {Subject: "deployer", Name: "deployer@example.com"},
	} {
		ctx := controlplane.WithCallerSlot(controlplane.WithCredentials(t.Context(), controlplane.Credentials{Authorization: "Bearer " + token}))
		id, err := b.Me(ctx)
		if err != nil || id != want {
			t.Errorf("Me = %+v %v, want %+v", id, err, want)
		}
		if got := controlplane.ReportedCaller(ctx); got != want {
			t.Errorf("reported caller %+v", got)
		}
	}
}

// TestConnections: an https endpoint is trusted through ca_file and spoken to over HTTP/2;
// an http endpoint over HTTP/1.1, its connection kept for the next calls.
func TestConnections(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{TLS: true})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, s.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	b := open(t, s, func(c *flyte.Config) { c.TLS.CAFile = ca })
	for range 3 {
		if _, err := b.Me(callerCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range s.CallsTo(pUserInfo) {
		if c.Proto != "HTTP/2.0" {
			t.Errorf("over TLS: %s, want HTTP/2", c.Proto)
		}
	}
	untrusted := open(t, s, nil)
	if _, err := untrusted.Me(callerCtx(t)); err == nil {
		t.Error("a certificate nobody vouches for was accepted")
	}
	insecure := open(t, s, func(c *flyte.Config) { c.TLS.InsecureSkipVerify = true })
	if _, err := insecure.Me(callerCtx(t)); err != nil {
		t.Errorf("insecure_skip_verify: %v", err)
	}

	plain := startFake(t, flytetest.Options{})
	b = open(t, plain, nil)
	for range 3 {
		if _, err := b.Me(callerCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	calls := plain.CallsTo(pUserInfo)
	for _, c := range calls {
		if c.Proto != "HTTP/1.1" || c.RemoteAddr != calls[0].RemoteAddr {
			t.Errorf("plaintext call over %s from %s, want HTTP/1.1 on one kept connection (%s)", c.Proto, c.RemoteAddr, calls[0].RemoteAddr)
		}
	}
}
