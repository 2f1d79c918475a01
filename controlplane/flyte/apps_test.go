package flyte_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
)

// appServer is an app behind a public URL: it records what it is sent and answers by path.
type appServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
	body [][]byte
}

func startApp(t *testing.T) *appServer {
	a := &appServer{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.seen = append(a.seen, r)
		a.body = append(a.body, b)
		a.mu.Unlock()
		switch r.URL.Path {
		case "/svc/echo":
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "query": r.URL.RawQuery, "body": string(b)})
		case "/svc/redirect":
			http.Redirect(w, r, "/svc/elsewhere", http.StatusFound)
		case "/svc/big":
			_, _ = w.Write([]byte(strings.Repeat("x", 4096)))
		case "/svc/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		case "/svc/teapot":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusTeapot)
			_, _ = w.Write([]byte("short and stout"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *appServer) last(t *testing.T) (*http.Request, string) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) == 0 {
		t.Fatal("the app received nothing")
	}
	return a.seen[len(a.seen)-1], string(a.body[len(a.body)-1])
}

func (a *appServer) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.seen)
}

func appRef(name string) controlplane.AppRef { return controlplane.AppRef{Name: name} }

func TestGetApp(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{})
	s.AddApp(project, domain, "web", "https://web.apps.example", true)
	s.AddApp(project, domain, "idle", "https://idle.apps.example", false)
	b := open(t, s, nil)
	ctx := callerCtx(t)
	web, err := b.GetApp(ctx, appRef("web"))
	if err != nil {
		t.Fatal(err)
	}
	want := controlplane.App{Name: "web", Endpoint: "https://web.apps.example", Active: true, URL: "http://127.0.0.1:1/app/web"}
	if web != want {
		t.Errorf("web = %+v\nwant  %+v", web, want)
	}
	idle, err := b.GetApp(ctx, appRef("idle"))
	if err != nil || idle.Active || !idle.Deactivated || idle.Endpoint != "" {
		t.Errorf("idle = %+v %v: a stopped app has no ingress", idle, err)
	}
	if _, err := b.GetApp(ctx, appRef("nope")); controlplane.CodeOf(err) != controlplane.CodeNotFound || !strings.Contains(controlplane.MessageOf(err), "nope") {
		t.Errorf("unknown app: %v", err)
	}
	body := body(t, s.CallsTo(pGetApp)[0])
	if at(body, "appId", "name") != "web" || at(body, "appId", "project") != project || at(body, "appId", "domain") != domain {
		t.Errorf("Get body %v", body)
	}
	console := open(t, s, func(c *flyte.Config) { c.ConsoleURL = "https://flyte.example/" })
	if web, _ := console.GetApp(ctx, appRef("web")); web.URL != "https://flyte.example/v2/domain/test/project/conformance/apps/web" {
		t.Errorf("console url %s", web.URL)
	}
}

func TestSetAppActive(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{})
	s.AddApp(project, domain, "web", "https://web.apps.example", true)
	s.AddApp(project, domain, "idle", "https://idle.apps.example", false)
	b := open(t, s, func(c *flyte.Config) { c.AppPollInterval = 5 * time.Millisecond })
	ctx := callerCtx(t)

	// Without wait: the update is made, and the answer is the app as it is right after.
	app, err := b.SetAppActive(ctx, controlplane.SetAppActiveRequest{App: appRef("idle"), Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if status, updates := s.AppStatus(project, domain, "idle"); updates != 1 || (status != "DEPLOYING" && status != "ACTIVE") {
		t.Errorf("idle after activate: %s, %d updates", status, updates)
	}
	if app.Name != "idle" || app.Revision != 2 {
		t.Errorf("activate answer %+v", app)
	}
	upd := body(t, s.CallsTo(pUpdateApp)[0])
	if at(upd, "app", "spec", "desiredState") != "DESIRED_STATE_ACTIVE" || at(upd, "app", "spec", "container", "image") == nil ||
		!strings.Contains(at(upd, "reason").(string), "activate") {
		t.Errorf("Update body %v: want the whole app back with the desired state", upd)
	}

	// With wait: the answer comes once the app is stopped.
	app, err = b.SetAppActive(ctx, controlplane.SetAppActiveRequest{App: appRef("web"), Active: false, Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if app.Active || !app.Deactivated || app.Endpoint != "" {
		t.Errorf("web after deactivate and wait: %+v", app)
	}
	if status, _ := s.AppStatus(project, domain, "web"); status != "STOPPED" {
		t.Errorf("web is %s", status)
	}
	if len(s.CallsTo(pGetApp)) < 3 {
		t.Errorf("%d Get calls: waiting reads the app", len(s.CallsTo(pGetApp)))
	}

	// Already in the wanted state: no update.
	before := len(s.CallsTo(pUpdateApp))
	if _, err := b.SetAppActive(ctx, controlplane.SetAppActiveRequest{App: appRef("web"), Active: false}); err != nil {
		t.Fatal(err)
	}
	if n := len(s.CallsTo(pUpdateApp)); n != before {
		t.Errorf("an app already stopped was updated")
	}
	if _, err := b.SetAppActive(ctx, controlplane.SetAppActiveRequest{App: appRef("nope"), Active: true}); controlplane.CodeOf(err) != controlplane.CodeNotFound {
		t.Errorf("unknown app: %v", err)
	}
}

func TestSetAppActiveWaitTimesOut(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{AppTransition: time.Hour})
	s.AddApp(project, domain, "idle", "https://idle.apps.example", false)
	b := open(t, s, func(c *flyte.Config) { c.AppPollInterval, c.AppWaitTimeout = 5*time.Millisecond, 50*time.Millisecond })
	_, err := b.SetAppActive(callerCtx(t), controlplane.SetAppActiveRequest{App: appRef("idle"), Active: true, Wait: true})
	if controlplane.CodeOf(err) != controlplane.CodeDeadlineExceeded || !strings.Contains(controlplane.MessageOf(err), "deploying") {
		t.Fatalf("%v (%s), want deadline exceeded naming the app's status", err, controlplane.CodeOf(err))
	}
}

func TestCallApp(t *testing.T) {
	t.Parallel()
	app := startApp(t)
	s := startFake(t, flytetest.Options{})
	s.AddApp(project, domain, "web", app.URL+"/svc/", true)
	s.AddApp(project, domain, "trusted", app.URL+"/svc", true)
	s.AddApp(project, domain, "idle", app.URL+"/svc", false)
	s.AddApp(project, domain, "gone", "http://127.0.0.1:1", true)
	b := open(t, s, func(c *flyte.Config) {
		c.ForwardCredentialsApps = []string{"trusted"}
		c.CallAppMaxResponseBytes = 1024
	})
	// A backend of its own for the timeout, so that a slow machine does not fail the rest.
	impatient := open(t, s, func(c *flyte.Config) { c.CallAppTimeout = 100 * time.Millisecond })
	creds := controlplane.Credentials{Authorization: "Bearer " + callerToken, Cookie: "flyte_session=" + callerToken}
	ctx := controlplane.WithCredentials(t.Context(), creds)

	res, err := b.CallApp(ctx, controlplane.AppCall{
		App: appRef("web"), Method: "POST", Path: "/echo", RawQuery: "x=1&y=3&z=1&z=true",
		Payload: map[string]any{"n": json.Number("9007199254740993")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 200 || res.ContentType != "application/json" {
		t.Errorf("answer %d %s", res.Status, res.ContentType)
	}
	req, sent := app.last(t)
	if req.Method != "POST" || req.URL.Path != "/svc/echo" || req.URL.RawQuery != "x=1&y=3&z=1&z=true" {
		t.Errorf("app got %s %s?%s", req.Method, req.URL.Path, req.URL.RawQuery)
	}
	if sent != `{"n":9007199254740993}` || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("app got body %s (%s)", sent, req.Header.Get("Content-Type"))
	}
	if ua := req.Header.Get("User-Agent"); ua != "flyte-webhook/hook" {
		t.Errorf("User-Agent %q", ua)
	}
	if req.Header.Get("Authorization") != "" || req.Header.Get("Cookie") != "" {
		t.Error("the caller's credentials went to an app not in forward_credentials_apps")
	}
	gets := len(s.CallsTo(pGetApp))

	// A GET sends no body, even with a payload (as the Python app, which also always sends
	// Content-Type: application/json); the app is not looked up again.
	if _, err := b.CallApp(ctx, controlplane.AppCall{App: appRef("web"), Method: "GET", Path: "/echo", Payload: map[string]any{"x": 1}}); err != nil {
		t.Fatal(err)
	}
	if req, sent := app.last(t); req.Method != "GET" || sent != "" || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET sent %q with Content-Type %q", sent, req.Header.Get("Content-Type"))
	}
	if n := len(s.CallsTo(pGetApp)); n != gets {
		t.Errorf("the app's endpoint was read again within cache_ttl")
	}

	if _, err := b.CallApp(ctx, controlplane.AppCall{App: appRef("trusted"), Method: "GET", Path: "/echo"}); err != nil {
		t.Fatal(err)
	}
	if req, _ := app.last(t); req.Header.Get("Authorization") != creds.Authorization || req.Header.Get("Cookie") != creds.Cookie {
		t.Error("the caller's credentials did not go to an app in forward_credentials_apps")
	}

	n := app.count()
	res, err = b.CallApp(ctx, controlplane.AppCall{App: appRef("web"), Method: "GET", Path: "/redirect"})
	if err != nil || res.Status != http.StatusFound || app.count() != n+1 {
		t.Errorf("redirect: %d %v after %d requests: relayed, not followed", res.Status, err, app.count()-n)
	}
	res, err = b.CallApp(ctx, controlplane.AppCall{App: appRef("web"), Method: "GET", Path: "/teapot"})
	if err != nil || res.Status != http.StatusTeapot || res.ContentType != "text/plain" || string(res.Body) != "short and stout" {
		t.Errorf("teapot: %+v %v", res, err)
	}

	cases := []struct {
		name string
		call controlplane.AppCall
		code controlplane.Code
	}{
		{"too large", controlplane.AppCall{App: appRef("web"), Method: "GET", Path: "/big"}, controlplane.CodeBadGateway},

		{"not active", controlplane.AppCall{App: appRef("idle"), Method: "GET", Path: "/echo"}, controlplane.CodeConflict},
		{"unreachable", controlplane.AppCall{App: appRef("gone"), Method: "GET", Path: "/"}, controlplane.CodeBadGateway},
		{"unknown app", controlplane.AppCall{App: appRef("nope"), Method: "GET", Path: "/"}, controlplane.CodeNotFound},
		{"another host", controlplane.AppCall{App: appRef("web"), Method: "GET", Path: "//evil.example/x"}, controlplane.CodeInvalidInput},
		{"dot segments", controlplane.AppCall{App: appRef("web"), Method: "GET", Path: "/a/../../b"}, controlplane.CodeInvalidInput},
		{"bad query", controlplane.AppCall{App: appRef("web"), Method: "GET", Path: "/echo", RawQuery: "q=%zz"}, controlplane.CodeInvalidInput},
		{"query in the path", controlplane.AppCall{App: appRef("web"), Method: "GET", Path: "/echo?x=1"}, controlplane.CodeInvalidInput},
		{"path not clean", controlplane.AppCall{App: appRef("web"), Method: "GET", Path: "echo"}, controlplane.CodeInvalidInput},
		{"bad method", controlplane.AppCall{App: appRef("web"), Method: "GE T", Path: "/echo"}, controlplane.CodeInvalidInput},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := b.CallApp(ctx, c.call)
			if controlplane.CodeOf(err) != c.code {
				t.Errorf("%v (%s), want %s", err, controlplane.CodeOf(err), c.code)
			}
		})
	}
	_, err = impatient.CallApp(ctx, controlplane.AppCall{App: appRef("web"), Method: "GET", Path: "/slow"})
	if controlplane.CodeOf(err) != controlplane.CodeDeadlineExceeded {
		t.Errorf("too slow: %v (%s), want deadline exceeded", err, controlplane.CodeOf(err))
	}
}
