package client_test

import (
	"errors"
	"net/http"
	"slices"
	"testing"

	client "github.com/flyte-webhook/flyte-webhook/clients/go"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// TestListRunsByLabel: a CI job labels its runs and finds them again, newest first, with
// their metadata; Runs follows the pages.
func TestListRunsByLabel(t *testing.T) {
	t.Parallel()
	s := startServer(t, impl.Config{}, nil, "")
	c := newClient(t, s, s.Token)
	ctx := ctxT(t)
	var started []string
	for _, name := range []string{"Ada", "Bo", "Cy"} {
		res, err := c.RunTaskWithResponse(ctx, "development", "examples", "greet",
			&client.RunTaskParams{Label: &client.RunLabel{"ci-job=go-1", "step=greet"}}, client.Inputs{"name": name})
		mustOK(t, res, err)
		started = append([]string{res.JSON200.Name}, started...) // newest first
	}
	other, err := c.RunTaskWithResponse(ctx, "development", "examples", "greet", nil, client.Inputs{"name": "Dee"})
	mustOK(t, other, err)

	res, err := c.ListRunsWithResponse(ctx, &client.ListRunsParams{Label: &client.LabelFilter{"ci-job=go-1"}})
	mustOK(t, res, err)
	if len(res.JSON200.Runs) != 3 || res.JSON200.NextPageToken != nil {
		t.Fatalf("one page of the three labelled runs: %+v", res.JSON200)
	}
	run := res.JSON200.Runs[0]
	if run.Name != started[0] || run.Labels == nil || (*run.Labels)["step"] != "greet" || run.Caller == nil || *run.Caller != "tester" ||
		run.Task == nil || run.Task.Name != "greet" || run.Task.Version != "v1" || run.Kind == nil || *run.Kind != client.RunKindTask {
		t.Errorf("the newest run: %+v", run)
	}

	// Page by page, one run a page, through Runs.
	limit := 1
	var listed []string
	for r, err := range client.Runs(ctx, c, &client.ListRunsParams{Label: &client.LabelFilter{"ci-job=go-1"}, Limit: &limit}) {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, r.Name)
	}
	if !slices.Equal(listed, started) {
		t.Errorf("Runs listed %v, want %v", listed, started)
	}
	// A filter the server refuses ends the sequence with the problem.
	n := 0
	for _, err := range client.Runs(ctx, c, &client.ListRunsParams{TaskVersion: ptr("v1")}) {
		var p *client.Problem
		if n++; !errors.As(err, &p) || p.Status != http.StatusBadRequest {
			t.Fatalf("task_version without task: %v, want a 400 problem", err)
		}
	}
	if n != 1 {
		t.Errorf("the refused list yielded %d times, want once", n)
	}
	bad, err := c.ListRunsWithResponse(ctx, &client.ListRunsParams{TaskVersion: ptr("v1")})
	if err != nil {
		t.Fatal(err)
	}
	wantProblem(t, bad, http.StatusBadRequest, "task_version")
}
