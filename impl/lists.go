package impl

import (
	"context"
	"strings"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/gen"
)

// A list of runs shows only what get_run would show the same caller, run by run (see
// checkRun): the task allowlists (the webhook's and the caller's own) and the kinds this
// webhook serves. Filtering after the backend answered would make short pages and page
// tokens that tell about runs the caller may not see, so the HTTP layer hands the backend
// what the caller may see (controlplane.Visibility) and the backend lists only that. The
// run_list policy itself refuses a list that names a task outside an allowlist (403, as
// get_task does): such a list could only ever be empty.

// checkRunList is the run_list policy. task is the request's task parameter, "" for none.
func (s *Server) checkRunList(ctx context.Context, task string) error {
	if task == "" {
		return nil
	}
	ref, ok := splitTask(task)
	if !ok {
		return nil // not a task name (validation refuses it first); the handler says so
	}
	return s.lists.checkTask(ctx, ref.Domain, ref.Project, ref.Name)
}

// splitTask reads domain/project/name.
func splitTask(s string) (controlplane.TaskRef, bool) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return controlplane.TaskRef{}, false
	}
	return controlplane.TaskRef{Domain: parts[0], Project: parts[1], Name: parts[2]}, true
}

// visibility is what the caller of ctx may see of the runs.
func (s *Server) visibility(ctx context.Context) controlplane.Visibility {
	var v controlplane.Visibility
	if s.lists.RestrictsTasks() {
		v.TaskAllowlists = append(v.TaskAllowlists, s.lists.Tasks)
	}
	if own := callerLists(ctx); own.RestrictsTasks() {
		v.TaskAllowlists = append(v.TaskAllowlists, own.Tasks)
	}
	if !s.enabled[opBuildImage] || !s.enabled[opPrefetch] {
		v.HideKinds = true
		if s.enabled[opBuildImage] {
			v.Kinds = append(v.Kinds, controlplane.KindImageBuild)
		}
		if s.enabled[opPrefetch] {
			v.Kinds = append(v.Kinds, controlplane.KindPrefetch)
		}
	}
	return v
}

// ListRuns lists the runs the caller may see that match the filters, newest first.
func (s *Server) ListRuns(ctx context.Context, r gen.ListRunsRequestObject) (gen.ListRunsResponseObject, error) {
	ctx = requestContext(ctx)
	p := r.Params
	req := controlplane.ListRunsRequest{
		Trigger: deref(p.Trigger), Caller: deref(p.Caller), PageToken: deref(p.PageToken),
		Project: deref(p.Project), Domain: deref(p.Domain), Limit: s.def.listLimit,
		Visible: s.visibility(ctx),
	}
	switch {
	case p.Task != nil:
		ref, ok := splitTask(*p.Task)
		if !ok {
			return nil, controlplane.Errorf(controlplane.CodeInvalidInput, "task: %q is not domain/project/name", *p.Task)
		}
		ref.Version = deref(p.TaskVersion)
		req.Task = &ref
	case p.TaskVersion != nil:
		return nil, controlplane.Errorf(controlplane.CodeInvalidInput, "task_version: needs task (domain/project/name)")
	}
	if p.Phase != nil {
		for _, ph := range *p.Phase {
			req.Phases = append(req.Phases, controlplane.Phase(ph))
		}
	}
	if p.Label != nil {
		labels, err := controlplane.ParseLabels(*p.Label)
		if err != nil {
			return nil, err
		}
		req.Labels = labels
	}
	if p.CreatedSince != nil {
		req.CreatedSince = *p.CreatedSince
	}
	if p.CreatedUntil != nil {
		req.CreatedUntil = *p.CreatedUntil
	}
	if p.Limit != nil {
		req.Limit = *p.Limit
	}
	page, err := s.backend.ListRuns(ctx, req)
	if err != nil {
		return nil, err
	}
	out := gen.ListRuns200JSONResponse{Runs: make([]gen.RunResponse, 0, len(page.Runs)), NextPageToken: optString(page.NextPageToken)}
	for _, run := range page.Runs {
		out.Runs = append(out.Runs, runResponse(run))
	}
	return out, nil
}

// addRunMetadata adds what the backend says of a run beyond the Python app's fields: its
// kind, task, caller and labels.
func addRunMetadata(out *gen.RunResponse, run controlplane.Run) {
	if run.Kind != "" {
		k := gen.RunResponseKind(run.Kind)
		out.Kind = &k
	}
	if t := run.Task; t.Name != "" {
		out.Task = &gen.TaskRef{Domain: t.Domain, Project: t.Project, Name: t.Name, Version: t.Version}
	}
	out.Caller = optString(run.Caller)
	if len(run.Labels) > 0 {
		labels := make(map[string]string, len(run.Labels))
		for k, v := range run.Labels {
			labels[k] = v
		}
		out.Labels = &labels
	}
}
