package local_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
)

// Triggers fire by an injected clock (clock_test.go): each test sets the time and waits
// until the scheduler has taken it in, then looks at the runs the triggers started. Nothing
// waits for the wall clock.

// stampTask takes a datetime (a kickoff input) and does nothing.
const stampTask = `  - {domain: test, project: conformance, name: stamp, version: v1, command: ["true"], inputs: [{name: at, type: datetime}, {name: label, type: string, default: none}]}
`

// writeTriggers writes dir/workspace.yaml: the fixture tasks, stamp, and the triggers given
// (YAML list items, indented by two spaces).
func writeTriggers(t *testing.T, dir, triggers string) {
	t.Helper()
	body := workspaceYAML(t, fixtures) + stampTask + "triggers:\n" + triggers
	if err := os.WriteFile(filepath.Join(dir, "workspace.yaml"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// openTriggers opens a backend on dir's workspace and data, by clk, and waits until its
// scheduler sleeps.
func openTriggers(t *testing.T, dir string, clk *fakeClock, logs *syncBuf) *local.Backend {
	t.Helper()
	cfg := local.Config{Workspace: filepath.Join(dir, "workspace.yaml"), DataDir: filepath.Join(dir, "data"),
		Concurrency: 2, AbortGrace: 500 * time.Millisecond, BaseURL: "http://127.0.0.1:1", Clock: clk}
	if logs != nil {
		logTo(logs)(&cfg)
	}
	state := clk.state()
	b, err := local.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { closeBackend(t, b) })
	clk.settle(t, state)
	return b
}

func closeBackend(t *testing.T, b *local.Backend) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// switchTrigger activates or deactivates a trigger and waits until the scheduler has taken
// it in.
func switchTrigger(t *testing.T, b *local.Backend, clk *fakeClock, task, name string, active bool) {
	t.Helper()
	state := clk.state()
	tr, err := b.SetTriggerActive(context.Background(), controlplane.SetTriggerActiveRequest{
		Trigger: controlplane.TriggerRef{TaskName: task, Name: name}, Active: active})
	if err != nil {
		t.Fatalf("SetTriggerActive %s/%s %v: %v", task, name, active, err)
	}
	if tr != (controlplane.Trigger{TaskName: task, Name: name, Active: active}) {
		t.Fatalf("SetTriggerActive %s/%s %v = %+v", task, name, active, tr)
	}
	clk.settle(t, state)
}

func reload(t *testing.T, b *local.Backend, clk *fakeClock) {
	t.Helper()
	state := clk.state()
	if err := b.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	clk.settle(t, state)
}

// fired returns the schedule times (UTC, RFC 3339) a trigger's runs were started for.
func fired(t *testing.T, b *local.Backend, task, name string) []string {
	t.Helper()
	runs, err := local.TriggerRuns(b, task, name)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, r := range runs {
		if r.Trigger != name || r.Task.Name != task {
			t.Errorf("run %s of trigger %s/%s says trigger %q, task %q", r.Name, task, name, r.Trigger, r.Task.Name)
		}
		out = append(out, r.ScheduledAt.UTC().Format(time.RFC3339))
	}
	return out
}

func wantFired(t *testing.T, b *local.Backend, task, name string, want ...string) {
	t.Helper()
	got := fired(t, b, task, name)
	if want == nil {
		want = []string{}
	}
	if len(got) != len(want) {
		t.Fatalf("trigger %s/%s fired for %v, want %v", task, name, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("trigger %s/%s fired for %v, want %v", task, name, got, want)
		}
	}
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestTriggerFires: an active trigger fires at its schedule times, read in its time zone,
// with its inputs and the scheduled time in its kickoff input; the run records the trigger
// and the time, and the "run accepted" line names the trigger; an inactive trigger never
// fires.
func TestTriggerFires(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTriggers(t, dir, `  - {name: nightly, task: test/conformance/echo, schedule: "0 3 * * *", inputs: {name: nightly, times: 2}, active: true}
  - {name: ny, task: test/conformance/stamp, schedule: "0 3 * * *", time_zone: America/New_York, kickoff_input: at, active: true}
  - {name: off, task: test/conformance/echo, schedule: "* * * * *", inputs: {name: off}}
`)
	var logs syncBuf
	clk := newFakeClock(at("2026-01-15T02:59:00Z"))
	b := openTriggers(t, dir, clk, &logs)

	clk.set(t, at("2026-01-15T02:59:59Z"))
	wantFired(t, b, "echo", "nightly")
	clk.set(t, at("2026-01-15T03:00:00Z"))
	wantFired(t, b, "echo", "nightly", "2026-01-15T03:00:00Z")
	wantFired(t, b, "stamp", "ny") // 03:00 in New York is 08:00 UTC in January

	runs, _ := local.TriggerRuns(b, "echo", "nightly")
	r, err := b.GetRun(context.Background(), controlplane.RunRef{Name: runs[0].Name})
	if err != nil {
		t.Fatal(err)
	}
	if r.Trigger != "nightly" || !r.ScheduledAt.Equal(at("2026-01-15T03:00:00Z")) || r.Task.Version != "v2" || r.Kind != controlplane.KindTask {
		t.Errorf("GetRun of a trigger's run: %+v, want trigger nightly, scheduled 03:00Z, the latest version", r)
	}
	// Its caller is the trigger, and lists find it by trigger and by caller.
	if r.Caller != "trigger:echo/nightly" {
		t.Errorf("the trigger's run has caller %q, want trigger:echo/nightly", r.Caller)
	}
	for _, req := range []controlplane.ListRunsRequest{{Trigger: "nightly"}, {Caller: "trigger:echo/nightly"}} {
		if page, err := b.ListRuns(context.Background(), req); err != nil || len(page.Runs) != 1 || page.Runs[0].Name != r.Name {
			t.Errorf("ListRuns %+v: %v %v, want the one run %s", req, page.Runs, err, r.Name)
		}
	}
	if final := waitDone(t, b, r.Name); final.Phase != controlplane.PhaseSucceeded {
		t.Fatalf("the trigger's run: %s %s", final.Phase, final.Error)
	}
	io, err := b.GetRunIO(context.Background(), controlplane.RunRef{Name: r.Name})
	if err != nil {
		t.Fatal(err)
	}
	if io.Inputs["name"] != "nightly" || io.Inputs["times"] != json.Number("2") || io.Outputs["greeting"] != "hello nightly hello nightly" {
		t.Errorf("the trigger's run: inputs %v, outputs %v", io.Inputs, io.Outputs)
	}
	accepted := logLine(t, &logs, "run accepted", r.Name)
	if accepted["trigger"] != "nightly" || accepted["caller"] != "trigger:echo/nightly" || accepted["task"] != "test/conformance/echo" {
		t.Errorf("run accepted: %v", accepted)
	}

	clk.set(t, at("2026-01-15T08:00:00Z"))
	wantFired(t, b, "stamp", "ny", "2026-01-15T08:00:00Z")
	wantFired(t, b, "echo", "nightly", "2026-01-15T03:00:00Z")
	runs, _ = local.TriggerRuns(b, "stamp", "ny")
	io, err = b.GetRunIO(context.Background(), controlplane.RunRef{Name: runs[0].Name})
	if err != nil {
		t.Fatal(err)
	}
	if io.Inputs["at"] != "2026-01-15T03:00:00-05:00" || io.Inputs["label"] != "none" {
		t.Errorf("kickoff input: %v, want at = the scheduled time in the trigger's zone", io.Inputs)
	}
	// Summer time: 03:00 in New York is 07:00 UTC. (The clock's jump to July is like
	// downtime: one catch-up run, for the most recent time it passed.)
	clk.set(t, at("2026-07-01T06:59:00Z"))
	clk.set(t, at("2026-07-01T07:00:00Z"))
	wantFired(t, b, "stamp", "ny", "2026-01-15T08:00:00Z", "2026-06-30T07:00:00Z", "2026-07-01T07:00:00Z")

	wantFired(t, b, "echo", "off") // inactive: five months of minutes, no run
}

// TestTriggerStateSurvivesRestart: a trigger switched through the API keeps that state
// across a restart (real SQLite, opened again) and a reload of the unchanged file.
func TestTriggerStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTriggers(t, dir, `  - {name: minutely, task: test/conformance/echo, schedule: "* * * * *", inputs: {name: m}}
`)
	clk := newFakeClock(at("2026-03-02T10:00:30Z"))
	b := openTriggers(t, dir, clk, nil)
	switchTrigger(t, b, clk, "echo", "minutely", true)
	clk.set(t, at("2026-03-02T10:01:00Z"))
	wantFired(t, b, "echo", "minutely", "2026-03-02T10:01:00Z")
	closeBackend(t, b)

	clk = newFakeClock(at("2026-03-02T10:01:30Z"))
	b = openTriggers(t, dir, clk, nil)
	clk.set(t, at("2026-03-02T10:02:00Z"))
	wantFired(t, b, "echo", "minutely", "2026-03-02T10:01:00Z", "2026-03-02T10:02:00Z")
	switchTrigger(t, b, clk, "echo", "minutely", false)
	switchTrigger(t, b, clk, "echo", "minutely", false) // again: no error, no change
	closeBackend(t, b)

	clk = newFakeClock(at("2026-03-02T10:02:30Z"))
	b = openTriggers(t, dir, clk, nil)
	clk.set(t, at("2026-03-02T10:03:00Z"))
	reload(t, b, clk)
	clk.set(t, at("2026-03-02T10:04:00Z"))
	wantFired(t, b, "echo", "minutely", "2026-03-02T10:01:00Z", "2026-03-02T10:02:00Z")
}

// TestTriggerNoDoubleFireAcrossRestart: a server stopped in the middle of a minute it has
// fired for, and started again within that minute, does not fire that minute again.
func TestTriggerNoDoubleFireAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTriggers(t, dir, `  - {name: minutely, task: test/conformance/echo, schedule: "* * * * *", inputs: {name: m}, active: true}
`)
	clk := newFakeClock(at("2026-03-02T10:00:30Z"))
	b := openTriggers(t, dir, clk, nil)
	clk.set(t, at("2026-03-02T10:01:00Z"))
	wantFired(t, b, "echo", "minutely", "2026-03-02T10:01:00Z")
	clk.set(t, at("2026-03-02T10:01:20Z"))
	closeBackend(t, b)

	clk = newFakeClock(at("2026-03-02T10:01:40Z"))
	b = openTriggers(t, dir, clk, nil)
	wantFired(t, b, "echo", "minutely", "2026-03-02T10:01:00Z")
	clk.set(t, at("2026-03-02T10:02:00Z"))
	wantFired(t, b, "echo", "minutely", "2026-03-02T10:01:00Z", "2026-03-02T10:02:00Z")
}

// TestTriggerCatchUpAfterDowntime: after downtime each active trigger fires once, for its
// most recent missed schedule time; a trigger that was off fires for nothing it missed, nor
// does one switched on after the start.
func TestTriggerCatchUpAfterDowntime(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTriggers(t, dir, `  - {name: minutely, task: test/conformance/echo, schedule: "* * * * *", inputs: {name: m}, active: true}
  - {name: hourly, task: test/conformance/echo, schedule: "@hourly", inputs: {name: h}, active: true}
  - {name: off, task: test/conformance/echo, schedule: "* * * * *", inputs: {name: o}}
  - {name: later, task: test/conformance/echo, schedule: "* * * * *", inputs: {name: l}}
`)
	var logs syncBuf
	clk := newFakeClock(at("2026-03-02T10:00:30Z"))
	b := openTriggers(t, dir, clk, nil)
	clk.set(t, at("2026-03-02T10:01:00Z"))
	wantFired(t, b, "echo", "minutely", "2026-03-02T10:01:00Z")
	closeBackend(t, b)

	// Down for two hours and six minutes.
	clk = newFakeClock(at("2026-03-02T12:07:30Z"))
	b = openTriggers(t, dir, clk, &logs)
	wantFired(t, b, "echo", "minutely", "2026-03-02T10:01:00Z", "2026-03-02T12:07:00Z")
	wantFired(t, b, "echo", "hourly", "2026-03-02T12:00:00Z")
	wantFired(t, b, "echo", "off")
	waitLog(t, &logs, "trigger missed its schedule time; one catch-up run for the most recent one")

	clk.set(t, at("2026-03-02T12:07:40Z"))
	switchTrigger(t, b, clk, "echo", "later", true)
	wantFired(t, b, "echo", "later")
	clk.set(t, at("2026-03-02T12:08:00Z"))
	wantFired(t, b, "echo", "minutely", "2026-03-02T10:01:00Z", "2026-03-02T12:07:00Z", "2026-03-02T12:08:00Z")
	wantFired(t, b, "echo", "later", "2026-03-02T12:08:00Z")
	wantFired(t, b, "echo", "hourly", "2026-03-02T12:00:00Z")
	wantFired(t, b, "echo", "off")
}

// TestTriggerReload: a reload adds, removes and changes triggers without a restart; a
// trigger whose declaration is unchanged keeps the state set through the API, one whose
// declaration changed takes its declared state again.
func TestTriggerReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTriggers(t, dir, `  - {name: a, task: test/conformance/echo, schedule: "* * * * *", inputs: {name: a}, active: true}
  - {name: b, task: test/conformance/sum, schedule: "0 * * * *", inputs: {a: 1, b: 2}, active: true}
  - {name: d, task: test/conformance/echo, schedule: "* * * * *", inputs: {name: d}, active: true}
`)
	clk := newFakeClock(at("2026-03-02T10:00:30Z"))
	b := openTriggers(t, dir, clk, nil)
	switchTrigger(t, b, clk, "echo", "d", false)
	clk.set(t, at("2026-03-02T10:01:00Z"))
	wantFired(t, b, "echo", "a", "2026-03-02T10:01:00Z")
	reload(t, b, clk) // unchanged: d stays off
	clk.set(t, at("2026-03-02T10:02:00Z"))
	wantFired(t, b, "echo", "a", "2026-03-02T10:01:00Z", "2026-03-02T10:02:00Z")
	wantFired(t, b, "echo", "d")

	clk.set(t, at("2026-03-02T10:02:10Z"))
	writeTriggers(t, dir, `  - {name: a, task: test/conformance/echo, schedule: "*/5 * * * *", inputs: {name: a}, active: true}
  - {name: c, task: test/conformance/echo, schedule: "* * * * *", inputs: {name: c}, active: true}
  - {name: d, task: test/conformance/echo, schedule: "* * * * *", inputs: {name: d2}, active: true}
`)
	reload(t, b, clk)
	if _, err := b.SetTriggerActive(context.Background(), controlplane.SetTriggerActiveRequest{
		Trigger: controlplane.TriggerRef{TaskName: "sum", Name: "b"}, Active: true}); controlplane.CodeOf(err) != controlplane.CodeNotFound {
		t.Fatalf("a removed trigger: %v, want not found", err)
	}
	for _, m := range []string{"03", "04", "05"} {
		clk.set(t, at("2026-03-02T10:"+m+":00Z"))
	}
	wantFired(t, b, "echo", "a", "2026-03-02T10:01:00Z", "2026-03-02T10:02:00Z", "2026-03-02T10:05:00Z")
	wantFired(t, b, "echo", "c", "2026-03-02T10:03:00Z", "2026-03-02T10:04:00Z", "2026-03-02T10:05:00Z")
	wantFired(t, b, "echo", "d", "2026-03-02T10:03:00Z", "2026-03-02T10:04:00Z", "2026-03-02T10:05:00Z")
	runs, _ := local.TriggerRuns(b, "echo", "d")
	if io, err := b.GetRunIO(context.Background(), controlplane.RunRef{Name: runs[0].Name}); err != nil || io.Inputs["name"] != "d2" {
		t.Errorf("a changed trigger's run: %v %v, want the new inputs", io.Inputs, err)
	}
	clk.set(t, at("2026-03-02T11:00:00Z"))
	wantFired(t, b, "sum", "b")
}

// TestTriggerDaylightSaving: when the clocks go back, a schedule time in the hour they
// repeat fires once, not once per offset; when they go forward, a time they skip does not
// fire that night (robfig/cron's rule).
func TestTriggerDaylightSaving(t *testing.T) {
	t.Parallel()
	t.Run("back", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		writeTriggers(t, dir, `  - {name: ny, task: test/conformance/stamp, schedule: "30 1 * * *", time_zone: America/New_York, kickoff_input: at, active: true}
  - {name: quarters, task: test/conformance/stamp, schedule: "*/15 1-2 * * *", time_zone: America/New_York, kickoff_input: at, active: true}
`)
		clk := newFakeClock(at("2026-11-01T04:59:00Z")) // 00:59 EDT; at 06:00 UTC it is 01:00 EST
		b := openTriggers(t, dir, clk, nil)
		for m := range 150 { // to 07:29 UTC, minute by minute
			clk.set(t, at("2026-11-01T05:00:00Z").Add(time.Duration(m)*time.Minute))
		}
		wantFired(t, b, "stamp", "ny", "2026-11-01T05:30:00Z")
		wantFired(t, b, "stamp", "quarters", "2026-11-01T05:00:00Z", "2026-11-01T05:15:00Z", "2026-11-01T05:30:00Z", "2026-11-01T05:45:00Z",
			"2026-11-01T07:00:00Z", "2026-11-01T07:15:00Z")
		clk.set(t, at("2026-11-02T06:30:00Z"))
		wantFired(t, b, "stamp", "ny", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z")
	})
	t.Run("forward", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		writeTriggers(t, dir, `  - {name: skipped, task: test/conformance/stamp, schedule: "30 2 * * *", time_zone: America/New_York, kickoff_input: at, active: true}
`)
		clk := newFakeClock(at("2027-03-13T12:00:00Z"))
		b := openTriggers(t, dir, clk, nil)
		for _, now := range []string{"2027-03-14T06:00:00Z", "2027-03-14T07:00:00Z", "2027-03-14T07:30:00Z", "2027-03-15T06:30:00Z"} {
			clk.set(t, at(now)) // 01:00 EST, 03:00 EDT, 03:30 EDT, next day 02:30 EDT
		}
		wantFired(t, b, "stamp", "skipped", "2027-03-15T06:30:00Z")
	})
}

// TestTriggerSchedulerStopsOnClose: Close stops the scheduler (it sleeps on no timer once
// Close returns), so no fire can reach the closed store; a later time fires nothing.
func TestTriggerSchedulerStopsOnClose(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTriggers(t, dir, `  - {name: minutely, task: test/conformance/echo, schedule: "* * * * *", inputs: {name: m}, active: true}
`)
	clk := newFakeClock(at("2026-03-02T10:00:30Z"))
	b := openTriggers(t, dir, clk, nil)
	closeBackend(t, b)
	if n := clk.pending(); n != 0 {
		t.Fatalf("%d timers still waiting after Close: the scheduler runs on", n)
	}
	made := clk.state()
	clk.set(t, at("2026-03-02T10:01:00Z"))
	if clk.state() != made {
		t.Fatal("the scheduler looked at the time after Close")
	}
}
