package flyte_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
)

func decodeJSON(t *testing.T, js string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func canonical(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTypesThroughTheControlPlane: one input of each type goes to the control plane as a
// literal it accepts (the fake checks each), comes back as the run's inputs and, through the
// task, as its outputs: the same JSON, normalized where Flyte's form is canonical.
func TestTypesThroughTheControlPlane(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{})
	s.Deploy(t, deployToken, flytetest.TypesTask(project, domain))
	b := open(t, s, nil)
	ctx := callerCtx(t)

	task, err := b.GetTask(ctx, ref("types", ""))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range task.Inputs {
		names = append(names, v.Name+":"+v.Type)
	}
	if got, want := strings.Join(names, " "), "i:integer f:float s:string b:boolean dt:datetime du:duration l:list m:object g:object mp:object o:integer e:string file:file dir:directory ll:list"; got != want {
		t.Errorf("inputs %s\nwant   %s", got, want)
	}
	if got := strings.Join(task.RequiredArgs(), ","); strings.Contains(got, "o") {
		t.Errorf("required %s: o has a default", got)
	}
	if d := task.DefaultInputs(); len(d) != 1 || d["o"] != nil {
		t.Errorf("defaults %v, want o = null", d)
	}

	in := decodeJSON(t, `{
		"i": 9007199254740993, "f": 0.1, "s": "snow ☃", "b": false,
		"dt": "2026-11-26T12:00:00+01:00", "du": "1m30s",
		"l": [1, -2, 9223372036854775807], "m": {"a": "x", "b": ""},
		"g": {"name": "Ada", "tags": ["x", null], "n": 2.5, "deep": {"ok": true}},
		"mp": {"big": 9007199254740993, "list": [1, "a"], "nested": {"f": 1.25}},
		"e": "green", "file": "s3://bucket/in.csv", "dir": "s3://bucket/dir/",
		"ll": [[1.5, 2], []]
	}`)
	r, err := b.RunTask(ctx, controlplane.RunTaskRequest{Task: ref("types", ""), Inputs: in})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, b, r.Name)
	io, err := b.GetRunIO(ctx, controlplane.RunRef{Name: r.Name})
	if err != nil {
		t.Fatal(err)
	}
	want := decodeJSON(t, `{
		"i": 9007199254740993, "f": 0.1, "s": "snow ☃", "b": false,
		"dt": "2026-11-26T11:00:00Z", "du": "90s",
		"l": [1, -2, 9223372036854775807], "m": {"a": "x", "b": ""},
		"g": {"name": "Ada", "tags": ["x", null], "n": 2.5, "deep": {"ok": true}},
		"mp": {"big": 9007199254740993, "list": [1, "a"], "nested": {"f": 1.25}},
		"o": null, "e": "green", "file": "s3://bucket/in.csv", "dir": "s3://bucket/dir/",
		"ll": [[1.5, 2], []]
	}`)
	if got := canonical(t, io.Inputs); got != canonical(t, want) {
		t.Errorf("inputs  %s\nwant    %s", got, canonical(t, want))
	}
	if got := canonical(t, io.Outputs); got != canonical(t, want) {
		t.Errorf("outputs %s\nwant    %s", got, canonical(t, want))
	}

	// The optional input, given: a union literal the control plane accepts.
	in["o"] = json.Number("7")
	if _, err := b.RunTask(ctx, controlplane.RunTaskRequest{Task: ref("types", ""), Inputs: in}); err != nil {
		t.Errorf("optional given: %v", err)
	}
}

// TestInputErrorsNameTheInput: refusals happen before the control plane is asked, and say
// which input is wrong and how.
func TestInputErrorsNameTheInput(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{})
	s.Deploy(t, deployToken, flytetest.TypesTask(project, domain))
	b := open(t, s, nil)
	ctx := callerCtx(t)
	base := decodeJSON(t, `{"i":1,"f":1,"s":"","b":true,"dt":"2026-01-01T00:00:00Z","du":"1s","l":[],"m":{},"g":{},"mp":{},"e":"red","file":"f","dir":"d","ll":[]}`)
	cases := []struct {
		name, input string
		value       any
		mention     string
	}{
		{"struct integer beyond 2^53", "g", map[string]any{"n": json.Number("9007199254740993")}, `input "g": n: integer 9007199254740993 cannot be held exactly`},
		{"enum", "e", "blue", `input "e": want one of red, green, got "blue"`},
		{"nested list", "ll", []any{[]any{"x"}}, `input "ll": [0][0]: want float, got a string`},
		{"map value", "m", map[string]any{"k": json.Number("1")}, `input "m": k: want string, got a number`},
		{"optional", "o", "seven", `input "o": want one of integer, none, got a string`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := map[string]any{}
			for k, v := range base {
				in[k] = v
			}
			in[c.input] = c.value
			before := len(s.CallsTo(pCreateRun))
			_, err := b.RunTask(ctx, controlplane.RunTaskRequest{Task: ref("types", ""), Inputs: in})
			if controlplane.CodeOf(err) != controlplane.CodeInvalidInput || !strings.HasPrefix(controlplane.MessageOf(err), c.mention) {
				t.Errorf("error %v (%s), want invalid input %q", err, controlplane.CodeOf(err), c.mention)
			}
			if len(s.CallsTo(pCreateRun)) != before {
				t.Error("the control plane was asked to run invalid inputs")
			}
		})
	}
}

// TestTaskView: the task as the API shows it, from its template.
func TestTaskView(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{})
	b := open(t, s, nil)
	ctx := callerCtx(t)
	v2, err := b.GetTask(ctx, ref("echo", ""))
	if err != nil {
		t.Fatal(err)
	}
	if v2.Type != "python" || v2.Cache.Behavior != "auto" || !v2.Cache.Serialize || strings.Join(v2.Secrets, ",") != "GREETING_TOKEN" {
		t.Errorf("echo v2: %+v", v2)
	}
	if v2.Inputs[1].Default != json.Number("1") || !v2.Inputs[1].HasDefault || v2.Inputs[0].HasDefault {
		t.Errorf("echo v2 inputs: %+v", v2.Inputs)
	}
	v1, err := b.GetTask(ctx, ref("echo", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	if v1.Cache.Behavior != "disable" || len(v1.Secrets) != 0 || v1.Ref != ref("echo", "v1") {
		t.Errorf("echo v1: %+v", v1)
	}
	// A version deployed later is the latest once the cache has expired (cache_ttl 10s by
	// default); a backend with the cache off sees it at once.
	s.Deploy(t, deployToken, flytetest.Task(project, domain, "echo", "v3", nil, nil, nil, nil))
	fresh := open(t, s, func(c *flyte.Config) { c.CacheTTL = -1 })
	v3, err := fresh.GetTask(ctx, ref("echo", ""))
	if err != nil || v3.Ref.Version != "v3" {
		t.Errorf("latest after a deploy: %v %v", v3.Ref, err)
	}
}
