package impl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/flyte-webhook/flyte-webhook/api"
	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/gen"
	"github.com/flyte-webhook/flyte-webhook/internal/boundedcache"
)

type ginContext = gin.Context

// Server implements the generated strict server over a controlplane.Backend. Documented
// failures come back from the backend as *controlplane.Error and are written as problem+json
// in one place (writeError); handlers only translate values.
type Server struct {
	backend controlplane.Backend
	cfg     Config
	lists   allowlists
	log     *slog.Logger
	routes  map[string]map[string]*routeMeta // gin path → method → route
	done    *boundedcache.Cache[encodedRun]  // encoded get_run answers of finished runs
	def     specDefaults
	guards  map[string]*opGuard // Go operation name → its allowlist policy
	enabled map[string]bool     // operationIds this deployment serves
	ids     *identityCache      // identities the auth layer verified
	streams atomic.Int64        // event streams open (see acquireStream)
}

var _ gen.StrictServerInterface = (*Server)(nil)

// requestContext returns the request's own context (credentials, request id, cancellation),
// never the pooled *gin.Context itself, so a backend may keep it past the handler safely.
func requestContext(ctx context.Context) context.Context {
	if c, ok := ctx.(*gin.Context); ok && c.Request != nil {
		return c.Request.Context()
	}
	return ctx
}

// validatedBody returns the request body as the validator decoded it (kin-openapi's
// KeepValidatedValue), with numbers as json.Number. The generated binder turns those into
// float64, which would round integers above 2^53; handlers that pass values on read this.
func validatedBody(ctx context.Context) any {
	c, ok := ctx.(*gin.Context)
	if !ok || c.Request == nil || c.Request.Body == nil {
		return nil
	}
	if vb, ok := c.Request.Body.(interface{ ValidatedValue() any }); ok {
		return vb.ValidatedValue()
	}
	return nil
}

// Health answers while the server is up.
func (s *Server) Health(context.Context, gen.HealthRequestObject) (gen.HealthResponseObject, error) {
	return gen.Health200JSONResponse{Status: "healthy"}, nil
}

// Me answers with the caller's identity as the backend verified it.
func (s *Server) Me(ctx context.Context, _ gen.MeRequestObject) (gen.MeResponseObject, error) {
	id, err := s.backend.Me(requestContext(ctx))
	if err != nil {
		return nil, err
	}
	return gen.Me200JSONResponse{Subject: id.Subject, Name: id.Name}, nil
}

// RunTask starts a run of a task.
func (s *Server) RunTask(ctx context.Context, r gen.RunTaskRequestObject) (gen.RunTaskResponseObject, error) {
	req := controlplane.RunTaskRequest{
		Task:   controlplane.TaskRef{Domain: r.Domain, Project: r.Project, Name: r.Name, Version: deref(r.Params.Version)},
		Inputs: map[string]any{},
	}
	if m, ok := validatedBody(ctx).(map[string]any); ok {
		req.Inputs = m // json.Number values: integers stay exact
	} else if r.Body != nil && *r.Body != nil {
		req.Inputs = *r.Body
	}
	req.IdempotencyKey = deref(r.Params.IdempotencyKey)
	if r.Params.Label != nil {
		labels, err := controlplane.ParseLabels(*r.Params.Label)
		if err != nil {
			return nil, err
		}
		req.Labels = labels
	}
	run, err := s.backend.RunTask(requestContext(ctx), req)
	if err != nil {
		return nil, err
	}
	if d := parseWait(r.Params.Wait, s.cfg.MaxWait); d > 0 {
		return s.waitedRunTask(ctx, run, d)
	}
	return gen.RunTask200JSONResponse{Name: run.Name, Url: run.URL}, nil
}

// GetTask describes a task.
func (s *Server) GetTask(ctx context.Context, r gen.GetTaskRequestObject) (gen.GetTaskResponseObject, error) {
	t, err := s.backend.GetTask(requestContext(ctx), controlplane.TaskRef{Domain: r.Domain, Project: r.Project, Name: r.Name, Version: deref(r.Params.Version)})
	if err != nil {
		return nil, err
	}
	cache := gen.CacheSettings{Behavior: t.Cache.Behavior, Serialize: t.Cache.Serialize}
	if cache.Behavior == "" {
		cache.Behavior = s.def.cacheBehavior
	}
	if t.Cache.VersionOverride != "" {
		cache.VersionOverride = &t.Cache.VersionOverride
	}
	secrets := t.Secrets
	if secrets == nil {
		secrets = []string{}
	}
	inputs := make([]gen.TaskInput, 0, len(t.Inputs))
	for _, v := range t.Inputs {
		in := gen.TaskInput{Name: v.Name, Type: v.Type, Required: !v.HasDefault, Description: optString(v.Description)}
		if v.HasDefault {
			// Encoded here, not by the response's encoder: a nil Default is the JSON null
			// default, which must stay apart from no default (an absent field), and
			// json.Number integers keep every digit.
			if in.Default, err = json.Marshal(v.Default); err != nil {
				return nil, fmt.Errorf("get_task %s: default of input %q: %w", t.Ref.Name, v.Name, err)
			}
		}
		inputs = append(inputs, in)
	}
	outputs := make([]gen.TaskOutput, 0, len(t.Outputs))
	for _, v := range t.Outputs {
		outputs = append(outputs, gen.TaskOutput{Name: v.Name, Type: v.Type, Description: optString(v.Description)})
	}
	return gen.GetTask200JSONResponse{
		Name:             t.Ref.Name,
		Version:          t.Ref.Version,
		TaskType:         t.Type,
		RequiredArgs:     t.RequiredArgs(),
		DefaultInputArgs: t.DefaultInputNames(),
		Cache:            cache,
		Secrets:          secrets,
		Inputs:           &inputs,
		Outputs:          &outputs,
	}, nil
}

// GetRun describes a run.
func (s *Server) GetRun(ctx context.Context, r gen.GetRunRequestObject) (gen.GetRunResponseObject, error) {
	ref := controlplane.RunRef{Name: r.Name, Project: deref(r.Params.Project), Domain: deref(r.Params.Domain)}
	run, err := s.getRun(ctx, ref)
	if d := parseWait(r.Params.Wait, s.cfg.MaxWait); err == nil && d > 0 {
		run, err = s.waitedRun(ctx, ref, run, d)
	}
	if err != nil {
		return nil, err
	}
	if !run.Phase.Done() {
		return gen.GetRun200JSONResponse(runResponse(run)), nil
	}
	if b, ok := s.done.Get(run.Name); ok {
		return b, nil
	}
	b, err := encodeRun(runResponse(run))
	if err != nil {
		return nil, err
	}
	s.done.Put(run.Name, b)
	return b, nil
}

// GetRunIo returns a run's inputs and outputs.
func (s *Server) GetRunIo(ctx context.Context, r gen.GetRunIoRequestObject) (gen.GetRunIoResponseObject, error) {
	io, err := s.backend.GetRunIO(requestContext(ctx), controlplane.RunRef{Name: r.Name, Project: deref(r.Params.Project), Domain: deref(r.Params.Domain)})
	if err != nil {
		return nil, err
	}
	return gen.GetRunIo200JSONResponse{Name: io.Run.Name, Inputs: optMap(io.Inputs), Outputs: optMap(io.Outputs)}, nil
}

// AbortRun asks for a run to be aborted.
func (s *Server) AbortRun(ctx context.Context, r gen.AbortRunRequestObject) (gen.AbortRunResponseObject, error) {
	reason := orDefault(r.Params.Reason, s.def.abortReason)
	run, err := s.backend.AbortRun(requestContext(ctx), controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: r.Name, Project: deref(r.Params.Project), Domain: deref(r.Params.Domain)}, Reason: reason})
	if err != nil {
		return nil, err
	}
	return gen.AbortRun200JSONResponse{Name: run.Name, Status: "abort_requested", Reason: reason}, nil
}

// GetApp describes an app.
func (s *Server) GetApp(ctx context.Context, r gen.GetAppRequestObject) (gen.GetAppResponseObject, error) {
	app, err := s.backend.GetApp(requestContext(ctx), appRef(r.Name, r.Params.Domain, r.Params.Project))
	if err != nil {
		return nil, err
	}
	out := gen.GetApp200JSONResponse{
		Name: app.Name, Revision: app.Revision, Endpoint: optString(app.Endpoint),
		IsActive: app.Active, IsDeactivated: app.Deactivated, Url: app.URL,
		LastError: optString(app.LastError),
	}
	if app.Status != "" { // a backend that says what the process does says how often it restarted
		status := gen.AppResponseStatus(app.Status)
		out.Status, out.Restarts = &status, &app.Restarts
	}
	return out, nil
}

// ActivateApp starts an app.
func (s *Server) ActivateApp(ctx context.Context, r gen.ActivateAppRequestObject) (gen.ActivateAppResponseObject, error) {
	wait := orDefaultBool(r.Params.Wait, s.def.activateWait)
	if wait {
		liftWriteDeadline(ctx)
	}
	app, err := s.backend.SetAppActive(requestContext(ctx), controlplane.SetAppActiveRequest{
		App: appRef(r.Name, r.Params.Domain, r.Params.Project), Active: true, Wait: wait})
	if err != nil {
		return nil, err
	}
	return gen.ActivateApp200JSONResponse{Name: app.Name, IsActive: app.Active, Endpoint: optString(app.Endpoint), Url: app.URL}, nil
}

// DeactivateApp stops an app.
func (s *Server) DeactivateApp(ctx context.Context, r gen.DeactivateAppRequestObject) (gen.DeactivateAppResponseObject, error) {
	wait := orDefaultBool(r.Params.Wait, s.def.deactivateWait)
	if wait {
		liftWriteDeadline(ctx)
	}
	app, err := s.backend.SetAppActive(requestContext(ctx), controlplane.SetAppActiveRequest{
		App: appRef(r.Name, r.Params.Domain, r.Params.Project), Active: false, Wait: wait})
	if err != nil {
		return nil, err
	}
	return gen.DeactivateApp200JSONResponse{Name: app.Name, IsActive: app.Active, IsDeactivated: app.Deactivated, Url: app.URL}, nil
}

// ActivateTrigger switches a trigger on.
func (s *Server) ActivateTrigger(ctx context.Context, r gen.ActivateTriggerRequestObject) (gen.ActivateTriggerResponseObject, error) {
	t, err := s.backend.SetTriggerActive(requestContext(ctx), controlplane.SetTriggerActiveRequest{
		Trigger: controlplane.TriggerRef{TaskName: r.TaskName, Name: r.TriggerName, Project: deref(r.Params.Project), Domain: deref(r.Params.Domain)}, Active: true})
	if err != nil {
		return nil, err
	}
	return gen.ActivateTrigger200JSONResponse{TaskName: t.TaskName, TriggerName: t.Name, Active: t.Active}, nil
}

// DeactivateTrigger switches a trigger off.
func (s *Server) DeactivateTrigger(ctx context.Context, r gen.DeactivateTriggerRequestObject) (gen.DeactivateTriggerResponseObject, error) {
	t, err := s.backend.SetTriggerActive(requestContext(ctx), controlplane.SetTriggerActiveRequest{
		Trigger: controlplane.TriggerRef{TaskName: r.TaskName, Name: r.TriggerName, Project: deref(r.Params.Project), Domain: deref(r.Params.Domain)}, Active: false})
	if err != nil {
		return nil, err
	}
	return gen.DeactivateTrigger200JSONResponse{TaskName: t.TaskName, TriggerName: t.Name, Active: t.Active}, nil
}

// BuildImage starts an image build. The package and platform lists come from the body, as
// the Python app's handler reads them, or from repeated query parameters, as its own example
// sends them: for each list, the body's wins when both give it.
func (s *Server) BuildImage(ctx context.Context, r gen.BuildImageRequestObject) (gen.BuildImageResponseObject, error) {
	req := controlplane.ImageBuild{
		BaseImage:     deref(r.Params.BaseImage),
		PythonVersion: deref(r.Params.PythonVersion),
		FlyteVersion:  deref(r.Params.FlyteVersion),
		Name:          deref(r.Params.Name),
		Pre:           orDefaultBool(r.Params.Pre, s.def.pre),
		PipPackages:   derefSlice(r.Params.PipPackages),
		AptPackages:   derefSlice(r.Params.AptPackages),
		Platforms:     derefSlice(r.Params.Platform),
	}
	if r.Body != nil {
		bodyWins(&req.PipPackages, r.Body.PipPackages)
		bodyWins(&req.AptPackages, r.Body.AptPackages)
		bodyWins(&req.Platforms, r.Body.Platform)
	}
	res, err := s.backend.BuildImage(requestContext(ctx), req)
	if err != nil {
		return nil, err
	}
	return gen.BuildImage200JSONResponse{
		ImageBuildRunUrl: res.Run.URL, ImageName: optString(res.ImageName), BaseImage: res.BaseImage,
		PipPackages: nonNil(res.PipPackages), AptPackages: nonNil(res.AptPackages),
	}, nil
}

// PrefetchHfModel starts a model prefetch.
func (s *Server) PrefetchHfModel(ctx context.Context, r gen.PrefetchHfModelRequestObject) (gen.PrefetchHfModelResponseObject, error) {
	p := r.Params
	req := controlplane.ModelPrefetch{
		Repo: p.Repo, RawDataPath: deref(p.RawDataPath), ArtifactName: deref(p.ArtifactName),
		Architecture: deref(p.Architecture), Task: orDefault(p.Task, s.def.prefetch.task),
		SerialFormat: deref(p.SerialFormat), ModelType: deref(p.ModelType),
		ShortDescription: deref(p.ShortDescription), HFTokenKey: orDefault(p.HfTokenKey, s.def.prefetch.hfTokenKey),
		CPU: orDefault(p.Cpu, s.def.prefetch.cpu), Memory: orDefault(p.Memory, s.def.prefetch.memory),
		Disk: orDefault(p.Disk, s.def.prefetch.disk), Force: s.def.prefetch.force,
	}
	if p.Force != nil {
		req.Force = *p.Force
	}
	if r.Body != nil {
		req.Modalities = *r.Body
	}
	run, err := s.backend.PrefetchModel(requestContext(ctx), req)
	if err != nil {
		return nil, err
	}
	return gen.PrefetchHfModel200JSONResponse(runResponse(run)), nil
}

// GetPrefetchHfModel describes a model prefetch run.
func (s *Server) GetPrefetchHfModel(ctx context.Context, r gen.GetPrefetchHfModelRequestObject) (gen.GetPrefetchHfModelResponseObject, error) {
	run, err := s.getRun(ctx, controlplane.RunRef{Name: r.RunName, Project: deref(r.Params.Project), Domain: deref(r.Params.Domain)})
	if err != nil {
		return nil, err
	}
	return gen.GetPrefetchHfModel200JSONResponse(runResponse(run)), nil
}

// GetPrefetchHfModelIo returns a model prefetch run's inputs and outputs.
func (s *Server) GetPrefetchHfModelIo(ctx context.Context, r gen.GetPrefetchHfModelIoRequestObject) (gen.GetPrefetchHfModelIoResponseObject, error) {
	io, err := s.backend.GetRunIO(requestContext(ctx), controlplane.RunRef{Name: r.RunName, Project: deref(r.Params.Project), Domain: deref(r.Params.Domain)})
	if err != nil {
		return nil, err
	}
	return gen.GetPrefetchHfModelIo200JSONResponse{
		Name: io.Run.Name, Phase: gen.Phase(io.Run.Phase), Inputs: optMap(io.Inputs), Outputs: optMap(io.Outputs),
	}, nil
}

// AbortPrefetchHfModel aborts a model prefetch run.
func (s *Server) AbortPrefetchHfModel(ctx context.Context, r gen.AbortPrefetchHfModelRequestObject) (gen.AbortPrefetchHfModelResponseObject, error) {
	reason := orDefault(r.Params.Reason, s.def.prefetchAbortReason)
	run, err := s.backend.AbortRun(requestContext(ctx), controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: r.RunName, Project: deref(r.Params.Project), Domain: deref(r.Params.Domain)}, Reason: reason})
	if err != nil {
		return nil, err
	}
	return gen.AbortPrefetchHfModel200JSONResponse{Name: run.Name, Status: "abort_requested", Reason: reason}, nil
}

// specDefaults are the defaults openapi.yaml declares that the handlers apply: validation
// does not write them into requests (api.Validate), and they are not repeated here but read
// from the spec once, by newSpecDefaults.
type specDefaults struct {
	abortReason, prefetchAbortReason string
	activateWait, deactivateWait     bool
	callMethod                       string
	pre                              bool
	prefetch                         struct {
		task, hfTokenKey, cpu, memory, disk string
		force                               int
	}
	cacheBehavior string // what get_task answers when the backend does not say
	listLimit     int    // list_runs's page size when the request names none
	watchLogs     bool
	logsStream    string
	logsTail      int
	logsFollow    bool
}

// newSpecDefaults takes the handlers' defaults from d; an error names each one the spec
// lacks or declares with another type.
func newSpecDefaults(d api.Defaults) (specDefaults, error) {
	var errs []error
	str := func(op, param string) string {
		v, err := api.ParamDefault[string](d, op, param)
		errs = append(errs, err)
		return v
	}
	boolean := func(op, param string) bool {
		v, err := api.ParamDefault[bool](d, op, param)
		errs = append(errs, err)
		return v
	}
	var sd specDefaults
	sd.abortReason = str("abort_run", "reason")
	sd.prefetchAbortReason = str("abort_prefetch_hf_model", "reason")
	sd.activateWait = boolean("activate_app", "wait")
	sd.deactivateWait = boolean("deactivate_app", "wait")
	sd.callMethod = str("call_app", "method")
	sd.pre = boolean("build_image", "pre")
	sd.prefetch.task = str("prefetch_hf_model", "task")
	sd.prefetch.hfTokenKey = str("prefetch_hf_model", "hf_token_key")
	sd.prefetch.cpu = str("prefetch_hf_model", "cpu")
	sd.prefetch.memory = str("prefetch_hf_model", "memory")
	sd.prefetch.disk = str("prefetch_hf_model", "disk")
	force, err := api.ParamDefault[int](d, "prefetch_hf_model", "force")
	sd.prefetch.force = force
	errs = append(errs, err)
	sd.watchLogs = boolean("watch_run", "logs")
	sd.logsStream = str("get_run_logs", "stream")
	sd.logsFollow = boolean("get_run_logs", "follow")
	tail, err := api.ParamDefault[int](d, "get_run_logs", "tail")
	sd.logsTail = tail
	errs = append(errs, err)
	listLimit, err := api.ParamDefault[int](d, "list_runs", "limit")
	sd.listLimit = listLimit
	errs = append(errs, err)
	behavior, err := api.PropertyDefault[string](d, "CacheSettings", "behavior")
	sd.cacheBehavior = behavior
	errs = append(errs, err)
	return sd, errors.Join(errs...)
}

func runResponse(run controlplane.Run) gen.RunResponse {
	out := gen.RunResponse{Name: run.Name, Phase: gen.Phase(run.Phase), Url: run.URL, Done: run.Phase.Done()}
	if run.Error != "" {
		out.Error = &run.Error
	}
	if run.Attempts > 0 {
		out.Attempts = &run.Attempts
	}
	out.CreatedAt = optTime(run.CreatedAt)
	out.StartedAt = optTime(run.StartedAt)
	out.EndedAt = optTime(run.EndedAt)
	if run.Trigger != "" {
		out.Trigger = &run.Trigger
		out.ScheduledAt = optTime(run.ScheduledAt)
	}
	addRunMetadata(&out, run)
	return out
}

func appRef(name string, domain, project *string) controlplane.AppRef {
	return controlplane.AppRef{Name: name, Domain: deref(domain), Project: deref(project)}
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func optMap(m map[string]any) *map[string]any {
	if m == nil {
		return nil
	}
	return &m
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func orDefault(p *string, def string) string {
	if p == nil || *p == "" {
		return def
	}
	return *p
}

func orDefaultBool(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

func derefSlice(p *[]string) []string {
	if p == nil {
		return nil
	}
	return *p
}

// bodyWins sets *dst to the body's list when the body gives one.
func bodyWins(dst *[]string, body *[]string) {
	if body != nil {
		*dst = *body
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
