package local_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
)

// TestExamples runs the quickstart workspace (examples/workspace.yaml) as a user would: it
// must load, and when node is installed its tasks must do what the README says they do.
func TestExamples(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, err := local.Open(context.Background(), local.Config{
		Workspace:   filepath.Join("..", "..", "examples", "workspace.yaml"),
		DataDir:     filepath.Join(dir, "data"),
		Concurrency: 4,
		AbortGrace:  time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	ctx := context.Background()
	ex := func(name string) controlplane.TaskRef {
		return controlplane.TaskRef{Domain: "development", Project: "examples", Name: name}
	}
	for _, name := range []string{"greet", "sum", "slow", "fail", "flaky", "noop"} {
		if _, err := b.GetTask(ctx, ex(name)); err != nil {
			t.Errorf("GetTask %s: %v", name, err)
		}
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: the example tasks were loaded but not run")
	}
	start := func(name string, inputs map[string]any) string {
		t.Helper()
		r, err := b.RunTask(ctx, controlplane.RunTaskRequest{Task: ex(name), Inputs: inputs})
		if err != nil {
			t.Fatalf("RunTask %s: %v", name, err)
		}
		return r.Name
	}
	outputs := func(name string) map[string]any {
		t.Helper()
		io, err := b.GetRunIO(ctx, controlplane.RunRef{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return io.Outputs
	}
	greet := start("greet", nil)
	sum := start("sum", map[string]any{"a": json.Number("9007199254740993"), "b": json.Number("-2")})
	fail := start("fail", nil)
	flaky := start("flaky", nil)
	slow := start("slow", map[string]any{"seconds": json.Number("60")})
	noop := start("noop", nil)

	if r := waitDone(t, b, greet); r.Phase != controlplane.PhaseSucceeded || outputs(greet)["greeting"] != "Hello, world!" {
		t.Errorf("greet: %s %q %v", r.Phase, r.Error, outputs(greet))
	}
	if r := waitDone(t, b, sum); r.Phase != controlplane.PhaseSucceeded || numberText(outputs(sum)["sum"]) != "9007199254740991" {
		t.Errorf("sum: %s %q %v", r.Phase, r.Error, outputs(sum))
	}
	if r := waitDone(t, b, fail); r.Phase != controlplane.PhaseFailed || !strings.Contains(r.Error, "exit code 3") || !strings.Contains(r.Error, "something went wrong") {
		t.Errorf("fail: %s %q", r.Phase, r.Error)
	}
	if r := waitDone(t, b, flaky); r.Phase != controlplane.PhaseSucceeded || r.Attempts != 2 {
		t.Errorf("flaky: %s after %d attempts %q", r.Phase, r.Attempts, r.Error)
	}
	if r := waitDone(t, b, noop); r.Phase != controlplane.PhaseSucceeded {
		t.Errorf("noop: %s %q", r.Phase, r.Error)
	}
	waitPhase(t, b, slow, controlplane.PhaseRunning)
	if _, err := b.AbortRun(ctx, controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: slow}, Reason: "quickstart"}); err != nil {
		t.Fatal(err)
	}
	if r := waitDone(t, b, slow); r.Phase != controlplane.PhaseAborted || r.Error != "aborted: quickstart" {
		t.Errorf("slow: %s %q", r.Phase, r.Error)
	}
}

func numberText(v any) string {
	if n, ok := v.(json.Number); ok {
		return n.String()
	}
	return ""
}

// TestExampleApp: the quickstart's app does what the README says: activated, it greets; it
// takes the name from the query or from a POSTed payload; deactivated, it stops.
func TestExampleApp(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	b, err := local.Open(context.Background(), local.Config{
		Workspace:  filepath.Join("..", "..", "examples", "workspace.yaml"),
		DataDir:    filepath.Join(t.TempDir(), "data"),
		AbortGrace: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	ctx := context.Background()
	hello := controlplane.AppRef{Domain: "development", Project: "examples", Name: "hello"}
	a, err := b.SetAppActive(ctx, controlplane.SetAppActiveRequest{App: hello, Active: true, Wait: true})
	if err != nil || !a.Active {
		t.Fatalf("activate: %+v %v", a, err)
	}
	for _, c := range []controlplane.AppCall{
		{App: hello, Method: "GET", Path: "/greet", RawQuery: "name=Ada"},
		{App: hello, Method: "POST", Path: "/greet", Payload: map[string]any{"name": "Ada"}},
	} {
		res, err := b.CallApp(ctx, c)
		if err != nil || res.Status != 200 || strings.TrimSpace(string(res.Body)) != `{"greeting":"Hello, Ada!"}` {
			t.Errorf("%s /greet: %d %s %v", c.Method, res.Status, res.Body, err)
		}
	}
	if a, err = b.SetAppActive(ctx, controlplane.SetAppActiveRequest{App: hello, Active: false, Wait: true}); err != nil || !a.Deactivated {
		t.Fatalf("deactivate: %+v %v", a, err)
	}
}
