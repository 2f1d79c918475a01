package flytetest

import "encoding/json"

// Fixture tasks, as DeployTaskRequest JSON texts for Server.Deploy.

// ConformanceTasks are the conformance suite's fixtures: echo v1 and v2 (v2 last, cached,
// with a secret), sum, sleep and fail.
func ConformanceTasks(project, domain string) []string {
	echoIn := []any{variable("name", simple("STRING")), variable("times", simple("INTEGER"))}
	echoOut := []any{variable("greeting", simple("STRING"))}
	echoDefaults := []any{param("times", simple("INTEGER"), intLit("1"))}
	return []string{
		Task(project, domain, "echo", "v1", echoIn, echoOut, echoDefaults, nil),
		Task(project, domain, "echo", "v2", echoIn, echoOut, echoDefaults, map[string]any{
			"metadata":        map[string]any{"discoverable": true, "cacheSerializable": true},
			"securityContext": map[string]any{"secrets": []any{map[string]any{"key": "GREETING_TOKEN"}}},
		}),
		Task(project, domain, "sum", "v1",
			[]any{variable("a", simple("INTEGER")), variable("b", simple("INTEGER"))},
			[]any{variable("sum", simple("INTEGER"))}, nil, nil),
		Task(project, domain, "sleep", "v1",
			[]any{variable("seconds", simple("INTEGER"))}, []any{variable("slept", simple("INTEGER"))},
			[]any{param("seconds", simple("INTEGER"), intLit("30"))}, nil),
		Task(project, domain, "fail", "v1", nil, nil, nil, nil),
	}
}

// TypesTypes are the inputs (and outputs, of the same names) of TypesTask: one of each type
// a webhook caller can give as JSON.
func TypesTypes() map[string]any {
	msgpackStruct := map[string]any{
		"simple":     "STRUCT",
		"annotation": map[string]any{"annotations": map[string]any{"cache-key-metadata": map[string]any{"serialization-format": "msgpack"}}},
	}
	return map[string]any{
		"i":    simple("INTEGER"),
		"f":    simple("FLOAT"),
		"s":    simple("STRING"),
		"b":    simple("BOOLEAN"),
		"dt":   simple("DATETIME"),
		"du":   simple("DURATION"),
		"l":    map[string]any{"collectionType": simple("INTEGER")},
		"m":    map[string]any{"mapValueType": simple("STRING")},
		"g":    simple("STRUCT"),
		"mp":   msgpackStruct,
		"o":    map[string]any{"unionType": map[string]any{"variants": []any{simple("INTEGER"), simple("NONE")}}},
		"e":    map[string]any{"enumType": map[string]any{"values": []any{"red", "green"}}},
		"file": map[string]any{"blob": map[string]any{"format": "csv"}},
		"dir":  map[string]any{"blob": map[string]any{"dimensionality": "MULTIPART"}},
		"ll":   map[string]any{"collectionType": map[string]any{"collectionType": simple("FLOAT")}},
	}
}

// TypesTask is a task "types" whose outputs are its inputs, one of each type (TypesTypes),
// in this order: i f s b dt du l m g mp o e file dir ll. o defaults to none.
func TypesTask(project, domain string) string {
	types := TypesTypes()
	var vars []any
	for _, k := range []string{"i", "f", "s", "b", "dt", "du", "l", "m", "g", "mp", "o", "e", "file", "dir", "ll"} {
		vars = append(vars, variable(k, types[k].(map[string]any)))
	}
	none := map[string]any{"scalar": map[string]any{"union": map[string]any{
		"value": map[string]any{"scalar": map[string]any{"noneType": map[string]any{}}}, "type": simple("NONE"),
	}}}
	return Task(project, domain, "types", "v1", vars, vars, []any{param("o", types["o"].(map[string]any), none)}, nil)
}

// StringsTask is a task whose inputs are the given names, each a string with default "", and
// a list of strings for names in lists; it succeeds with no outputs. For stand-ins of the
// image build and model prefetch tasks.
func StringsTask(project, domain, name string, strings, lists []string) string {
	var vars, defaults []any
	for _, s := range strings {
		vars = append(vars, variable(s, simple("STRING")))
		defaults = append(defaults, param(s, simple("STRING"), strLit("")))
	}
	for _, s := range lists {
		t := map[string]any{"collectionType": simple("STRING")}
		vars = append(vars, variable(s, t))
		defaults = append(defaults, param(s, t, map[string]any{"collection": map[string]any{}}))
	}
	return Task(project, domain, name, "v1", vars, nil, defaults, nil)
}

// Task returns a DeployTaskRequest: a python task with the given interface (variables as
// variable() makes them), default inputs (as param() makes them), and template fields to add.
func Task(project, domain, name, version string, inputs, outputs, defaults []any, template map[string]any) string {
	tmpl := map[string]any{
		"id":       map[string]any{"resourceType": "TASK", "project": project, "domain": domain, "name": name, "version": version},
		"type":     "python",
		"metadata": map[string]any{"runtime": map[string]any{"type": "FLYTE_SDK", "version": "2.0.0", "flavor": "python"}},
		"interface": map[string]any{
			"inputs":  map[string]any{"variables": nonNil(inputs)},
			"outputs": map[string]any{"variables": nonNil(outputs)},
		},
		"container": map[string]any{"image": "registry.example/tasks:" + version, "args": []any{"a0", "--inputs", "{{.input}}"}},
	}
	for k, v := range template {
		tmpl[k] = v
	}
	spec := map[string]any{"taskTemplate": tmpl, "shortName": name, "environment": map[string]any{"name": "conformance"}}
	if len(defaults) > 0 {
		spec["defaultInputs"] = defaults
	}
	b, _ := json.Marshal(map[string]any{
		"taskId": map[string]any{"project": project, "domain": domain, "name": name, "version": version},
		"spec":   spec,
	})
	return string(b)
}

func nonNil(v []any) []any {
	if v == nil {
		return []any{}
	}
	return v
}

func simple(t string) map[string]any { return map[string]any{"simple": t} }

func variable(key string, typ map[string]any) map[string]any {
	return map[string]any{"key": key, "value": map[string]any{"type": typ}}
}

func param(name string, typ map[string]any, def any) map[string]any {
	return map[string]any{"name": name, "parameter": map[string]any{"var": map[string]any{"type": typ}, "default": def}}
}

func intLit(n string) map[string]any {
	return map[string]any{"scalar": map[string]any{"primitive": map[string]any{"integer": n}}}
}

func strLit(s string) map[string]any {
	return map[string]any{"scalar": map[string]any{"primitive": map[string]any{"stringValue": s}}}
}
