//go:build integration

package flyte_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/controlplanetest"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte"
)

// TestIntegration runs the conformance suite against a real Flyte 2 control plane:
//
//	FLYTE_WEBHOOK_IT_ENDPOINT=https://flyte.example go test -tags integration -run TestIntegration ./controlplane/flyte/
//
// It skips without FLYTE_WEBHOOK_IT_ENDPOINT. The control plane must have the suite's
// fixture tasks (echo v1 and v2, sum, sleep, fail; see controlplanetest) deployed in
// FLYTE_WEBHOOK_IT_PROJECT / FLYTE_WEBHOOK_IT_DOMAIN (default flytesnacks / development),
// and know two callers: FLYTE_WEBHOOK_IT_TOKEN and FLYTE_WEBHOOK_IT_OTHER_TOKEN (bearer
// tokens), whose subjects are FLYTE_WEBHOOK_IT_SUBJECT and FLYTE_WEBHOOK_IT_OTHER_SUBJECT.
// Optional: FLYTE_WEBHOOK_IT_ORG, FLYTE_WEBHOOK_IT_CA_FILE.
//
// Only tasks and runs are checked: the suite has no cases for apps, triggers, builds and
// prefetch yet, so those methods are hidden behind Unimplemented here (the package's own
// tests cover them against the fake). A real control plane's queue cannot be filled on
// demand, so the queued-abort case is skipped (Concurrency 0).
func TestIntegration(t *testing.T) {
	endpoint := os.Getenv("FLYTE_WEBHOOK_IT_ENDPOINT")
	if endpoint == "" {
		t.Skip("FLYTE_WEBHOOK_IT_ENDPOINT is not set: no control plane to test against")
	}
	env := func(key, def string) string {
		if v := os.Getenv(key); v != "" {
			return v
		}
		return def
	}
	token, other := os.Getenv("FLYTE_WEBHOOK_IT_TOKEN"), os.Getenv("FLYTE_WEBHOOK_IT_OTHER_TOKEN")
	subject, otherSubject := os.Getenv("FLYTE_WEBHOOK_IT_SUBJECT"), os.Getenv("FLYTE_WEBHOOK_IT_OTHER_SUBJECT")
	if token == "" || other == "" || subject == "" || otherSubject == "" {
		t.Skip("the suite needs two callers: set FLYTE_WEBHOOK_IT_TOKEN, _SUBJECT, _OTHER_TOKEN and _OTHER_SUBJECT")
	}
	cfg := flyte.Config{
		Endpoint: endpoint,
		Org:      os.Getenv("FLYTE_WEBHOOK_IT_ORG"),
		Project:  env("FLYTE_WEBHOOK_IT_PROJECT", "flytesnacks"),
		Domain:   env("FLYTE_WEBHOOK_IT_DOMAIN", "development"),
		Name:     "integration",
		Timeout:  30 * time.Second,
	}
	cfg.TLS.CAFile = os.Getenv("FLYTE_WEBHOOK_IT_CA_FILE")
	controlplanetest.Run(t, controlplanetest.Harness{
		New: func(t *testing.T) controlplane.Backend {
			b, err := flyte.Open(t.Context(), cfg)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = b.Close(ctx)
			})
			return tasksAndRuns{
				Unimplemented: controlplane.Unimplemented{Backend: "this integration test", Authenticate: func(ctx context.Context) error {
					_, err := b.Me(ctx)
					return err
				}},
				b: b,
			}
		},
		Domain:      cfg.Domain,
		Project:     cfg.Project,
		Caller:      controlplanetest.Caller{Credentials: controlplane.Credentials{Authorization: "Bearer " + token}, Subject: subject},
		OtherCaller: controlplanetest.Caller{Credentials: controlplane.Credentials{Authorization: "Bearer " + other}, Subject: otherSubject},
		BadCredentials: []controlplane.Credentials{
			{},
			{Authorization: "Bearer " + token + "x"},
			{Authorization: "Basic " + token},
		},
		Capabilities: []controlplanetest.Capability{controlplanetest.Tasks, controlplanetest.Runs},
		Wait:         10 * time.Minute, // real runs start pods
	})
}

// tasksAndRuns shows only the families the suite has cases for.
type tasksAndRuns struct {
	controlplane.Unimplemented
	b *flyte.Backend
}

func (w tasksAndRuns) Me(ctx context.Context) (controlplane.Identity, error) { return w.b.Me(ctx) }

func (w tasksAndRuns) GetTask(ctx context.Context, r controlplane.TaskRef) (controlplane.Task, error) {
	return w.b.GetTask(ctx, r)
}

func (w tasksAndRuns) RunTask(ctx context.Context, r controlplane.RunTaskRequest) (controlplane.Run, error) {
	return w.b.RunTask(ctx, r)
}

func (w tasksAndRuns) GetRun(ctx context.Context, r controlplane.RunRef) (controlplane.Run, error) {
	return w.b.GetRun(ctx, r)
}

func (w tasksAndRuns) GetRunIO(ctx context.Context, r controlplane.RunRef) (controlplane.RunIO, error) {
	return w.b.GetRunIO(ctx, r)
}

func (w tasksAndRuns) AbortRun(ctx context.Context, r controlplane.AbortRunRequest) (controlplane.Run, error) {
	return w.b.AbortRun(ctx, r)
}
