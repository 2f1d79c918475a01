package impl_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/flyte-webhook/flyte-webhook/api"
	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/gen"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// policyCases says, for each allowlist policy, which path parameter values are inside the
// restricted configuration of TestEveryOperationIsGuarded and which are outside (and with
// what status). A policy missing here fails the test: a new one must come with its cases.
var policyCases = map[string]struct {
	allowed, refused map[string]string
	// allowedQuery and refusedQuery, when set, replace the probe's query string, for the
	// policies that read the query.
	allowedQuery, refusedQuery string
	refusedStatus              int
}{
	"none": {allowed: map[string]string{}},
	"task": {
		allowed:       map[string]string{"domain": "development", "project": "flytesnacks", "name": "greet"},
		refused:       map[string]string{"domain": "development", "project": "other", "name": "greet"},
		refusedStatus: http.StatusForbidden,
	},
	"run": {
		allowed:       map[string]string{"name": "r-running"},
		refused:       map[string]string{"name": "r-secret"},
		refusedStatus: http.StatusForbidden,
	},
	"app": {
		allowed:       map[string]string{"name": "my-app"},
		refused:       map[string]string{"name": "other-app"},
		refusedStatus: http.StatusForbidden,
	},
	"trigger": {
		allowed:       map[string]string{"task_name": "nightly-task", "trigger_name": "nightly"},
		refused:       map[string]string{"task_name": "other-task", "trigger_name": "nightly"},
		refusedStatus: http.StatusForbidden,
	},
	"prefetch_run": {
		allowed:       map[string]string{"run_name": "r-prefetch"},
		refused:       map[string]string{"run_name": "r-running"},
		refusedStatus: http.StatusNotFound,
	},
	// A list is filtered, not refused, except when it names a task outside the allowlist.
	"run_list": {
		allowed: map[string]string{}, allowedQuery: "task=development/flytesnacks/greet",
		refused: map[string]string{}, refusedQuery: "task=development/other/greet",
		refusedStatus: http.StatusForbidden,
	},
}

// target fills in o's path template from values and keeps the probe's query string, or
// replaces it with query when that is not "".
func target(t *testing.T, o api.Operation, values map[string]string, query ...string) string {
	t.Helper()
	path := o.Path
	for k, v := range values {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	if strings.Contains(path, "{") {
		t.Fatalf("%s: no value for a parameter of %s", o.ID, path)
	}
	if len(query) > 0 && query[0] != "" {
		return path + "?" + query[0]
	}
	if _, q, ok := strings.Cut(probe[o.ID][1], "?"); ok {
		path += "?" + q
	}
	return path
}

// TestEveryOperationIsGuarded walks the whole catalog: every operation names a known
// allowlist policy in openapi.yaml, and through the whole stack, with every allowlist set,
// the guard lets the operation reach its handler for a target inside and refuses one
// outside. ("none" has nothing to refuse: it must pass even with everything restricted.)
func TestEveryOperationIsGuarded(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{
		Name:             "ops-webhook",
		TaskAllowlist:    &[]string{"flytesnacks/greet"},
		AppAllowlist:     &[]string{"my-app"},
		TriggerAllowlist: &[]string{"nightly-task/nightly"},
	})
	for _, o := range contract.Catalog.Operations {
		pc, ok := policyCases[o.Allowlist]
		if !ok {
			t.Errorf("operation %s: allowlist policy %q has no cases here", o.ID, o.Allowlist)
			continue
		}
		t.Run(o.ID, func(t *testing.T) {
			r := s.call(t, o.Method, target(t, o, pc.allowed, pc.allowedQuery), probeBody(o.ID), nil)
			expectStatus(t, r, http.StatusOK)
			if pc.refused == nil {
				return
			}
			s.fake.mu.Lock()
			calls := len(s.fake.calls)
			s.fake.mu.Unlock()
			r = s.call(t, o.Method, target(t, o, pc.refused, pc.refusedQuery), probeBody(o.ID), nil)
			expectStatus(t, r, pc.refusedStatus)
			s.fake.mu.Lock()
			defer s.fake.mu.Unlock()
			for _, c := range s.fake.calls[calls:] {
				if c != "GetRun" && c != "Me" { // the run policies look the run up; nothing else may run
					t.Errorf("a refused %s reached the backend's %s", o.ID, c)
				}
			}
		})
	}
}

// TestGoOperationNames: the Go name the guard maps each operationId to is the name the
// generated strict middleware passes (a method of the strict server interface).
func TestGoOperationNames(t *testing.T) {
	t.Parallel()
	methods := map[string]bool{}
	st := reflect.TypeFor[gen.StrictServerInterface]()
	for i := range st.NumMethod() {
		methods[st.Method(i).Name] = true
	}
	for _, o := range contract.Catalog.Operations {
		if n := impl.GoOperationName(o.ID); !methods[n] {
			t.Errorf("operation %s maps to %s, which the generated server does not have", o.ID, n)
		}
	}
	if len(methods) != len(contract.Catalog.Operations) {
		t.Errorf("%d generated operations, %d in the catalog", len(methods), len(contract.Catalog.Operations))
	}
}

// TestStartupNeedsPolicies: an enabled operation without an allowlist policy, with an
// unknown one, or with one that reads a path parameter the operation lacks stops start-up
// with an error naming the operation; a disabled one does not matter.
func TestStartupNeedsPolicies(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change func(*openapi3.T)
		cfg    impl.Config
		want   []string // "" when start-up must succeed
	}{
		{"policy removed", func(d *openapi3.T) { delete(d.Paths.Find("/run/{name}").Get.Extensions, "x-allowlist") },
			impl.Config{}, []string{"get_run", "no allowlist policy", "x-allowlist"}},
		{"new operation without a policy", func(d *openapi3.T) {
			op := openapi3.NewOperation()
			op.OperationID, op.Tags = "list_apps", []string{"app"}
			op.Responses = d.Paths.Find("/app/{name}").Get.Responses
			d.Paths.Set("/apps", &openapi3.PathItem{Get: op})
		}, impl.Config{EndpointGroups: []string{"app"}}, []string{"list_apps", "no allowlist policy"}},
		{"unknown policy", func(d *openapi3.T) {
			d.Paths.Find("/run-task/{domain}/{project}/{name}").Post.Extensions["x-allowlist"] = "tasks"
		},
			impl.Config{}, []string{"run_task", `"tasks"`, "unknown allowlist policy"}},
		{"policy reading a parameter the path lacks", func(d *openapi3.T) { d.Paths.Find("/run/{name}").Get.Extensions["x-allowlist"] = "trigger" },
			impl.Config{}, []string{"get_run", "{task_name}"}},
		{"disabled operation without a policy", func(d *openapi3.T) { delete(d.Paths.Find("/run/{name}").Get.Extensions, "x-allowlist") },
			impl.Config{EndpointGroups: []string{"core", "task"}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			doc, err := api.LoadSpec()
			if err != nil {
				t.Fatal(err)
			}
			c.change(doc)
			_, err = impl.NewHandlerFromSpec(c.cfg, newFake(), doc)
			if c.want == nil {
				if err != nil {
					t.Fatalf("start-up failed: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("started with an operation that has no usable allowlist policy")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestRunKindPolicy: runs the server starts itself (image builds, model prefetches) have no
// workspace task. The run endpoints show them when the operation that starts them is
// enabled, whatever the task allowlist says (image_build_run_url used to answer 403 under
// one), and answer 404 for them when it is not.
func TestRunKindPolicy(t *testing.T) {
	t.Parallel()
	addBuild := func(s *testServer) {
		s.fake.mu.Lock()
		defer s.fake.mu.Unlock()
		s.fake.runs["r-build"] = controlplane.Run{Name: "r-build", Kind: controlplane.KindImageBuild, Phase: controlplane.PhaseRunning, URL: "http://x/run/r-build"}
	}
	greet := &[]string{"greet"}
	cases := []struct {
		name     string
		cfg      impl.Config
		statuses map[string]int // run → status of get_run, get_run_io and abort_run
	}{
		{"task allowlist, everything enabled", impl.Config{TaskAllowlist: greet},
			map[string]int{"r-build": 200, "r-prefetch": 200, "r-running": 200, "r-secret": 403}},
		{"empty task allowlist", impl.Config{TaskAllowlist: &[]string{}},
			map[string]int{"r-build": 200, "r-prefetch": 200, "r-running": 403}},
		{"no build or prefetch", impl.Config{EndpointGroups: []string{"task", "run"}},
			map[string]int{"r-build": 404, "r-prefetch": 404, "r-running": 200, "r-secret": 200}},
		{"build but no prefetch, task allowlist", impl.Config{EndpointGroups: []string{"run", "build"}, TaskAllowlist: greet},
			map[string]int{"r-build": 200, "r-prefetch": 404, "r-secret": 403}},
		{"prefetch but no build", impl.Config{Endpoints: []string{"get_run", "get_run_io", "abort_run", "prefetch_hf_model"}},
			map[string]int{"r-build": 404, "r-prefetch": 200}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, c.cfg)
			addBuild(s)
			for run, want := range c.statuses {
				for _, req := range [][2]string{{"GET", "/run/" + run}, {"GET", "/run/" + run + "/io"}, {"POST", "/run/" + run + "/abort"}} {
					if r := s.call(t, req[0], req[1], nil, nil); r.Status != want {
						t.Errorf("%s %s: %d, want %d: %s", req[0], req[1], r.Status, want, r.Body)
					}
				}
			}
		})
	}

	t.Run("image_build_run_url under a task allowlist", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, impl.Config{TaskAllowlist: greet})
		addBuild(s)
		r := s.call(t, "POST", "/build-image?name=x", nil, nil)
		expectStatus(t, r, http.StatusOK)
		url := r.str("image_build_run_url")
		run := url[strings.LastIndex(url, "/")+1:]
		expectStatus(t, s.call(t, "GET", "/run/"+run, nil, nil), http.StatusOK)
	})
}
