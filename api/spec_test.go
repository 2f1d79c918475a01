package api

import (
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

func TestGinPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/health":                             "/health",
		"/run-task/{domain}/{project}/{name}": "/run-task/:domain/:project/:name",
		"/prefetch/hf-model/{run_name}/io":    "/prefetch/hf-model/:run_name/io",
		"/":                                   "/",
	} {
		if got := GinPath(in); got != want {
			t.Errorf("GinPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCatalogFromTags: the catalog is what the spec's tags say, and a spec that breaks the
// rules (no tag, two tags, an undeclared tag, no operationId) is refused.
func TestCatalogFromTags(t *testing.T) {
	t.Parallel()
	doc, err := LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCatalog(doc)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Groups, ","); got != "core,task,run,app,trigger,build,prefetch" {
		t.Errorf("groups %s", got)
	}
	// The contract's 18 operations are there by name; the spec may add its own.
	for _, id := range []string{"health", "me", "run_task", "get_task", "get_run", "get_run_io", "abort_run",
		"get_app", "activate_app", "deactivate_app", "call_app", "activate_trigger", "deactivate_trigger",
		"build_image", "prefetch_hf_model", "get_prefetch_hf_model", "get_prefetch_hf_model_io", "abort_prefetch_hf_model",
		"list_runs", "watch_run", "get_run_logs"} {
		if _, ok := c.Operation(id); !ok {
			t.Errorf("the contract's operation %s is missing", id)
		}
	}
	o, ok := c.Operation("run_task")
	if !ok || o.Group != "task" || o.Method != "POST" || o.Path != "/run-task/{domain}/{project}/{name}" || o.Open {
		t.Errorf("run_task: %+v", o)
	}
	if h, _ := c.Operation("health"); !h.Open {
		t.Errorf("health should be open (security: [])")
	}

	breakers := map[string]func(*openapi3.T){
		"no operationId":   func(d *openapi3.T) { d.Paths.Find("/health").Get.OperationID = "" },
		"no tag":           func(d *openapi3.T) { d.Paths.Find("/health").Get.Tags = nil },
		"two tags":         func(d *openapi3.T) { d.Paths.Find("/health").Get.Tags = []string{"core", "task"} },
		"undeclared tag":   func(d *openapi3.T) { d.Paths.Find("/health").Get.Tags = []string{"misc"} },
		"reserved all tag": func(d *openapi3.T) { d.Tags = append(d.Tags, &openapi3.Tag{Name: "all"}) },
		"duplicate id":     func(d *openapi3.T) { d.Paths.Find("/me").Get.OperationID = "health" },
	}
	for name, br := range breakers {
		t.Run(name, func(t *testing.T) {
			d, _ := LoadSpec()
			br(d)
			if _, err := NewCatalog(d); err == nil {
				t.Fatal("accepted a spec that breaks the catalog's rules")
			}
		})
	}
}

// TestFilterPrunes: a filtered spec keeps only enabled operations and their tags, and is
// still a valid OpenAPI document.
func TestFilterPrunes(t *testing.T) {
	t.Parallel()
	doc, _ := LoadSpec()
	c, _ := NewCatalog(doc)
	enabled, err := c.Select([]string{"core", "task"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := Filter(doc, enabled)
	if f.Paths.Len() != 4 {
		t.Errorf("%d paths left, want 4", f.Paths.Len())
	}
	var tags []string
	for _, tg := range f.Tags {
		tags = append(tags, tg.Name)
	}
	if strings.Join(tags, ",") != "core,task" {
		t.Errorf("tags %v", tags)
	}
	if err := f.Validate(t.Context()); err != nil {
		t.Errorf("filtered spec does not validate: %v", err)
	}
	for _, gone := range []string{"AppResponse", "BuildImageRequest", "RunIOResponse", "Modalities"} {
		if _, ok := f.Components.Schemas[gone]; ok {
			t.Errorf("schema %s is only used by disabled operations but is still documented", gone)
		}
	}
	for _, kept := range []string{"Problem", "ProblemError", "Inputs", "TaskResponse", "CacheSettings", "MeResponse"} {
		if _, ok := f.Components.Schemas[kept]; !ok {
			t.Errorf("schema %s is used but was pruned", kept)
		}
	}
	if _, ok := f.Components.Parameters["RunName"]; ok {
		t.Errorf("parameter RunName only serves disabled operations")
	}
}

// TestSimpleStringParameters: only plain length-bounded strings take the direct check; any
// other constraint leaves the parameter to kin-openapi.
func TestSimpleStringParameters(t *testing.T) {
	t.Parallel()
	doc, _ := LoadSpec()
	simple := map[string]bool{}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, p := range op.Parameters {
				if _, ok := asSimpleString(p.Value); ok {
					simple[op.OperationID+"."+p.Value.Name] = true
				}
			}
		}
	}
	for _, want := range []string{"run_task.domain", "run_task.name", "run_task.version", "run_task.Idempotency-Key", "abort_run.reason", "call_app.path", "prefetch_hf_model.repo", "prefetch_hf_model.task"} {
		if !simple[want] {
			t.Errorf("%s should take the direct check", want)
		}
	}
	for _, not := range []string{"call_app.method", "prefetch_hf_model.force", "activate_app.wait", "build_image.pre"} {
		if simple[not] {
			t.Errorf("%s has constraints beyond length: it must stay with kin-openapi", not)
		}
	}
	p := &openapi3.Parameter{Name: "x", In: "query", Schema: openapi3.NewStringSchema().WithPattern("^a$").NewRef()}
	if _, ok := asSimpleString(p); ok {
		t.Error("a pattern is a constraint beyond length")
	}
}

// TestServedSpecInfo: without a configured title the docs are titled after the webhook's
// name, as the Python app's are; the description opens with the configured text (or the
// Python app's default) and keeps the spec's own guide below it.
func TestServedSpecInfo(t *testing.T) {
	t.Parallel()
	doc, _ := LoadSpec()
	guide := doc.Info.Description
	if !strings.Contains(guide, "**Authentication.**") || !strings.Contains(guide, "**Errors**") {
		t.Fatalf("the spec's description lost its guide: %s", guide)
	}
	cases := []struct {
		name        string
		opts        SpecOptions
		title, lead string
	}{
		{"defaults", SpecOptions{Name: "ops-webhook"}, "Flyte Webhook: ops-webhook", DefaultDescription},
		{"configured", SpecOptions{Name: "ops-webhook", Title: "Ops", Description: "Runs our nightly jobs.\n"}, "Ops", "Runs our nightly jobs."},
		{"no name", SpecOptions{}, doc.Info.Title, DefaultDescription},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, err := ServedSpec(c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if s.Spec.Info.Title != c.title {
				t.Errorf("title %q, want %q", s.Spec.Info.Title, c.title)
			}
			if want := c.lead + "\n\n" + guide; s.Spec.Info.Description != want {
				t.Errorf("description %q, want %q", s.Spec.Info.Description, want)
			}
		})
	}
}

// TestDefaults: defaults are read from the spec with their types, and asking for one the spec
// does not declare, or as another type, is an error naming it.
func TestDefaults(t *testing.T) {
	t.Parallel()
	doc, _ := LoadSpec()
	d := NewDefaults(doc)
	if v, err := ParamDefault[string](d, "abort_run", "reason"); err != nil || v != "Aborted via webhook API" {
		t.Errorf("abort_run reason: %q, %v", v, err)
	}
	if v, err := ParamDefault[int](d, "prefetch_hf_model", "force"); err != nil || v != 0 {
		t.Errorf("prefetch_hf_model force: %d, %v", v, err)
	}
	if v, err := ParamDefault[bool](d, "activate_app", "wait"); err != nil || v {
		t.Errorf("activate_app wait: %v, %v", v, err)
	}
	if v, err := PropertyDefault[string](d, "CacheSettings", "behavior"); err != nil || v != "disable" {
		t.Errorf("CacheSettings behavior: %q, %v", v, err)
	}
	if _, err := ParamDefault[string](d, "run_task", "version"); err == nil || !strings.Contains(err.Error(), "parameter version of run_task") {
		t.Errorf("a parameter without a default: %v", err)
	}
	if _, err := ParamDefault[bool](d, "prefetch_hf_model", "cpu"); err == nil || !strings.Contains(err.Error(), "not a bool") {
		t.Errorf("a default of another type: %v", err)
	}
}
