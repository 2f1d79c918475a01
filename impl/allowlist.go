package impl

import (
	"fmt"
	"strings"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// TaskAllowlist is a parsed task_allowlist. It matches tasks the way the seed does: an entry
// "domain/project/name" matches exactly, "project/name" in any domain, "name" in any domain
// and project. Matching is exact (no case folding, no trimming). The zero value allows
// nothing; build one with ParseTaskAllowlist.
type TaskAllowlist struct {
	full        map[[3]string]bool
	projectName map[[2]string]bool
	name        map[string]bool
}

// ParseTaskAllowlist parses task_allowlist entries; a malformed entry (an empty part, more
// than three parts, surrounding white space) is an error naming it. No entries allow nothing.
func ParseTaskAllowlist(entries []string) (*TaskAllowlist, error) {
	a := &TaskAllowlist{full: map[[3]string]bool{}, projectName: map[[2]string]bool{}, name: map[string]bool{}}
	for i, e := range entries {
		parts, err := splitEntry(e, 3)
		if err != nil {
			return nil, fmt.Errorf("task_allowlist[%d]: %q: %w (want domain/project/name, project/name or name)", i, e, err)
		}
		switch len(parts) {
		case 1:
			a.name[parts[0]] = true
		case 2:
			a.projectName[[2]string{parts[0], parts[1]}] = true
		case 3:
			a.full[[3]string{parts[0], parts[1], parts[2]}] = true
		}
	}
	return a, nil
}

// Allows reports whether the task may be used.
func (a *TaskAllowlist) Allows(domain, project, name string) bool {
	return a.name[name] || a.projectName[[2]string{project, name}] || a.full[[3]string{domain, project, name}]
}

// TriggerAllowlist is a parsed trigger_allowlist: an entry "task_name/trigger_name" matches
// exactly, "trigger_name" that trigger of any task. The zero value allows nothing; build one
// with ParseTriggerAllowlist.
type TriggerAllowlist struct {
	full map[[2]string]bool
	name map[string]bool
}

// ParseTriggerAllowlist parses trigger_allowlist entries; a malformed entry (an empty part,
// more than two parts, surrounding white space) is an error naming it. No entries allow
// nothing.
func ParseTriggerAllowlist(entries []string) (*TriggerAllowlist, error) {
	a := &TriggerAllowlist{full: map[[2]string]bool{}, name: map[string]bool{}}
	for i, e := range entries {
		parts, err := splitEntry(e, 2)
		if err != nil {
			return nil, fmt.Errorf("trigger_allowlist[%d]: %q: %w (want task_name/trigger_name or trigger_name)", i, e, err)
		}
		if len(parts) == 1 {
			a.name[parts[0]] = true
		} else {
			a.full[[2]string{parts[0], parts[1]}] = true
		}
	}
	return a, nil
}

// Allows reports whether the trigger may be switched.
func (a *TriggerAllowlist) Allows(taskName, triggerName string) bool {
	return a.name[triggerName] || a.full[[2]string{taskName, triggerName}]
}

func splitEntry(e string, max int) ([]string, error) {
	if strings.TrimSpace(e) != e {
		return nil, fmt.Errorf("leading or trailing white space")
	}
	parts := strings.Split(e, "/")
	if len(parts) > max {
		return nil, fmt.Errorf("too many parts")
	}
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("empty part")
		}
	}
	return parts, nil
}

// checkTask returns a 403 error when the allowlist excludes the task.
func (a allowlists) checkTask(domain, project, name string) error {
	if a.tasks != nil && !a.tasks.Allows(domain, project, name) {
		return controlplane.Errorf(controlplane.CodePermissionDenied, "task %s/%s/%s is not in this webhook's task allowlist", domain, project, name)
	}
	return nil
}

// checkApp returns a 400 error when the app is the webhook itself (checked first, as the seed
// does), and a 403 error when the allowlist excludes it.
func (a allowlists) checkApp(self, name string) error {
	if name == self {
		return controlplane.Errorf(controlplane.CodeInvalidInput, "app %q is this webhook itself; it cannot manage or call itself", name)
	}
	if a.apps != nil && !a.apps[name] {
		return controlplane.Errorf(controlplane.CodePermissionDenied, "app %q is not in this webhook's app allowlist", name)
	}
	return nil
}

// checkTrigger returns a 403 error when the allowlist excludes the trigger.
func (a allowlists) checkTrigger(taskName, triggerName string) error {
	if a.triggers != nil && !a.triggers.Allows(taskName, triggerName) {
		return controlplane.Errorf(controlplane.CodePermissionDenied, "trigger %s/%s is not in this webhook's trigger allowlist", taskName, triggerName)
	}
	return nil
}
