package local

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/internal/boundedfile"
)

// The workspace file:
//
//	tasks:
//	  - domain: development
//	    project: examples
//	    name: greet
//	    version: v1
//	    type: shell                 # task_type shown by get_task; defaults to "shell"
//	    inputs:                     # in order; default makes an input optional
//	      - {name: name, type: string, default: world, description: Who to greet.}
//	    outputs:
//	      - {name: greeting, type: string}
//	    command: [node, tasks/greet.mjs]   # run in workdir (default: the workspace's folder)
//	    env: {GREETING: hello}
//	    workdir: .
//	    timeout: 30s                # per attempt, a Go duration; default: none; final (no retry)
//	    retries: 0                  # more attempts after a failed one (0-100)
//	    cache: {behavior: disable, version_override: "", serialize: false}  # see taskcache.go
//	    secrets: [API_KEY]          # names of server environment variables handed to the task
//
// Types: string, integer, float, boolean, list, object, datetime (RFC 3339), duration (Go
// syntax, e.g. "90s"). Unknown keys are errors that name the key by its path
// (tasks[2].bogus) and line.
//
// The tasks key is required: a file that is empty, holds only comments, has no tasks key or
// a null one (`tasks:`) is refused, at Open and on Reload (which keeps the current
// workspace). Those are what a truncated or half-written file looks like, and taking one
// for "no tasks" would make every task 404 at once. A workspace that really declares no
// tasks says so: `tasks: []`. Apps: see workspace_apps.go. Triggers: see
// workspace_triggers.go.
type workspaceFile struct {
	Tasks    *[]taskSpec   `yaml:"tasks"`    // nil: absent or null, refused (see above)
	Apps     []appSpec     `yaml:"apps"`     // see workspace_apps.go
	Triggers []triggerSpec `yaml:"triggers"` // see workspace_triggers.go
}

type taskSpec struct {
	Domain  string            `yaml:"domain"`
	Project string            `yaml:"project"`
	Name    string            `yaml:"name"`
	Version string            `yaml:"version"`
	Type    string            `yaml:"type"`
	Inputs  []varSpec         `yaml:"inputs"`
	Outputs []varSpec         `yaml:"outputs"`
	Command []string          `yaml:"command"`
	Env     map[string]string `yaml:"env"`
	Workdir string            `yaml:"workdir"`
	Timeout duration          `yaml:"timeout"`
	Retries int               `yaml:"retries"`
	Cache   cacheSpec         `yaml:"cache"`
	Secrets []string          `yaml:"secrets"`
}

type varSpec struct {
	Name        string    `yaml:"name"`
	Type        string    `yaml:"type"`
	Description string    `yaml:"description"`
	Default     yaml.Node `yaml:"default"`
}

type cacheSpec struct {
	Behavior        string `yaml:"behavior"`
	VersionOverride string `yaml:"version_override"`
	Serialize       bool   `yaml:"serialize"`
}

// task is a loaded, checked task version.
type task struct {
	controlplane.Task
	Command []string
	Env     map[string]string
	Workdir string
	Timeout time.Duration
	Retries int
	// job, when not nil, is the work of a run the server executes itself: the stand-in task
	// runnable makes for it (see jobs.go).
	job job
}

type taskKey struct{ domain, project, name string }

// workspace is a loaded workspace file: immutable once loaded (Reload swaps it whole).
type workspace struct {
	versions map[taskKey]map[string]*task // name → version → task
	order    []taskVersionKey             // file order, for registration
	triggers []*trigger                   // file order (see workspace_triggers.go)
	apps     map[string]*app              // by name (see workspace_apps.go)
}

// taskVersionKey names one version of a task.
type taskVersionKey struct{ Domain, Project, Name, Version string }

var (
	namePart   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,254})$`)
	envNameRe  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	knownTypes = map[string]bool{"string": true, "integer": true, "float": true, "boolean": true, "list": true, "object": true, "datetime": true, "duration": true}
)

// errNoWorkspace is Reload's refusal when Config.Workspace is empty.
var errNoWorkspace = errors.New("workspace: no workspace file configured (backend.local.workspace); set one and restart")

// CheckWorkspace loads the workspace file cfg.Workspace as Open and Reload do (with the
// webhook's own name and port that cfg carries, which apps may not take), and reports how
// many task versions it declares. It lets a config checker check the file without opening a
// backend.
func CheckWorkspace(cfg Config) (taskVersions int, err error) {
	if cfg.Workspace == "" {
		return 0, errNoWorkspace
	}
	ws, err := loadWorkspace(cfg.withDefaults())
	if err != nil {
		return 0, err
	}
	return len(ws.order), nil
}

// reloadWorkspace is loadWorkspace for Reload: without a workspace file there is nothing to
// re-read, and saying so beats "reloaded, 0 tasks".
func reloadWorkspace(cfg Config) (*workspace, error) {
	if cfg.Workspace == "" {
		return nil, errNoWorkspace
	}
	return loadWorkspace(cfg)
}

// loadWorkspace reads and checks the workspace file cfg.Workspace. Every error names the task
// (or app) and the key. No workspace configured is a workspace without tasks.
func loadWorkspace(cfg Config) (*workspace, error) {
	path := cfg.Workspace
	if path == "" {
		return &workspace{versions: map[taskKey]map[string]*task{}, apps: map[string]*app{}}, nil
	}
	var wf workspaceFile
	if err := boundedfile.DecodeYAML(path, 8<<20, &wf); err != nil {
		return nil, fmt.Errorf("workspace: %w", err)
	}
	if wf.Tasks == nil {
		return nil, fmt.Errorf("workspace: %s: no tasks key (is the file empty or cut short?); refused so that no task disappears by accident; to declare no tasks write \"tasks: []\"", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(abs)
	ws := &workspace{versions: map[taskKey]map[string]*task{}}
	for i, ts := range *wf.Tasks {
		t, err := ts.check(dir)
		if err != nil {
			return nil, fmt.Errorf("workspace: tasks[%d] (%s): %w", i, ts.Name, err)
		}
		k := taskKey{t.Ref.Domain, t.Ref.Project, t.Ref.Name}
		if ws.versions[k] == nil {
			ws.versions[k] = map[string]*task{}
		}
		if ws.versions[k][t.Ref.Version] != nil {
			return nil, fmt.Errorf("workspace: tasks[%d]: %s/%s/%s version %s is declared twice", i, k.domain, k.project, k.name, t.Ref.Version)
		}
		ws.versions[k][t.Ref.Version] = t
		ws.order = append(ws.order, taskVersionKey{k.domain, k.project, k.name, t.Ref.Version})
	}
	if ws.apps, err = loadApps(wf.Apps, dir, cfg); err != nil {
		return nil, err
	}
	if ws.triggers, err = checkTriggers(ws, wf.Triggers); err != nil {
		return nil, err
	}
	return ws, nil
}

func (ts taskSpec) check(dir string) (*task, error) {
	for key, v := range map[string]string{"domain": ts.Domain, "project": ts.Project, "name": ts.Name, "version": ts.Version} {
		if !namePart.MatchString(v) {
			return nil, fmt.Errorf("%s: %q must be 1-255 letters, digits, '.', '_' or '-'", key, v)
		}
	}
	if len(ts.Command) == 0 || ts.Command[0] == "" {
		return nil, fmt.Errorf("command: required")
	}
	if ts.Retries < 0 || ts.Retries > 100 {
		return nil, fmt.Errorf("retries: %d is not in 0-100", ts.Retries)
	}
	if ts.Timeout < 0 {
		return nil, fmt.Errorf("timeout: must not be negative")
	}
	switch ts.Cache.Behavior {
	case "":
		ts.Cache.Behavior = "disable"
	case "disable", "auto", "override":
	default:
		return nil, fmt.Errorf("cache.behavior: %q is not one of disable, auto, override", ts.Cache.Behavior)
	}
	for i, s := range ts.Secrets {
		if !envNameRe.MatchString(s) {
			return nil, fmt.Errorf("secrets[%d]: %q is not an environment variable name", i, s)
		}
	}
	for k := range ts.Env {
		if !envNameRe.MatchString(k) {
			return nil, fmt.Errorf("env: %q is not an environment variable name", k)
		}
	}
	inputs, err := checkVars("inputs", ts.Inputs, true)
	if err != nil {
		return nil, err
	}
	outputs, err := checkVars("outputs", ts.Outputs, false)
	if err != nil {
		return nil, err
	}
	typ := ts.Type
	if typ == "" {
		typ = "shell"
	}
	workdir := ts.Workdir
	if workdir == "" {
		workdir = dir
	} else if !filepath.IsAbs(workdir) {
		workdir = filepath.Join(dir, workdir)
	}
	return &task{
		Task: controlplane.Task{
			Ref:     controlplane.TaskRef{Domain: ts.Domain, Project: ts.Project, Name: ts.Name, Version: ts.Version},
			Type:    typ,
			Inputs:  inputs,
			Outputs: outputs,
			Cache:   controlplane.Cache{Behavior: ts.Cache.Behavior, VersionOverride: ts.Cache.VersionOverride, Serialize: ts.Cache.Serialize},
			Secrets: append([]string{}, ts.Secrets...),
		},
		Command: ts.Command,
		Env:     ts.Env,
		Workdir: workdir,
		Timeout: time.Duration(ts.Timeout),
		Retries: ts.Retries,
	}, nil
}

func checkVars(key string, specs []varSpec, defaults bool) ([]controlplane.Variable, error) {
	seen := map[string]bool{}
	out := make([]controlplane.Variable, 0, len(specs))
	for i, s := range specs {
		if !envNameRe.MatchString(s.Name) {
			return nil, fmt.Errorf("%s[%d].name: %q must be a plain identifier", key, i, s.Name)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("%s[%d].name: %q is declared twice", key, i, s.Name)
		}
		seen[s.Name] = true
		if !knownTypes[s.Type] {
			return nil, fmt.Errorf("%s[%d].type: %q is not one of string, integer, float, boolean, list, object, datetime, duration", key, i, s.Type)
		}
		v := controlplane.Variable{Name: s.Name, Type: s.Type, Description: s.Description}
		if s.Default.Kind != 0 {
			if !defaults {
				return nil, fmt.Errorf("%s[%d].default: outputs have no defaults", key, i)
			}
			var d any
			if err := s.Default.Decode(&d); err != nil {
				return nil, fmt.Errorf("%s[%d].default: %v", key, i, err)
			}
			d, err := jsonValue(d)
			if err != nil {
				return nil, fmt.Errorf("%s[%d].default: %v", key, i, err)
			}
			if d != nil {
				if d, err = checkValue(s.Type, d); err != nil {
					return nil, fmt.Errorf("%s[%d].default: %v", key, i, err)
				}
			}
			v.HasDefault, v.Default = true, d
		}
		out = append(out, v)
	}
	return out, nil
}

// jsonValue turns a value decoded from YAML into what decoding its JSON would give (numbers
// as json.Number), so defaults and request inputs have one form.
func jsonValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("not representable as JSON: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	err = dec.Decode(&out)
	return out, err
}

// lookup returns a task version; version "" is the most recently registered version that
// this workspace declares (registered holds registration numbers, higher is newer).
func (ws *workspace) lookup(ref controlplane.TaskRef, registered map[taskVersionKey]int64) (*task, error) {
	vs := ws.versions[taskKey{ref.Domain, ref.Project, ref.Name}]
	if len(vs) == 0 {
		return nil, controlplane.Errorf(controlplane.CodeNotFound, "task %s/%s/%s not found", ref.Domain, ref.Project, ref.Name)
	}
	if ref.Version == "" {
		var best *task
		var bestSeq int64 = -1
		for v, t := range vs {
			if seq := registered[taskVersionKey{ref.Domain, ref.Project, ref.Name, v}]; seq > bestSeq {
				best, bestSeq = t, seq
			}
		}
		return best, nil
	}
	t := vs[ref.Version]
	if t == nil {
		return nil, controlplane.Errorf(controlplane.CodeNotFound, "task %s/%s/%s has no version %q", ref.Domain, ref.Project, ref.Name, ref.Version)
	}
	return t, nil
}

// duration is a time.Duration written as a Go duration string ("30s", "1h30m").
type duration time.Duration

// UnmarshalYAML refuses bare numbers: "timeout: 30" would otherwise mean 30 nanoseconds.
func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!int" || n.Tag == "!!float" || err != nil {
		return fmt.Errorf("line %d: want a duration like \"30s\" or \"1h30m\", got %q", n.Line, n.Value)
	}
	*d = duration(v)
	return nil
}
