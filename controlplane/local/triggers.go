package local

import (
	"context"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// SetTriggerActive switches a trigger of the workspace on or off. The state is stored before
// it returns and holds across restarts and reloads until the trigger's declaration changes
// (see scheduler.go). A trigger switched on fires at its next schedule time, never for one
// that passed before. CodeNotFound when no task of that name has a trigger of that name.
func (b *Backend) SetTriggerActive(ctx context.Context, req controlplane.SetTriggerActiveRequest) (controlplane.Trigger, error) {
	who, err := b.caller(ctx)
	if err != nil {
		return controlplane.Trigger{}, err
	}
	tr, next, err := b.sched.set(ctx, req.Trigger, req.Active)
	if err != nil {
		return controlplane.Trigger{}, err
	}
	msg := "trigger deactivated"
	attrs := []any{"trigger", tr.TaskName + "/" + tr.Name, "caller", who.Subject, "request_id", controlplane.RequestIDFrom(ctx)}
	if tr.Active {
		msg = "trigger activated"
		if !next.IsZero() {
			attrs = append(attrs, "next", next.UTC().Format(time.RFC3339))
		}
	}
	b.log.Info(msg, attrs...)
	return tr, nil
}
