package impl_test

import (
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/impl"
	swaggerfiles "github.com/swaggo/files/v2"
)

// probe is a request that reaches each operation's handler with the fake backend.
var probe = map[string][2]string{
	"health":                   {"GET", "/health"},
	"me":                       {"GET", "/me"},
	"run_task":                 {"POST", "/run-task/d/p/greet"},
	"get_task":                 {"GET", "/task/d/p/greet"},
	"get_run":                  {"GET", "/run/r-running"},
	"get_run_io":               {"GET", "/run/r-running/io"},
	"abort_run":                {"POST", "/run/r-running/abort"},
	"list_runs":                {"GET", "/runs"},
	"watch_run":                {"GET", "/run/r-running/events?domain=probe"}, // a probe's watch ends after what is there
	"get_run_logs":             {"GET", "/run/r-running/logs"},
	"get_app":                  {"GET", "/app/a"},
	"activate_app":             {"POST", "/app/a/activate"},
	"deactivate_app":           {"POST", "/app/a/deactivate"},
	"call_app":                 {"POST", "/app/a/call?path=/x"},
	"activate_trigger":         {"POST", "/trigger/t/n/activate"},
	"deactivate_trigger":       {"POST", "/trigger/t/n/deactivate"},
	"build_image":              {"POST", "/build-image"},
	"prefetch_hf_model":        {"POST", "/prefetch/hf-model?repo=a/b"},
	"get_prefetch_hf_model":    {"GET", "/prefetch/hf-model/r-prefetch"},
	"get_prefetch_hf_model_io": {"GET", "/prefetch/hf-model/r-prefetch/io"},
	"abort_prefetch_hf_model":  {"POST", "/prefetch/hf-model/r-prefetch/abort"},
}

func probeBody(op string) any {
	if op == "run_task" {
		return map[string]any{}
	}
	return nil
}

// TestProbeCoversCatalog keeps the probe table in step with openapi.yaml.
func TestProbeCoversCatalog(t *testing.T) {
	for _, o := range contract.Catalog.Operations {
		if _, ok := probe[o.ID]; !ok {
			t.Errorf("operation %s has no probe", o.ID)
		}
	}
	if len(probe) != len(contract.Catalog.Operations) {
		t.Errorf("probe has %d entries, catalog %d operations", len(probe), len(contract.Catalog.Operations))
	}
}

// TestFilter: exactly the selected operations are routed and documented; the others are 404.
func TestFilter(t *testing.T) {
	t.Parallel()
	type sel struct {
		name      string
		groups    []string
		endpoints []string
		want      []string
	}
	var cases []sel
	for _, g := range contract.Catalog.Groups {
		var want []string
		for _, o := range contract.Catalog.Operations {
			if o.Group == g {
				want = append(want, o.ID)
			}
		}
		cases = append(cases, sel{"group " + g, []string{g}, nil, want})
	}
	var all []string
	for _, o := range contract.Catalog.Operations {
		all = append(all, o.ID)
		cases = append(cases, sel{"endpoint " + o.ID, nil, []string{o.ID}, []string{o.ID}})
	}
	cases = append(cases,
		sel{"all", []string{"all"}, nil, all},
		sel{"default", nil, nil, all},
		sel{"core and task", []string{"core", "task"}, nil, []string{"get_task", "health", "me", "run_task"}},
		sel{"seed example", nil, []string{"health", "run_task", "get_run"}, []string{"get_run", "health", "run_task"}},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, impl.Config{EndpointGroups: c.groups, Endpoints: c.endpoints})
			want := map[string]bool{}
			for _, id := range c.want {
				want[id] = true
			}
			for id, p := range probe {
				r := s.call(t, p[0], p[1], probeBody(id), nil)
				if want[id] && r.Status != http.StatusOK {
					t.Errorf("%s enabled but answered %d: %s", id, r.Status, r.Body)
				}
				if !want[id] && r.Status != http.StatusNotFound && r.Status != http.StatusMethodNotAllowed {
					t.Errorf("%s disabled but answered %d", id, r.Status)
				}
			}
			got := documentedOps(t, s.URL)
			sort.Strings(c.want)
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("/openapi.json documents %v, want %v", got, c.want)
			}
		})
	}
}

func documentedOps(t *testing.T, base string) []string {
	t.Helper()
	res, err := http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
		Tags []struct{ Name string } `json:"tags"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, item := range doc.Paths {
		for _, op := range item {
			ids = append(ids, op.OperationID)
		}
	}
	sort.Strings(ids)
	return ids
}

// TestFilterRefusesBadSelections: both set, unknown names.
func TestFilterRefusesBadSelections(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  impl.Config
		want string
	}{
		{"both", impl.Config{EndpointGroups: []string{"core"}, Endpoints: []string{"health"}}, "mutually exclusive"},
		{"unknown group", impl.Config{EndpointGroups: []string{"core", "tasks"}}, `unknown group "tasks"`},
		{"unknown endpoint", impl.Config{Endpoints: []string{"run_tasks"}}, `unknown endpoint "run_tasks"`},
		{"operationId casing", impl.Config{Endpoints: []string{"RunTask"}}, `unknown endpoint "RunTask"`},
		{"bad task allowlist", impl.Config{TaskAllowlist: &[]string{"a/b/c/d"}}, "task_allowlist[0]"},
		{"empty task allowlist part", impl.Config{TaskAllowlist: &[]string{"ok", "a//c"}}, "task_allowlist[1]"},
		{"bad trigger allowlist", impl.Config{TriggerAllowlist: &[]string{"a/b/c"}}, "trigger_allowlist[0]"},
		{"bad app allowlist", impl.Config{AppAllowlist: &[]string{""}}, "app_allowlist[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := impl.NewHandler(c.cfg, newFake())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// TestCoreAndTaskDocs is the acceptance check: with endpoint_groups [core, task] the
// docs show exactly health, me, run_task and get_task, and everything else is 404.
var docTypes = map[string]string{
	"/docs/":                       "text/html; charset=utf-8",
	"/docs/index.html":             "text/html; charset=utf-8",
	"/docs/swagger-ui-bundle.js":   "text/javascript; charset=utf-8",
	"/docs/swagger-initializer.js": "text/javascript; charset=utf-8",
}

func TestCoreAndTaskDocs(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{EndpointGroups: []string{"core", "task"}, Title: "Ops"})
	if got := documentedOps(t, s.URL); strings.Join(got, ",") != "get_task,health,me,run_task" {
		t.Fatalf("documented %v", got)
	}
	for _, path := range []string{"/docs/", "/docs/index.html", "/docs/swagger-ui-bundle.js", "/docs/swagger-initializer.js", "/openapi.yaml"} {
		res, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || len(b) == 0 {
			t.Errorf("%s: %d", path, res.StatusCode)
		}
		if want := docTypes[path]; want != "" && res.Header.Get("Content-Type") != want {
			t.Errorf("%s: Content-Type %q, want %q", path, res.Header.Get("Content-Type"), want)
		}
		if path == "/docs/swagger-ui-bundle.js" {
			want, err := fs.ReadFile(swaggerfiles.FS, "swagger-ui-bundle.js")
			if err != nil || !bytes.Equal(b, want) {
				t.Errorf("%s: %d bytes served, not the embedded bundle (%d bytes, %v)", path, len(b), len(want), err)
			}
		}
		if path == "/docs/swagger-initializer.js" && (strings.Contains(string(b), "petstore") || !strings.Contains(string(b), "openapi.json")) {
			t.Errorf("initializer does not load our spec: %s", b)
		}
		if path == "/openapi.yaml" && (strings.Contains(string(b), "/run/{name}") || !strings.Contains(string(b), "run_task") || !strings.Contains(string(b), "title: Ops")) {
			t.Errorf("/openapi.yaml is not the filtered spec")
		}
	}
	for _, p := range []string{"/docs/swagger-ui-es-bundle.js", "/docs/nope.js", "/docs/../go.mod", "/docs/%2e%2e/impl/filter_test.go"} {
		res, err := http.Get(s.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", p, res.StatusCode)
		}
		if cc := res.Header.Get("Cache-Control"); strings.Contains(cc, "max-age") {
			t.Errorf("%s: a 404 may be cached: %s", p, cc)
		}
	}
	for _, p := range []string{"/run/r-running", "/app/a", "/build-image"} {
		r := s.call(t, "GET", p, nil, nil)
		if r.Status != 404 && r.Status != 405 {
			t.Errorf("%s: %d", p, r.Status)
		}
	}
}

// TestDocsInfo: /openapi.json (and so /docs) is titled after the webhook's name unless a
// title is configured, and a configured description goes above the spec's guide to
// authentication and errors instead of replacing it.
func TestDocsInfo(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		cfg          impl.Config
		title, start string
	}{
		{"defaults", impl.Config{Name: "ops-webhook"}, "Flyte Webhook: ops-webhook", "A webhook service for Flyte operations\n\n"},
		{"default name", impl.Config{}, "Flyte Webhook: flyte-webhook", "A webhook service for Flyte operations\n\n"},
		{"configured", impl.Config{Name: "ops-webhook", Title: "Ops", Description: "Runs our nightly jobs."}, "Ops", "Runs our nightly jobs.\n\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, c.cfg)
			res, err := http.Get(s.URL + "/openapi.json")
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var doc struct {
				Info struct{ Title, Description string }
			}
			if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
				t.Fatal(err)
			}
			if doc.Info.Title != c.title {
				t.Errorf("title %q, want %q", doc.Info.Title, c.title)
			}
			d := doc.Info.Description
			if !strings.HasPrefix(d, c.start) || !strings.Contains(d, "**Authentication.**") || !strings.Contains(d, "**Errors**") {
				t.Errorf("description does not open with %q above the guide: %q", c.start, d)
			}
		})
	}
}

// TestAuth: credentials are required (except /health and the docs), either header counts,
// and what came reaches the backend unchanged.
func TestAuth(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{})
	for id, p := range probe {
		r := s.call(t, p[0], p[1], probeBody(id), map[string]string{"Authorization": ""})
		want := http.StatusUnauthorized
		if id == "health" {
			want = http.StatusOK
		}
		if r.Status != want {
			t.Errorf("%s without credentials: %d, want %d", id, r.Status, want)
		}
	}
	if s.fake.called("RunTask") || s.fake.called("GetRun") || s.fake.called("Me") {
		t.Fatal("a request without credentials reached the backend")
	}
	for _, path := range []string{"/openapi.json", "/openapi.yaml", "/docs/"} {
		res, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("%s without credentials: %d", path, res.StatusCode)
		}
	}
	cases := []struct {
		name    string
		headers map[string]string
		want    controlplane.Credentials
	}{
		{"authorization only", map[string]string{"Authorization": "Bearer abc"}, controlplane.Credentials{Authorization: "Bearer abc"}},
		{"cookie only", map[string]string{"Authorization": "", "Cookie": "flyte_webhook_token=xyz"}, controlplane.Credentials{Cookie: "flyte_webhook_token=xyz"}},
		{"both", map[string]string{"Authorization": "Basic Zm9v", "Cookie": "a=b"}, controlplane.Credentials{Authorization: "Basic Zm9v", Cookie: "a=b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.call(t, "GET", "/me", nil, c.headers)
			expectStatus(t, r, 200)
			if got := s.fake.lastCreds(); got != c.want {
				t.Errorf("backend got %+v, want %+v", got.LogValue(), c.want.LogValue())
			}
		})
	}
}

// TestAuthOptional: requires_auth false lets requests without credentials through to the
// backend, which decides who they are.
func TestAuthOptional(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{AuthOptional: true})
	r := s.call(t, "GET", "/me", nil, map[string]string{"Authorization": ""})
	expectStatus(t, r, 200)
	if !s.fake.lastCreds().Empty() {
		t.Fatal("credentials appeared from nowhere")
	}
}
