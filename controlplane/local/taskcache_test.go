package local_test

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// TestTaskCache: auto serves a matching earlier success without executing; other inputs
// execute; serialize makes concurrent matching runs execute once; override always executes;
// without a cache nothing is served.
func TestTaskCache(t *testing.T) {
	t.Parallel()
	marks := t.TempDir()
	env := "FWH_DIR: " + strconv.Quote(marks)
	io := "[{name: name, type: string}]"
	out := "[{name: greeting, type: string}]"
	b, _ := open(t, []helperTask{
		{name: "auto", kind: "counted", inputs: io, outputs: out, env: env, extra: "    cache: {behavior: auto, serialize: true}\n"},
		{name: "override", kind: "counted", inputs: io, outputs: out, env: env, extra: "    cache: {behavior: override}\n"},
		{name: "plain", kind: "counted", inputs: io, outputs: out, env: env},
	}, nil)
	ran := func(run string) bool {
		_, err := os.Stat(marks + "/" + run)
		return err == nil
	}
	ctx := context.Background()
	finish := func(task, name string) controlplane.Run {
		t.Helper()
		r := waitDone(t, b, start(t, b, task, map[string]any{"name": name}))
		if r.Phase != controlplane.PhaseSucceeded {
			t.Fatalf("%s: %s %q", task, r.Phase, r.Error)
		}
		io, err := b.GetRunIO(ctx, controlplane.RunRef{Name: r.Name})
		if err != nil || io.Outputs["greeting"] != "hello "+name {
			t.Fatalf("%s outputs %v %v", task, io.Outputs, err)
		}
		return r
	}

	first := finish("auto", "Ada")
	if !ran(first.Name) {
		t.Fatal("the first auto run did not execute")
	}
	second := finish("auto", "Ada")
	if ran(second.Name) || second.Attempts != 0 {
		t.Errorf("a matching auto run executed (%d attempts)", second.Attempts)
	}
	if other := finish("auto", "Bo"); !ran(other.Name) {
		t.Error("an auto run with other inputs was served from the cache")
	}

	// serialize: three matching runs at once execute once.
	var names []string
	for i := 0; i < 3; i++ {
		names = append(names, start(t, b, "auto", map[string]any{"name": "Cy"}))
	}
	executed := 0
	for _, n := range names {
		if r := waitDone(t, b, n); r.Phase != controlplane.PhaseSucceeded {
			t.Fatalf("%s %q", r.Phase, r.Error)
		}
		if ran(n) {
			executed++
		}
	}
	if executed != 1 {
		t.Errorf("serialized matching runs executed %d times, want 1", executed)
	}

	for i := 0; i < 2; i++ {
		if r := finish("override", "Ada"); !ran(r.Name) {
			t.Error("an override run was served from the cache")
		}
		if r := finish("plain", "Ada"); !ran(r.Name) {
			t.Error("a run without cache was served from the cache")
		}
	}
}
