package local_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/controlplanetest"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
	"github.com/flyte-webhook/flyte-webhook/internal/hfhub/hubtest"
)

// helperTask is a workspace entry whose program is this test binary acting as kind.
type helperTask struct {
	name, version, kind string
	inputs, outputs     string // YAML flow lists
	extra               string // more YAML keys, indented by four spaces
	env                 string // more env entries, as "K: V"
}

func workspaceYAML(t testing.TB, tasks []helperTask) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) == 0 {
		return "tasks: []\n"
	}
	var b strings.Builder
	b.WriteString("tasks:\n")
	for _, h := range tasks {
		if h.version == "" {
			h.version = "v1"
		}
		if h.inputs == "" {
			h.inputs = "[]"
		}
		if h.outputs == "" {
			h.outputs = "[]"
		}
		env := "FWH_HELPER: " + h.kind
		if h.env != "" {
			env += ", " + h.env
		}
		fmt.Fprintf(&b, "  - domain: test\n    project: conformance\n    name: %s\n    version: %s\n    inputs: %s\n    outputs: %s\n    command: [%q]\n    env: {%s}\n%s",
			h.name, h.version, h.inputs, h.outputs, exe, env, h.extra)
	}
	return b.String()
}

var fixtures = []helperTask{
	{name: "echo", version: "v1", kind: "echo", inputs: "[{name: name, type: string}, {name: times, type: integer, default: 1}]", outputs: "[{name: greeting, type: string}]"},
	{name: "echo", version: "v2", kind: "echo", inputs: "[{name: name, type: string}, {name: times, type: integer, default: 1}]", outputs: "[{name: greeting, type: string}]"},
	{name: "sum", kind: "sum", inputs: "[{name: a, type: integer}, {name: b, type: integer}]", outputs: "[{name: sum, type: integer}]"},
	{name: "sleep", kind: "sleep", inputs: "[{name: seconds, type: integer, default: 30}]", outputs: "[{name: slept, type: integer}]"},
	{name: "fail", kind: "fail"},
}

// fixtureTriggers are the conformance suite's triggers on the fixture tasks.
const fixtureTriggers = `triggers:
  - {name: nightly, task: test/conformance/echo, schedule: "0 3 * * *", inputs: {name: nightly}, active: false}
`

// open starts a backend on a fresh data dir with the given tasks (the fixtures, their
// triggers and the fixture apps when nil).
func open(t testing.TB, tasks []helperTask, adjust func(*local.Config)) (*local.Backend, local.Config) {
	t.Helper()
	return openWithApps(t, tasks, nil, adjust)
}

// openWithApps is open with apps too (the fixture apps when both tasks and apps are nil).
func openWithApps(t testing.TB, tasks []helperTask, apps []helperApp, adjust func(*local.Config)) (*local.Backend, local.Config) {
	t.Helper()
	triggers := ""
	if tasks == nil {
		tasks = fixtures
		triggers = fixtureTriggers
		if apps == nil {
			apps = fixtureApps
		}
	}
	dir := t.TempDir()
	ws := filepath.Join(dir, "workspace.yaml")
	if err := os.WriteFile(ws, []byte(workspaceYAML(t, tasks)+appsYAML(t, apps)+triggers), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := local.Config{Workspace: ws, DataDir: filepath.Join(dir, "data"), Concurrency: 4, AbortGrace: 500 * time.Millisecond, BaseURL: "http://127.0.0.1:1"}
	if adjust != nil {
		adjust(&cfg)
	}
	b, err := local.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Close(ctx)
	})
	return b, cfg
}

// The conformance suite's two callers: API tokens made once per test binary, verified by the
// real identity package (only their hashes are configured).
var (
	callerToken, callerHash = mustToken()
	otherToken, otherHash   = mustToken()
)

func mustToken() (string, string) {
	tok, hash, err := identity.NewToken()
	if err != nil {
		panic(err)
	}
	return tok, hash
}

func conformanceHarness(t *testing.T, wrap func(controlplane.Backend) controlplane.Backend) controlplanetest.Harness {
	verifier, err := identity.New(identity.Config{Tokens: []identity.Token{
		{SHA256: callerHash, Subject: "ci", Name: "CI pipeline"},
		{SHA256: otherHash, Subject: "dashboard"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	const concurrency = 4
	builder := fakeBuilder(t)
	return controlplanetest.Harness{
		New: func(t *testing.T) controlplane.Backend {
			b, _ := open(t, nil, func(c *local.Config) {
				c.Verifier, c.Concurrency = verifier, concurrency
				c.Builds.Builder = builder
				c.Prefetch.Endpoint = hubtest.New(t, hubtest.Fixture("conformance")...).URL()
				local.FastHubRetries(c)
			})
			if wrap != nil {
				return wrap(b)
			}
			return b
		},
		Domain:      "test",
		Project:     "conformance",
		Caller:      controlplanetest.Caller{Credentials: controlplane.Credentials{Authorization: "Bearer " + callerToken}, Subject: "ci"},
		OtherCaller: controlplanetest.Caller{Credentials: controlplane.Credentials{Cookie: identity.CookieName + "=" + otherToken}, Subject: "dashboard"},
		BadCredentials: []controlplane.Credentials{
			{},
			{Authorization: "Bearer " + callerToken + "x"},
			{Authorization: "Basic " + callerToken},
			{Cookie: "session=" + callerToken},
			{Authorization: "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJjaSJ9."},
		},
		Capabilities: []controlplanetest.Capability{controlplanetest.Tasks, controlplanetest.Runs, controlplanetest.Apps,
			controlplanetest.Triggers, controlplanetest.Builds, controlplanetest.Prefetch, controlplanetest.Lists, controlplanetest.Follow},
		Concurrency:    concurrency,
		BuildBaseImage: "localhost/conformance-base:1",
		PrefetchRepo:   "conformance/tiny",
		KeyTTL:         24 * time.Hour, // idempotency_ttl's default
	}
}

func TestConformance(t *testing.T) {
	var wrap func(controlplane.Backend) controlplane.Backend
	if w := os.Getenv("FWH_WRONG_BACKEND"); w != "" {
		if wrap = wrongBackends[w]; wrap == nil {
			t.Fatalf("FWH_WRONG_BACKEND=%s: no such wrong backend", w)
		}
	}
	controlplanetest.Run(t, conformanceHarness(t, wrap))
}
