// Package controlplanetest is the conformance suite every controlplane.Backend runs: the
// semantics the HTTP layer relies on, checked through the Backend interface only.
//
// A backend's test provides a Harness whose backend serves the fixture tasks below, in
// Harness.Domain and Harness.Project, and accepts the harness's two callers:
//
//	echo   v1 and v2 (v2 registered last). inputs: name string (required), times integer
//	       (default 1). outputs: greeting string = "hello <name>" repeated times, joined by " ".
//	sum    inputs: a integer, b integer. outputs: sum integer (exact beyond 2^53).
//	sleep  inputs: seconds integer (default 30). Sleeps that long; outputs: slept integer.
//	fail   no inputs. Fails with a message containing "boom".
//
// A backend declaring Follow also keeps the fixtures' logs: echo writes a line "hello <name>"
// per greeting, fail a line containing "boom".
//
// A backend declaring Triggers also has, on task echo, a trigger "nightly" (schedule
// "0 3 * * *", inputs {name: "nightly"}), initially inactive. Its firing is not checked
// here: that is backend-specific.
//
// A backend declaring Apps also serves, in Harness.Domain and Harness.Project, the app
//
//	echo-app  initially not active. Answers GET on its health path with 200, and
//	          /echo (any method): {"method": M, "path": P, "query": {k: v, ...} (the first
//	                value of each), "body": <the JSON payload or null>, "authorization":
//	                <the Authorization header it received, or "">}
//	          /text: text/plain "hello"
//	          /status/{code}: that status, with the JSON body {"status": code}
//
// A backend declaring Builds builds images on Harness.BuildBaseImage (the local harness uses
// a stand-in builder; a real one must be able to build there without pulling anything): a
// build of it, with any packages, succeeds.
//
// A backend declaring Prefetch downloads Harness.PrefetchRepo from its Hub (the local harness
// serves it with package hubtest) when the harness names one.
//
// The cases are split by concern as the families of Backend methods are (auth.go, tasks.go,
// runs.go, apps.go, triggers.go, builds.go, prefetch.go, lists.go, follow.go, capabilities.go);
// each family a backend does not declare in Harness.Capabilities must answer
// CodeUnimplemented, and a CodeUnimplemented from a declared family fails.
package controlplanetest

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// Capability is a family of Backend methods a backend serves.
type Capability string

// The families. Me is not one: every backend serves it.
const (
	// Tasks: GetTask, RunTask.
	Tasks Capability = "tasks"
	// Runs: GetRun, GetRunIO, AbortRun.
	Runs Capability = "runs"
	// Apps: GetApp, SetAppActive, CallApp.
	Apps Capability = "apps"
	// Triggers: SetTriggerActive.
	Triggers Capability = "triggers"
	// Builds: BuildImage.
	Builds Capability = "builds"
	// Prefetch: PrefetchModel.
	Prefetch Capability = "prefetch"
	// Lists: ListRuns, and the run metadata it filters on (labels, callers).
	Lists Capability = "lists"
	// Follow: WatchRun, RunLogs.
	Follow Capability = "follow"
)

// Caller is a caller the backend accepts: the credentials it presents and the subject the
// backend must see for them.
type Caller struct {
	Credentials controlplane.Credentials
	Subject     string
}

// Harness describes the backend under test.
type Harness struct {
	// New returns a fresh backend serving the fixture tasks, closed by the test's cleanup.
	New func(t *testing.T) controlplane.Backend
	// Domain and Project hold the fixture tasks.
	Domain, Project string
	// Caller and OtherCaller are two callers the backend accepts, with different subjects.
	// Every case calls as Caller unless it says otherwise.
	Caller, OtherCaller Caller
	// BadCredentials are credentials the backend must refuse with CodeUnauthenticated on
	// every method (for example none at all, an unknown token, another scheme).
	BadCredentials []controlplane.Credentials
	// Capabilities are the families the backend serves; the others must answer
	// CodeUnimplemented (after the credentials check).
	Capabilities []Capability
	// Concurrency is how many runs the backend executes at once, when it has such a bound:
	// the suite starts that many long runs to see the next one queued. 0 skips the cases that
	// need a queued run (a backend whose queue cannot be observed).
	Concurrency int
	// BuildBaseImage is a base image the backend's builder builds on, for the Builds cases.
	BuildBaseImage string
	// PrefetchRepo is a small model repo ("owner/name") the backend's Hub serves publicly,
	// for the Prefetch cases that download it ("" skips them; the refusals still run).
	PrefetchRepo string
	// KeyTTL is how long the backend remembers an Idempotency-Key: 0 means as long as the run
	// it started exists (the Flyte backend names the run after the caller and the key). The
	// suite checks a key outlives its run's end; a KeyTTL of at most 5s is also waited out,
	// after which the key starts a new run.
	KeyTTL time.Duration
	// Wait bounds how long the suite waits for a run to reach a phase. Defaults to 30s.
	Wait time.Duration
	// ListAllowlistsNeedTask says the backend lists runs under a task allowlist only for one
	// task at a time (ListRunsRequest.Task), refusing other lists with CodeInvalidInput
	// naming task, rather than filtering them.
	ListAllowlistsNeedTask bool
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	if h.Wait == 0 {
		h.Wait = 30 * time.Second
	}
	if h.Caller.Subject == "" || h.OtherCaller.Subject == "" || h.Caller.Subject == h.OtherCaller.Subject {
		t.Fatal("controlplanetest: the harness needs two callers with different subjects")
	}
	s := &suite{h: h, caps: map[Capability]bool{}}
	for _, c := range h.Capabilities {
		s.caps[c] = true
	}
	t.Run("Auth", s.auth)
	t.Run("Capabilities", s.capabilities)
	if !s.caps[Tasks] || !s.caps[Runs] {
		t.Fatal("controlplanetest: every backend serves tasks and runs; the other cases need them")
	}
	t.Run("Tasks", s.tasks)
	t.Run("Runs", s.runs)
	if s.caps[Triggers] {
		t.Run("Triggers", s.triggers)
	}
	if s.caps[Apps] {
		t.Run("Apps", s.apps)
	}
	if s.caps[Builds] {
		t.Run("Builds", s.builds)
	}
	if s.caps[Prefetch] {
		t.Run("Prefetch", s.prefetch)
	}
	if s.caps[Lists] {
		t.Run("Lists", s.lists)
	}
	if s.caps[Follow] {
		t.Run("Follow", s.follow)
	}
}

type suite struct {
	h    Harness
	caps map[Capability]bool
}

// runName is the form Flyte gives run names.
var runName = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// ctx is a context carrying the harness caller's credentials.
func (s *suite) ctx() context.Context { return s.as(s.h.Caller) }

func (s *suite) as(c Caller) context.Context {
	return controlplane.WithCredentials(context.Background(), c.Credentials)
}

func (s *suite) ref(name, version string) controlplane.TaskRef {
	return controlplane.TaskRef{Domain: s.h.Domain, Project: s.h.Project, Name: name, Version: version}
}

func run(name string) controlplane.RunRef { return controlplane.RunRef{Name: name} }

func wantCode(t *testing.T, err error, code controlplane.Code, mention string) {
	t.Helper()
	if got := controlplane.CodeOf(err); got != code {
		t.Fatalf("error %v: code %s, want %s", err, got, code)
	}
	if mention != "" && !strings.Contains(controlplane.MessageOf(err), mention) {
		t.Fatalf("error message %q should mention %q", controlplane.MessageOf(err), mention)
	}
}

func (s *suite) start(t *testing.T, b controlplane.Backend, task string, inputs map[string]any) controlplane.Run {
	t.Helper()
	r, err := b.RunTask(s.ctx(), controlplane.RunTaskRequest{Task: s.ref(task, ""), Inputs: inputs})
	if err != nil {
		t.Fatalf("RunTask %s: %v", task, err)
	}
	return r
}

// waitFor polls until cond holds for the run (liveness only, with a generous bound).
func (s *suite) waitFor(t *testing.T, b controlplane.Backend, name string, cond func(controlplane.Run) bool) controlplane.Run {
	t.Helper()
	deadline := time.Now().Add(s.h.Wait)
	for {
		r, err := b.GetRun(s.ctx(), run(name))
		if err != nil {
			t.Fatalf("GetRun %s: %v", name, err)
		}
		if cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s stuck in %s", name, r.Phase)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func done(r controlplane.Run) bool { return r.Phase.Done() }

func numberString(v any) string {
	switch n := v.(type) {
	case json.Number:
		return n.String()
	case int, int64, float64:
		b, _ := json.Marshal(n)
		return string(b)
	}
	return ""
}
