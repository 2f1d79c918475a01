package client_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	client "github.com/flyte-webhook/flyte-webhook/clients/go"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
	"github.com/flyte-webhook/flyte-webhook/impl"
	"github.com/flyte-webhook/flyte-webhook/internal/hfhub/hubtest"
)

// TestPrefetch: prefetch_hf_model through the Go client onto the local backend, downloading
// from a Hub-shaped server; the prefetch endpoints follow the run to its outputs.
func TestPrefetch(t *testing.T) {
	t.Parallel()
	hub := hubtest.New(t, hubtest.Fixture("acme")...)
	token, _, err := identity.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	v, err := identity.New(identity.Config{Tokens: []identity.Token{{SHA256: identity.HashToken(token), Subject: "tester"}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := local.Open(context.Background(), local.Config{Workspace: workspacePath(), DataDir: t.TempDir(), AbortGrace: 2 * time.Second,
		Verifier: v, Prefetch: local.PrefetchConfig{Endpoint: hub.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Close(ctx)
	})
	s := startServer(t, impl.Config{Name: "test-webhook"}, b, token)
	c := newClient(t, s, s.Token)
	ctx := ctxT(t)

	format := "safetensors"
	res, err := c.PrefetchHfModelWithResponse(ctx, &client.PrefetchHfModelParams{Repo: "acme/tiny", SerialFormat: &format}, client.Modalities{"text"})
	mustOK(t, res, err)
	name := res.JSON200.Name
	if _, err := client.WaitForRun(ctx, c, name, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	get, err := c.GetPrefetchHfModelWithResponse(ctx, name, nil)
	mustOK(t, get, err)
	if get.JSON200.Phase != client.Succeeded {
		t.Fatalf("prefetch %s", get.JSON200.Phase)
	}
	io, err := c.GetPrefetchHfModelIoWithResponse(ctx, name, nil)
	mustOK(t, io, err)
	out := *io.JSON200.Outputs
	if out["revision"] != hub.Commit("acme/tiny") || out["files"] != 4.0 || out["serial_format"] != format {
		t.Errorf("outputs %v", out)
	}
	ab, err := c.AbortPrefetchHfModelWithResponse(ctx, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantProblem(t, ab, http.StatusConflict, "")
	bad, err := c.PrefetchHfModelWithResponse(ctx, &client.PrefetchHfModelParams{Repo: "../../etc/passwd"}, client.Modalities{"text"})
	if err != nil {
		t.Fatal(err)
	}
	wantProblem(t, bad, http.StatusBadRequest, "repo")
}
