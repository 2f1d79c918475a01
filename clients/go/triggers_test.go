package client_test

import (
	"net/http"
	"testing"

	client "github.com/flyte-webhook/flyte-webhook/clients/go"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// TestTriggers switches the example workspace's trigger (greet's every-minute, off by
// default) on and off through the client, as the README does with curl.
func TestTriggers(t *testing.T) {
	t.Parallel()
	s := startServer(t, impl.Config{}, nil, "")
	c := newClient(t, s, s.Token)
	ctx := ctxT(t)

	for i := range 2 { // switching to the state it has is not an error
		on, err := c.ActivateTriggerWithResponse(ctx, "greet", "every-minute", nil)
		mustOK(t, on, err)
		if got := *on.JSON200; got != (client.TriggerResponse{TaskName: "greet", TriggerName: "every-minute", Active: true}) {
			t.Fatalf("activate #%d: %+v", i+1, got)
		}
	}
	for i := range 2 {
		off, err := c.DeactivateTriggerWithResponse(ctx, "greet", "every-minute", nil)
		mustOK(t, off, err)
		if got := *off.JSON200; got != (client.TriggerResponse{TaskName: "greet", TriggerName: "every-minute", Active: false}) {
			t.Fatalf("deactivate #%d: %+v", i+1, got)
		}
	}
	unknown, err := c.ActivateTriggerWithResponse(ctx, "greet", "hourly", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantProblem(t, unknown, http.StatusNotFound, "hourly")
	noTask, err := c.DeactivateTriggerWithResponse(ctx, "nope", "every-minute", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantProblem(t, noTask, http.StatusNotFound, "nope")
}
