package impl

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/flyte-webhook/flyte-webhook/api"
	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/gen"
)

// The allowlist policies, the values of x-allowlist on each operation in openapi.yaml. A
// policy says which allowlist guards an operation and which path parameters name what it
// guards.
const (
	policyNone        = "none"         // nothing to guard (health, me, starting a build or a prefetch)
	policyTask        = "task"         // the task named by {domain}/{project}/{name}
	policyRun         = "run"          // the run {name}: by its kind, then by its task
	policyApp         = "app"          // the app {name}: not the webhook itself, then the app allowlist
	policyTrigger     = "trigger"      // the trigger {task_name}/{trigger_name}
	policyPrefetchRun = "prefetch_run" // the run {run_name}, which must be a model prefetch
	policyRunList     = "run_list"     // a list of runs: the task it names, if any; the rest is filtered (lists.go)
)

// The operations whose being enabled makes the runs they start visible (see checkRun).
const (
	opBuildImage = "build_image"
	opPrefetch   = "prefetch_hf_model"
)

// policy is how the guard checks an operation: the path parameters it reads, in order, and
// the check over their values and the request's scope (the optional project and domain
// query parameters that say where a run lives). A nil check guards nothing.
type policy struct {
	params []string
	check  func(s *Server, ctx context.Context, v [maxPolicyParams]string, scope scope) (*controlplane.Run, error)
}

// scope is the optional project and domain a request names a run in ("" for the backend's
// defaults), and the query of the request for the policies that read it (run_list).
type scope struct {
	project, domain string
	query           func(name string) string
}

func (sc scope) run(name string) controlplane.RunRef {
	return controlplane.RunRef{Name: name, Project: sc.project, Domain: sc.domain}
}

const maxPolicyParams = 3

var policies = map[string]policy{
	policyNone: {},
	policyTask: {params: []string{"domain", "project", "name"}, check: func(s *Server, ctx context.Context, v [maxPolicyParams]string, _ scope) (*controlplane.Run, error) {
		return nil, s.lists.checkTask(ctx, v[0], v[1], v[2])
	}},
	policyRun: {params: []string{"name"}, check: func(s *Server, ctx context.Context, v [maxPolicyParams]string, sc scope) (*controlplane.Run, error) {
		return s.checkRun(ctx, sc.run(v[0]))
	}},
	policyApp: {params: []string{"name"}, check: func(s *Server, ctx context.Context, v [maxPolicyParams]string, _ scope) (*controlplane.Run, error) {
		return nil, s.lists.checkApp(ctx, s.cfg.Name, v[0])
	}},
	policyTrigger: {params: []string{"task_name", "trigger_name"}, check: func(s *Server, ctx context.Context, v [maxPolicyParams]string, _ scope) (*controlplane.Run, error) {
		return nil, s.lists.checkTrigger(ctx, v[0], v[1])
	}},
	policyPrefetchRun: {params: []string{"run_name"}, check: func(s *Server, ctx context.Context, v [maxPolicyParams]string, sc scope) (*controlplane.Run, error) {
		return s.checkPrefetchRun(ctx, sc.run(v[0]))
	}},
	policyRunList: {check: func(s *Server, ctx context.Context, _ [maxPolicyParams]string, sc scope) (*controlplane.Run, error) {
		return nil, s.checkRunList(ctx, sc.query("task"))
	}},
}

// opGuard is the policy of one enabled operation.
type opGuard struct {
	id string // the operationId
	policy
}

// newGuards resolves the policy of every enabled operation, keyed by the Go name the
// generated strict middleware receives. An enabled operation without a policy, with an
// unknown one, or whose path lacks a parameter its policy reads stops start-up with an error
// naming it: a new operation must say how it is guarded, never pass unguarded by default.
func newGuards(served api.Served) (map[string]*opGuard, error) {
	guards := map[string]*opGuard{}
	for _, o := range served.Catalog.Operations {
		if !served.Enabled[o.ID] {
			continue
		}
		p, ok := policies[o.Allowlist]
		switch {
		case o.Allowlist == "":
			return nil, fmt.Errorf("operation %s has no allowlist policy: give it %s: <policy> in openapi.yaml (one of %s)", o.ID, api.AllowlistExtension, policyNames())
		case !ok:
			return nil, fmt.Errorf("operation %s: unknown allowlist policy %s: %q (known: %s)", o.ID, api.AllowlistExtension, o.Allowlist, policyNames())
		}
		for _, name := range p.params {
			if !strings.Contains(o.Path, "{"+name+"}") {
				return nil, fmt.Errorf("operation %s: allowlist policy %q reads the path parameter {%s}, which %s does not have", o.ID, o.Allowlist, name, o.Path)
			}
		}
		gn := goOperationName(o.ID)
		if other, dup := guards[gn]; dup {
			return nil, fmt.Errorf("operations %s and %s have the same Go name %s", other.id, o.ID, gn)
		}
		guards[gn] = &opGuard{id: o.ID, policy: p}
	}
	return guards, nil
}

func policyNames() string {
	names := make([]string, 0, len(policies))
	for n := range policies {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// goOperationName is the name oapi-codegen gives an operationId in Go, the name the strict
// middleware receives: run_task → RunTask, get_run_io → GetRunIo (its ToCamelCase: a
// separator is dropped and capitalises the next letter).
func goOperationName(id string) string {
	var b strings.Builder
	capNext := true
	for _, r := range strings.TrimSpace(id) {
		switch {
		case unicode.IsUpper(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		case unicode.IsLower(r) && capNext:
			b.WriteRune(unicode.ToUpper(r))
		case unicode.IsLower(r):
			b.WriteRune(r)
		}
		capNext = strings.ContainsRune("-#@!$&=.+:;_~ (){}[]", r)
	}
	return b.String()
}

// guard is the allowlist layer, a strict middleware. It applies the policy of the operation
// it wraps, found by the Go operation name the generated code passes. The policy's values
// are the path parameters as gin decoded them, which are exactly what the generated binder
// hands the handler (it binds c.Param with ValueIsUnescaped), so no path or encoding trick
// can make the check and the handler disagree.
func (s *Server) guard(next gen.StrictHandlerFunc, operation string) gen.StrictHandlerFunc {
	g, ok := s.guards[operation]
	if !ok {
		// Start-up resolved a policy for every enabled operation, so this is the generated
		// code and the spec disagreeing: refuse, never pass unguarded.
		return func(*ginContext, any) (any, error) {
			return nil, fmt.Errorf("impl: no allowlist policy for operation %s", operation)
		}
	}
	if g.check == nil {
		return next
	}
	return func(c *ginContext, request any) (any, error) {
		var v [maxPolicyParams]string
		for i, name := range g.params {
			v[i] = c.Param(name)
		}
		// The query was validated, and the generated binder reads the same first value.
		run, err := g.check(s, requestContext(c), v, scope{project: c.Query("project"), domain: c.Query("domain"), query: c.Query})
		if err != nil {
			return nil, err
		}
		if run != nil { // hand the run the check fetched to the handler: no second fetch
			c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), checkedRunKey{}, *run))
		}
		return next(c, request)
	}
}

type checkedRunKey struct{}

// getRun returns the run the guard already fetched for this request, else asks the backend.
func (s *Server) getRun(ctx context.Context, ref controlplane.RunRef) (controlplane.Run, error) {
	ctx = requestContext(ctx)
	if run, ok := ctx.Value(checkedRunKey{}).(controlplane.Run); ok && run.Name == ref.Name {
		return run, nil
	}
	return s.backend.GetRun(ctx, ref)
}

// checkRun is the run policy. A run the server started itself has no workspace task, so it
// is judged by its kind: an image build is visible when build_image is enabled here, a model
// prefetch when prefetch_hf_model is (404 otherwise: this webhook does not serve them), and
// the task allowlist never hides either. Any other run is judged by its task against the
// task allowlist (the seed checks only run_task and get_task; a restricted webhook must not
// read or abort other tasks' runs), and so by the caller's own allowlists (Identity.Allowlists).
// When nothing could refuse, the lookup is skipped.
func (s *Server) checkRun(ctx context.Context, ref controlplane.RunRef) (*controlplane.Run, error) {
	if !s.lists.RestrictsTasks() && !callerLists(ctx).RestrictsTasks() && s.enabled[opBuildImage] && s.enabled[opPrefetch] {
		return nil, nil
	}
	name := ref.Name
	run, err := s.backend.GetRun(ctx, ref)
	if err != nil {
		return nil, err
	}
	switch run.Kind {
	case controlplane.KindImageBuild:
		if !s.enabled[opBuildImage] {
			return nil, controlplane.Errorf(controlplane.CodeNotFound, "run %q is an image build; this webhook does not serve image builds (%s is not enabled)", name, opBuildImage)
		}
	case controlplane.KindPrefetch:
		if !s.enabled[opPrefetch] {
			return nil, controlplane.Errorf(controlplane.CodeNotFound, "run %q is a model prefetch; this webhook does not serve model prefetches (%s is not enabled)", name, opPrefetch)
		}
	default:
		t := run.Task
		if err := s.lists.checkTask(ctx, t.Domain, t.Project, t.Name); err != nil {
			return nil, err
		}
	}
	return &run, nil
}

// checkPrefetchRun makes the prefetch endpoints answer only for model prefetch runs.
func (s *Server) checkPrefetchRun(ctx context.Context, ref controlplane.RunRef) (*controlplane.Run, error) {
	name := ref.Name
	run, err := s.backend.GetRun(ctx, ref)
	if err != nil {
		return nil, err
	}
	if run.Kind != controlplane.KindPrefetch {
		return nil, controlplane.Errorf(controlplane.CodeNotFound, "run %q is not a model prefetch", name)
	}
	return &run, nil
}
