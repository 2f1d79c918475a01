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
		if err := s.check(requestContext(c), request); err != nil {
			return nil, err
		}
		return next(c, request)
	}
}

func (s *Server) check(ctx context.Context, request any) error {
	a := s.lists
	switch r := request.(type) {
	case gen.RunTaskRequestObject:
		return a.checkTask(r.Domain, r.Project, r.Name)
	case gen.GetTaskRequestObject:
		return a.checkTask(r.Domain, r.Project, r.Name)
	case gen.GetRunRequestObject:
		return s.checkRunTask(ctx, r.Name)
	case gen.GetRunIoRequestObject:
		return s.checkRunTask(ctx, r.Name)
	case gen.AbortRunRequestObject:
		return s.checkRunTask(ctx, r.Name)
	case gen.GetAppRequestObject:
		return a.checkApp(s.cfg.Name, r.Name)
	case gen.ActivateAppRequestObject:
		return a.checkApp(s.cfg.Name, r.Name)
	case gen.DeactivateAppRequestObject:
		return a.checkApp(s.cfg.Name, r.Name)
	case gen.CallAppRequestObject:
		return a.checkApp(s.cfg.Name, r.Name)
	case gen.ActivateTriggerRequestObject:
		return a.checkTrigger(r.TaskName, r.TriggerName)
	case gen.DeactivateTriggerRequestObject:
		return a.checkTrigger(r.TaskName, r.TriggerName)
	case gen.GetPrefetchHfModelRequestObject:
		return s.checkPrefetchRun(ctx, r.RunName)
	case gen.GetPrefetchHfModelIoRequestObject:
		return s.checkPrefetchRun(ctx, r.RunName)
	case gen.AbortPrefetchHfModelRequestObject:
		return s.checkPrefetchRun(ctx, r.RunName)
	}
	return nil
}

// checkRunTask applies the task allowlist to the run's task (the seed does not; a restricted
// webhook must not read or abort other tasks' runs). Unrestricted webhooks skip the lookup.
func (s *Server) checkRunTask(ctx context.Context, name string) error {
	if s.lists.tasks == nil {
		return nil
	}
	run, err := s.backend.GetRun(ctx, name)
	if err != nil {
		return err
	}
	t := run.Task
	return s.lists.checkTask(t.Domain, t.Project, t.Name)
}

// checkPrefetchRun makes the prefetch endpoints answer only for model prefetch runs.
func (s *Server) checkPrefetchRun(ctx context.Context, name string) error {
	run, err := s.backend.GetRun(ctx, name)
	if err != nil {
		return err
	}
	if run.Kind != controlplane.KindPrefetch {
		return controlplane.Errorf(controlplane.CodeNotFound, "run %q is not a model prefetch", name)
	}
	return nil
}
