package impl

import (
	"context"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// TaskAllowlist is a parsed task_allowlist (see controlplane.TaskAllowlist): "domain/project/
// name" matches exactly, "project/name" in any domain, "name" anywhere. The zero value allows
// nothing; build one with ParseTaskAllowlist.
type TaskAllowlist = controlplane.TaskAllowlist

// ParseTaskAllowlist parses task_allowlist entries; a malformed entry (an empty part, more
// than three parts, surrounding white space) is an error naming it. No entries allow nothing.
func ParseTaskAllowlist(entries []string) (*TaskAllowlist, error) {
	return controlplane.ParseTaskAllowlist(entries)
}

// TriggerAllowlist is a parsed trigger_allowlist (see controlplane.TriggerAllowlist):
// "task_name/trigger_name" matches exactly, "trigger_name" that trigger of any task. The zero
// value allows nothing; build one with ParseTriggerAllowlist.
type TriggerAllowlist = controlplane.TriggerAllowlist

// ParseTriggerAllowlist parses trigger_allowlist entries; a malformed entry (an empty part,
// more than two parts, surrounding white space) is an error naming it. No entries allow
// nothing.
func ParseTriggerAllowlist(entries []string) (*TriggerAllowlist, error) {
	return controlplane.ParseTriggerAllowlist(entries)
}

// callerLists returns the allowlists that narrow the verified caller of ctx, nil when none
// do (see controlplane.Identity.Allowlists). Both these and the webhook's must allow.
func callerLists(ctx context.Context) *controlplane.Allowlists {
	id, _ := controlplane.IdentityFrom(ctx)
	return id.Allowlists
}

// checkTask returns a 403 error when the webhook's allowlist or the caller's excludes the
// task.
func (a allowlists) checkTask(ctx context.Context, domain, project, name string) error {
	if !a.AllowsTask(domain, project, name) {
		return controlplane.Errorf(controlplane.CodePermissionDenied, "task %s/%s/%s is not in this webhook's task allowlist", domain, project, name)
	}
	if !callerLists(ctx).AllowsTask(domain, project, name) {
		return controlplane.Errorf(controlplane.CodePermissionDenied, "task %s/%s/%s is not in the task allowlist for these credentials", domain, project, name)
	}
	return nil
}

// checkApp returns a 400 error when the app is the webhook itself (checked first, as the seed
// does), and a 403 error when the webhook's allowlist or the caller's excludes it.
func (a allowlists) checkApp(ctx context.Context, self, name string) error {
	if name == self {
		return controlplane.Errorf(controlplane.CodeInvalidInput, "app %q is this webhook itself; it cannot manage or call itself", name)
	}
	if !a.AllowsApp(name) {
		return controlplane.Errorf(controlplane.CodePermissionDenied, "app %q is not in this webhook's app allowlist", name)
	}
	if !callerLists(ctx).AllowsApp(name) {
		return controlplane.Errorf(controlplane.CodePermissionDenied, "app %q is not in the app allowlist for these credentials", name)
	}
	return nil
}

// checkTrigger returns a 403 error when the webhook's allowlist or the caller's excludes the
// trigger.
func (a allowlists) checkTrigger(ctx context.Context, taskName, triggerName string) error {
	if !a.AllowsTrigger(taskName, triggerName) {
		return controlplane.Errorf(controlplane.CodePermissionDenied, "trigger %s/%s is not in this webhook's trigger allowlist", taskName, triggerName)
	}
	if !callerLists(ctx).AllowsTrigger(taskName, triggerName) {
		return controlplane.Errorf(controlplane.CodePermissionDenied, "trigger %s/%s is not in the trigger allowlist for these credentials", taskName, triggerName)
	}
	return nil
}
