package local_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strconv"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
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

// TestAbortWhileWaitingForTheCacheLock: aborting a run that waits for an identical run
// (cache.serialize) ends its wait, so its worker slot serves other runs.
func TestAbortWhileWaitingForTheCacheLock(t *testing.T) {
	t.Parallel()
	var logs syncBuf
	b, _ := open(t, []helperTask{
		{name: "held", kind: "sleep", inputs: "[{name: seconds, type: integer}]", outputs: "[{name: slept, type: integer}]", extra: "    cache: {behavior: auto, serialize: true}\n"},
		{name: "echo", kind: "echo", inputs: "[{name: name, type: string}, {name: times, type: integer, default: 1}]", outputs: "[{name: greeting, type: string}]"},
	}, func(c *local.Config) {
		c.Concurrency = 2
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ctx := context.Background()
	holder := start(t, b, "held", map[string]any{"seconds": json.Number("120")})
	waitPhase(t, b, holder, controlplane.PhaseRunning)
	waiter := start(t, b, "held", map[string]any{"seconds": json.Number("120")})
	waitLog(t, &logs, `"msg":"waiting for an identical run (cache.serialize)","run":"`+waiter+`"`)
	if r, err := b.AbortRun(ctx, controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: waiter}, Reason: "not needed"}); err != nil || r.Phase != controlplane.PhaseAborted {
		t.Fatalf("abort the waiting run: %s %v", r.Phase, err)
	}
	// Both slots would be taken (the holder running, the waiter waiting) if the abort left
	// the waiter waiting: this run could not start while the holder sleeps.
	if r := waitDone(t, b, start(t, b, "echo", map[string]any{"name": "next"})); r.Phase != controlplane.PhaseSucceeded {
		t.Fatalf("%s %q", r.Phase, r.Error)
	}
	if _, err := b.AbortRun(ctx, controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: holder}}); err != nil {
		t.Fatal(err)
	}
}
