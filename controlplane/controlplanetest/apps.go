package controlplanetest

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// fixtureApp is the app every backend declaring Apps serves (see the package doc).
const fixtureApp = "echo-app"

// apps: an app's life from inactive to active and back, and calls to it. The calls reach
// the backend as the HTTP layer hands them over: a path checked by controlplane.AppPath and
// a query built by controlplane.MergeQuery.
func (s *suite) apps(t *testing.T) {
	t.Run("NotFound", s.appNotFound)
	t.Run("Lifecycle", s.appLifecycle)
	t.Run("ActivateWithoutWait", s.appActivateWithoutWait)
}

func (s *suite) app(name string) controlplane.AppRef {
	return controlplane.AppRef{Domain: s.h.Domain, Project: s.h.Project, Name: name}
}

func (s *suite) appNotFound(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	ctx := s.ctx()
	_, err := b.GetApp(ctx, s.app("no-such-app"))
	wantCode(t, err, controlplane.CodeNotFound, "no-such-app")
	_, err = b.SetAppActive(ctx, controlplane.SetAppActiveRequest{App: s.app("no-such-app"), Active: true, Wait: true})
	wantCode(t, err, controlplane.CodeNotFound, "no-such-app")
	_, err = b.CallApp(ctx, controlplane.AppCall{App: s.app("no-such-app"), Method: "GET", Path: "/echo"})
	wantCode(t, err, controlplane.CodeNotFound, "no-such-app")
	// The fixture app, looked for in another project, is not there.
	_, err = b.GetApp(ctx, controlplane.AppRef{Domain: s.h.Domain, Project: s.h.Project + "-elsewhere", Name: fixtureApp})
	wantCode(t, err, controlplane.CodeNotFound, fixtureApp)
}

func (s *suite) appLifecycle(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	ctx := s.ctx()
	ref := s.app(fixtureApp)

	a, err := b.GetApp(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != fixtureApp || a.Active || a.URL == "" {
		t.Fatalf("fixture app %+v: want name %s, not active, a url", a, fixtureApp)
	}
	_, err = b.CallApp(ctx, controlplane.AppCall{App: ref, Method: "GET", Path: "/echo"})
	wantCode(t, err, controlplane.CodeConflict, fixtureApp)

	if a, err = b.SetAppActive(ctx, controlplane.SetAppActiveRequest{App: ref, Active: true, Wait: true}); err != nil {
		t.Fatalf("activate, wait: %v", err)
	}
	if !a.Active || a.Deactivated || a.Endpoint == "" {
		t.Fatalf("activated app %+v: want active, not deactivated, an endpoint", a)
	}
	if a, err = b.GetApp(ctx, ref); err != nil || !a.Active || a.Endpoint == "" {
		t.Fatalf("get_app after activation: %+v %v", a, err)
	}

	res, err := b.CallApp(ctx, controlplane.AppCall{App: ref, Method: "POST", Path: "/echo", RawQuery: "a=1&b=two",
		Payload: map[string]any{"x": json.Number("9007199254740993"), "s": "é"}})
	if err != nil {
		t.Fatalf("call /echo: %v", err)
	}
	var echo struct {
		Method, Path string
		Query        map[string]string
		Body         map[string]any
	}
	dec := json.NewDecoder(bytes.NewReader(res.Body))
	dec.UseNumber()
	if res.Status != 200 || dec.Decode(&echo) != nil {
		t.Fatalf("call /echo: %d %s", res.Status, res.Body)
	}
	if echo.Method != "POST" || echo.Path != "/echo" || echo.Query["a"] != "1" || echo.Query["b"] != "two" ||
		numberString(echo.Body["x"]) != "9007199254740993" || echo.Body["s"] != "é" {
		t.Errorf("the app received %+v", echo)
	}
	if res, err = b.CallApp(ctx, controlplane.AppCall{App: ref, Method: "GET", Path: "/echo"}); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(res.Body, &echo); err != nil || echo.Method != "GET" || echo.Body != nil {
		t.Errorf("GET without a payload: the app received %s", res.Body)
	}

	if res, err = b.CallApp(ctx, controlplane.AppCall{App: ref, Method: "GET", Path: "/text"}); err != nil {
		t.Fatal(err)
	}
	if res.Status != 200 || string(res.Body) != "hello" || !bytes.HasPrefix([]byte(res.ContentType), []byte("text/plain")) {
		t.Errorf("call /text: %d %q %q", res.Status, res.ContentType, res.Body)
	}

	// An error status is the app's answer, relayed, not the backend's failure.
	if res, err = b.CallApp(ctx, controlplane.AppCall{App: ref, Method: "GET", Path: "/status/418"}); err != nil {
		t.Fatalf("call /status/418: %v", err)
	}
	var st struct{ Status int }
	if res.Status != 418 || json.Unmarshal(res.Body, &st) != nil || st.Status != 418 {
		t.Errorf("call /status/418: %d %s", res.Status, res.Body)
	}

	if a, err = b.SetAppActive(ctx, controlplane.SetAppActiveRequest{App: ref, Active: false, Wait: true}); err != nil {
		t.Fatalf("deactivate, wait: %v", err)
	}
	if a.Active || !a.Deactivated {
		t.Fatalf("deactivated app %+v: want not active, deactivated", a)
	}
	if a, err = b.GetApp(ctx, ref); err != nil || a.Active || !a.Deactivated {
		t.Fatalf("get_app after deactivation: %+v %v", a, err)
	}
	_, err = b.CallApp(ctx, controlplane.AppCall{App: ref, Method: "GET", Path: "/echo"})
	wantCode(t, err, controlplane.CodeConflict, fixtureApp)
}

// appActivateWithoutWait: without wait the answer comes at once, and the app becomes active
// by itself.
func (s *suite) appActivateWithoutWait(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	ctx := s.ctx()
	ref := s.app(fixtureApp)
	if _, err := b.SetAppActive(ctx, controlplane.SetAppActiveRequest{App: ref, Active: true}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(s.h.Wait)
	for {
		a, err := b.GetApp(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if a.Active && a.Endpoint != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("app never became active: %+v", a)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if res, err := b.CallApp(ctx, controlplane.AppCall{App: ref, Method: "GET", Path: "/text"}); err != nil || string(res.Body) != "hello" {
		t.Fatalf("call /text: %+v %v", res, err)
	}
	if _, err := b.SetAppActive(ctx, controlplane.SetAppActiveRequest{App: ref, Active: false, Wait: true}); err != nil {
		t.Fatal(err)
	}
}
