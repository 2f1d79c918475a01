package flyte

import (
	"context"
	"sort"
	"strings"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// task is a task version as this backend uses it: the API's view of it, its identifier, and
// what RunTask needs to encode inputs.
type task struct {
	view   controlplane.Task
	id     taskID
	inputs []input
}

type input struct {
	name string
	typ  literalType
	def  *literal // the default, nil when there is none
	// defJSON is the default as a JSON value, for the request fingerprint.
	defJSON any
}

// GetTask returns a task version; Version "" is the latest (ListTasks, newest first).
func (b *Backend) GetTask(ctx context.Context, ref controlplane.TaskRef) (controlplane.Task, error) {
	leave, err := b.enter()
	if err != nil {
		return controlplane.Task{}, err
	}
	defer leave()
	t, err := b.lookupTask(ctx, ref)
	if err != nil {
		return controlplane.Task{}, err
	}
	return t.view, nil
}

// RunTask checks and encodes the inputs against the task's interface and creates a run in
// the task's project and domain.
func (b *Backend) RunTask(ctx context.Context, req controlplane.RunTaskRequest) (controlplane.Run, error) {
	leave, err := b.enter()
	if err != nil {
		return controlplane.Run{}, err
	}
	defer leave()
	if err := controlplane.CheckLabels(req.Labels); err != nil {
		return controlplane.Run{}, err
	}
	t, err := b.lookupTask(ctx, req.Task)
	if err != nil {
		return controlplane.Run{}, err
	}
	return b.startRun(ctx, t, startRequest{asked: req.Task, inputs: req.Inputs, key: req.IdempotencyKey, kind: controlplane.KindTask, labels: req.Labels})
}

// lookupTask finds a task version, from the cache when this caller looked it up within
// cache_ttl. The cache is keyed by the caller's credentials: a caller who may not read the
// task never gets it from another caller's lookup.
func (b *Backend) lookupTask(ctx context.Context, ref controlplane.TaskRef) (*task, error) {
	creds := credentialsKey(ctx)
	name := ref.Domain + "/" + ref.Project + "/" + ref.Name
	version := ref.Version
	if version == "" {
		v, ok := b.latest.get(creds + "\x00" + name)
		if !ok {
			var err error
			if v, err = b.latestVersion(ctx, ref); err != nil {
				return nil, err
			}
			b.latest.put(creds+"\x00"+name, v)
		}
		version = v
	}
	key := creds + "\x00" + name + "/" + version
	if t, ok := b.tasks.get(key); ok {
		return t, nil
	}
	id := taskID{Org: b.cfg.Org, Project: ref.Project, Domain: ref.Domain, Name: ref.Name, Version: version}
	res, err := call(ctx, b, b.p.getTask, &getTaskDetailsRequest{TaskID: id})
	if err != nil {
		return nil, notFound(err, "task %s version %s not found", name, version)
	}
	t := newTask(b, id, &res.Details)
	b.tasks.put(key, t)
	return t, nil
}

// latestVersion asks for the newest version of a task.
func (b *Backend) latestVersion(ctx context.Context, ref controlplane.TaskRef) (string, error) {
	name := ref.Domain + "/" + ref.Project + "/" + ref.Name
	res, err := call(ctx, b, b.p.listTasks, &listTasksRequest{
		ProjectID: projectID{Organization: b.cfg.Org, Name: ref.Project, Domain: ref.Domain},
		Request: listRequest{
			Limit:   1,
			SortBy:  &sortBy{Key: "created_at", Direction: "DESCENDING"},
			Filters: []filter{{Function: "EQUAL", Field: "name", Values: []string{ref.Name}}},
		},
	})
	if err != nil {
		return "", notFound(err, "task %s not found", name)
	}
	for _, t := range res.Tasks {
		if t.TaskID.Name == ref.Name && t.TaskID.Version != "" {
			return t.TaskID.Version, nil
		}
	}
	return "", controlplane.Errorf(controlplane.CodeNotFound, "task %s not found", name)
}

func newTask(b *Backend, id taskID, d *taskDetails) *task {
	tmpl := &d.Spec.TaskTemplate
	t := &task{id: id, view: controlplane.Task{
		Ref:     controlplane.TaskRef{Domain: id.Domain, Project: id.Project, Name: id.Name, Version: id.Version},
		Type:    tmpl.Type,
		Inputs:  []controlplane.Variable{},
		Outputs: []controlplane.Variable{},
		Secrets: []string{},
	}}
	defaults := map[string]*literal{}
	for _, p := range d.Spec.DefaultInputs {
		if p.Parameter.Default != nil {
			defaults[p.Name] = p.Parameter.Default
		}
	}
	for _, e := range tmpl.Interface.Inputs.Variables {
		in := input{name: e.Key, typ: e.Value.Type, def: defaults[e.Key]}
		v := controlplane.Variable{Name: e.Key, Type: typeName(&e.Value.Type), Description: e.Value.Description}
		if in.def != nil {
			dv, err := decodeLiteral(in.def)
			if err != nil {
				b.log.Warn("a task's default input cannot be read", "task", id.Name, "version", id.Version, "input", e.Key, "error", err.Error())
			}
			in.defJSON, v.HasDefault, v.Default = dv, true, dv
		}
		t.inputs = append(t.inputs, in)
		t.view.Inputs = append(t.view.Inputs, v)
	}
	for _, e := range tmpl.Interface.Outputs.Variables {
		t.view.Outputs = append(t.view.Outputs, controlplane.Variable{Name: e.Key, Type: typeName(&e.Value.Type), Description: e.Value.Description})
	}
	switch m := tmpl.Metadata; {
	case !m.Discoverable:
		t.view.Cache = controlplane.Cache{Behavior: "disable"}
	case m.DiscoveryVersion != "":
		t.view.Cache = controlplane.Cache{Behavior: "override", VersionOverride: m.DiscoveryVersion, Serialize: m.CacheSerializable}
	default:
		t.view.Cache = controlplane.Cache{Behavior: "auto", Serialize: m.CacheSerializable}
	}
	if sc := tmpl.SecurityContext; sc != nil {
		seen := map[string]bool{}
		for _, s := range sc.Secrets {
			name := s.Key
			if name == "" {
				name = s.Group
			}
			if name != "" && !seen[name] {
				seen[name] = true
				t.view.Secrets = append(t.view.Secrets, name)
			}
		}
	}
	return t
}

// bindInputs checks inputs against the task's interface and encodes them, defaults applied:
// the literals to send, in declaration order, and every input as a JSON value (for the
// request fingerprint). Errors are CodeInvalidInput naming the input.
func bindInputs(t *task, in map[string]any) ([]namedLiteral, map[string]any, error) {
	declared := make(map[string]bool, len(t.inputs))
	for _, v := range t.inputs {
		declared[v.name] = true
	}
	var unknown []string
	for name := range in {
		if !declared[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, nil, controlplane.Errorf(controlplane.CodeInvalidInput, "input %q: the task has no such input (it takes: %s)", unknown[0], inputNames(t))
	}
	lits := make([]namedLiteral, 0, len(t.inputs))
	values := make(map[string]any, len(t.inputs))
	for i := range t.inputs {
		v := &t.inputs[i]
		val, ok := in[v.name]
		if !ok {
			if v.def == nil {
				return nil, nil, controlplane.Errorf(controlplane.CodeInvalidInput, "input %q: required (%s)", v.name, typeName(&v.typ))
			}
			lits = append(lits, namedLiteral{Name: v.name, Value: v.def})
			values[v.name] = v.defJSON
			continue
		}
		lit, err := encodeValue(&v.typ, val, "")
		if err != nil {
			return nil, nil, controlplane.Errorf(controlplane.CodeInvalidInput, "input %q: %v", v.name, err)
		}
		dv, err := decodeLiteral(lit)
		if err != nil {
			return nil, nil, controlplane.Errorf(controlplane.CodeInvalidInput, "input %q: %v", v.name, err)
		}
		lits = append(lits, namedLiteral{Name: v.name, Value: lit})
		values[v.name] = dv
	}
	return lits, values, nil
}

func inputNames(t *task) string {
	if len(t.inputs) == 0 {
		return "none"
	}
	names := make([]string, len(t.inputs))
	for i, v := range t.inputs {
		names[i] = v.name
	}
	return strings.Join(names, ", ")
}
