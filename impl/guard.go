package impl

import (
	"context"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/gen"
)

// guard is the allowlist layer, a strict middleware: it sees the typed request object of each
// operation, so every check reads the same decoded values the handler will use (no path or
// encoding trick can make the two disagree).
func (s *Server) guard(next gen.StrictHandlerFunc, _ string) gen.StrictHandlerFunc {
	return func(c *ginContext, request any) (any, error) {
		run, err := s.check(requestContext(c), request)
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
func (s *Server) getRun(ctx context.Context, name string) (controlplane.Run, error) {
	ctx = requestContext(ctx)
	if run, ok := ctx.Value(checkedRunKey{}).(controlplane.Run); ok && run.Name == name {
		return run, nil
	}
	return s.backend.GetRun(ctx, controlplane.RunRef{Name: name})
}

// check applies the allowlists to request. The run endpoints' checks fetch the run; it is
// returned so the handler need not fetch it again.
func (s *Server) check(ctx context.Context, request any) (*controlplane.Run, error) {
	a := s.lists
	switch r := request.(type) {
	case gen.RunTaskRequestObject:
		return nil, a.checkTask(r.Domain, r.Project, r.Name)
	case gen.GetTaskRequestObject:
		return nil, a.checkTask(r.Domain, r.Project, r.Name)
	case gen.GetRunRequestObject:
		return s.checkRunTask(ctx, r.Name)
	case gen.GetRunIoRequestObject:
		return s.checkRunTask(ctx, r.Name)
	case gen.AbortRunRequestObject:
		return s.checkRunTask(ctx, r.Name)
	case gen.GetAppRequestObject:
		return nil, a.checkApp(s.cfg.Name, r.Name)
	case gen.ActivateAppRequestObject:
		return nil, a.checkApp(s.cfg.Name, r.Name)
	case gen.DeactivateAppRequestObject:
		return nil, a.checkApp(s.cfg.Name, r.Name)
	case gen.CallAppRequestObject:
		return nil, a.checkApp(s.cfg.Name, r.Name)
	case gen.ActivateTriggerRequestObject:
		return nil, a.checkTrigger(r.TaskName, r.TriggerName)
	case gen.DeactivateTriggerRequestObject:
		return nil, a.checkTrigger(r.TaskName, r.TriggerName)
	case gen.GetPrefetchHfModelRequestObject:
		return s.checkPrefetchRun(ctx, r.RunName)
	case gen.GetPrefetchHfModelIoRequestObject:
		return s.checkPrefetchRun(ctx, r.RunName)
	case gen.AbortPrefetchHfModelRequestObject:
		return s.checkPrefetchRun(ctx, r.RunName)
	}
	return nil, nil
}

// checkRunTask applies the task allowlist to the run's task (the seed does not; a restricted
// webhook must not read or abort other tasks' runs). Unrestricted webhooks skip the lookup.
func (s *Server) checkRunTask(ctx context.Context, name string) (*controlplane.Run, error) {
	if s.lists.tasks == nil {
		return nil, nil
	}
	run, err := s.backend.GetRun(ctx, controlplane.RunRef{Name: name})
	if err != nil {
		return nil, err
	}
	t := run.Task
	return &run, s.lists.checkTask(t.Domain, t.Project, t.Name)
}

// checkPrefetchRun makes the prefetch endpoints answer only for model prefetch runs.
func (s *Server) checkPrefetchRun(ctx context.Context, name string) (*controlplane.Run, error) {
	run, err := s.backend.GetRun(ctx, controlplane.RunRef{Name: name})
	if err != nil {
		return nil, err
	}
	if run.Kind != controlplane.KindPrefetch {
		return nil, controlplane.Errorf(controlplane.CodeNotFound, "run %q is not a model prefetch", name)
	}
	return &run, nil
}
