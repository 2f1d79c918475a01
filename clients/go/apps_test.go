package client_test

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"testing"

	client "github.com/flyte-webhook/flyte-webhook/clients/go"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// TestApps: the example app through the client, against the real server: activate (waiting
// until it serves), look at it, call it (query from the body or from the path, a payload
// with a lower-case method, an error status relayed), deactivate.
func TestApps(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: the example app cannot run")
	}
	s := startServer(t, impl.Config{Name: "test-webhook"}, nil, "")
	c := newClient(t, s, s.Token)
	ctx := ctxT(t)

	act, err := c.ActivateAppWithResponse(ctx, "hello", &client.ActivateAppParams{Wait: ptr(true)})
	mustOK(t, act, err)
	if !act.JSON200.IsActive || act.JSON200.Endpoint == nil {
		t.Fatalf("activated: %s", act.Body)
	}
	got, err := c.GetAppWithResponse(ctx, "hello", &client.GetAppParams{Domain: ptr("development"), Project: ptr("examples")})
	mustOK(t, got, err)
	if a := got.JSON200; !a.IsActive || a.Status == nil || *a.Status != client.AppRunning || a.Revision != 1 {
		t.Fatalf("get_app: %s", got.Body)
	}

	greeting := func(res *client.CallAppResult, err error) string {
		t.Helper()
		mustOK(t, res, err)
		var out struct{ Greeting string }
		if err := json.Unmarshal(*res.JSON200, &out); err != nil {
			t.Fatal(err)
		}
		return out.Greeting
	}
	query := map[string]any{"name": "Ada"}
	if g := greeting(c.CallAppWithResponse(ctx, "hello", &client.CallAppParams{Path: "/greet"}, client.CallAppRequest{QueryParams: &query})); g != "Hello, Ada!" {
		t.Errorf("query_params: %q", g)
	}
	if g := greeting(c.CallAppWithResponse(ctx, "hello", &client.CallAppParams{Path: "greet?name=Ada"}, client.CallAppRequest{})); g != "Hello, Ada!" {
		t.Errorf("a query in path: %q", g)
	}
	payload := map[string]any{"name": "Grace"}
	if g := greeting(c.CallAppWithResponse(ctx, "hello", &client.CallAppParams{Path: "/greet", Method: ptr("post")}, client.CallAppRequest{Payload: &payload})); g != "Hello, Grace!" {
		t.Errorf("payload: %q", g)
	}
	res, err := c.CallAppWithResponse(ctx, "hello", &client.CallAppParams{Path: "/nope"}, client.CallAppRequest{})
	if err != nil {
		t.Fatal(err)
	}
	wantProblem(t, res, http.StatusNotFound, "Target app returned error")
	res, err = c.CallAppWithResponse(ctx, "hello", &client.CallAppParams{Path: "/../admin"}, client.CallAppRequest{})
	if err != nil {
		t.Fatal(err)
	}
	wantProblem(t, res, http.StatusBadRequest, `".." segments are not allowed`)

	deact, err := c.DeactivateAppWithResponse(ctx, "hello", &client.DeactivateAppParams{Wait: ptr(true)})
	mustOK(t, deact, err)
	if deact.JSON200.IsActive || !deact.JSON200.IsDeactivated {
		t.Fatalf("deactivated: %s", deact.Body)
	}
	res, err = c.CallAppWithResponse(ctx, "hello", &client.CallAppParams{Path: "/greet"}, client.CallAppRequest{})
	if err != nil {
		t.Fatal(err)
	}
	wantProblem(t, res, http.StatusConflict, "not active")
}
