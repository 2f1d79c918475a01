package flyte

import (
	"context"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// SetTriggerActive switches a trigger on or off. UpdateTriggers answers 200 for a trigger
// that does not exist, so GetTriggerDetails is asked first, for a 404.
func (b *Backend) SetTriggerActive(ctx context.Context, req controlplane.SetTriggerActiveRequest) (controlplane.Trigger, error) {
	leave, err := b.enter()
	if err != nil {
		return controlplane.Trigger{}, err
	}
	defer leave()
	project, domain := b.scope(req.Trigger.Project, req.Trigger.Domain)
	name := triggerName{Org: b.cfg.Org, Project: project, Domain: domain, TaskName: req.Trigger.TaskName, Name: req.Trigger.Name}
	if _, err := call(ctx, b, b.p.getTrigger, &getTriggerDetailsRequest{Name: name}); err != nil {
		return controlplane.Trigger{}, notFound(err, "trigger %s of task %s not found", req.Trigger.Name, req.Trigger.TaskName)
	}
	if _, err := call(ctx, b, b.p.updateTriggers, &updateTriggersRequest{Names: []triggerName{name}, Active: req.Active}); err != nil {
		return controlplane.Trigger{}, notFound(err, "trigger %s of task %s not found", req.Trigger.Name, req.Trigger.TaskName)
	}
	return controlplane.Trigger{TaskName: req.Trigger.TaskName, Name: req.Trigger.Name, Active: req.Active}, nil
}
