package controlplane

import (
	"fmt"
	"slices"
	"strings"
)

// The allowlist syntax is the seed's. It lives here, once, because two layers read it: the
// webhook's own allowlists (impl) and the allowlists an identity source attaches to a caller
// (Identity.Allowlists, e.g. per claim value of a CI token).

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

// Entries returns the allowlist's entries by form, each sorted: exact tasks
// (domain, project, name), tasks of a project (project, name) and names. A backend that
// filters a list of runs by the allowlist in its own query reads them here.
func (a *TaskAllowlist) Entries() (full [][3]string, projectName [][2]string, names []string) {
	for k := range a.full {
		full = append(full, k)
	}
	for k := range a.projectName {
		projectName = append(projectName, k)
	}
	for k := range a.name {
		names = append(names, k)
	}
	slices.SortFunc(full, func(x, y [3]string) int { return slices.Compare(x[:], y[:]) })
	slices.SortFunc(projectName, func(x, y [2]string) int { return slices.Compare(x[:], y[:]) })
	slices.Sort(names)
	return full, projectName, names
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

// AppAllowlist is a parsed app_allowlist: app names, matched exactly. The zero value allows
// nothing; build one with ParseAppAllowlist.
type AppAllowlist struct {
	name map[string]bool
}

// ParseAppAllowlist parses app_allowlist entries; an entry that cannot be an app name (empty,
// or holding '/', a space or a tab) is an error naming it. No entries allow nothing.
func ParseAppAllowlist(entries []string) (*AppAllowlist, error) {
	a := &AppAllowlist{name: map[string]bool{}}
	for i, e := range entries {
		if e == "" || strings.ContainsAny(e, "/ \t") {
			return nil, fmt.Errorf("app_allowlist[%d]: %q is not an app name", i, e)
		}
		a.name[e] = true
	}
	return a, nil
}

// Allows reports whether the app may be used.
func (a *AppAllowlist) Allows(name string) bool { return a.name[name] }

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

// Allowlists are the three allowlists together. A nil field leaves that kind unrestricted;
// a nil *Allowlists restricts nothing. Values are immutable once parsed, and safe to share.
type Allowlists struct {
	Tasks    *TaskAllowlist
	Apps     *AppAllowlist
	Triggers *TriggerAllowlist
}

// ParseAllowlists parses the three entry lists in the seed's syntax: a nil list leaves its
// kind unrestricted, an empty one allows nothing of it. Errors name the list and the entry
// ("task_allowlist[1]: …").
func ParseAllowlists(tasks, apps, triggers *[]string) (*Allowlists, error) {
	a := &Allowlists{}
	var err error
	if tasks != nil {
		if a.Tasks, err = ParseTaskAllowlist(*tasks); err != nil {
			return nil, err
		}
	}
	if apps != nil {
		if a.Apps, err = ParseAppAllowlist(*apps); err != nil {
			return nil, err
		}
	}
	if triggers != nil {
		if a.Triggers, err = ParseTriggerAllowlist(*triggers); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// AllowsTask reports whether a allows the task; a nil a or a nil Tasks allows every task.
func (a *Allowlists) AllowsTask(domain, project, name string) bool {
	return a == nil || a.Tasks == nil || a.Tasks.Allows(domain, project, name)
}

// AllowsApp reports whether a allows the app; a nil a or a nil Apps allows every app.
func (a *Allowlists) AllowsApp(name string) bool {
	return a == nil || a.Apps == nil || a.Apps.Allows(name)
}

// AllowsTrigger reports whether a allows the trigger; a nil a or a nil Triggers allows every
// trigger.
func (a *Allowlists) AllowsTrigger(taskName, triggerName string) bool {
	return a == nil || a.Triggers == nil || a.Triggers.Allows(taskName, triggerName)
}

// RestrictsTasks reports whether a can refuse a task at all.
func (a *Allowlists) RestrictsTasks() bool { return a != nil && a.Tasks != nil }

// MergeAllowlists merges the allowlists of several grants (say, the claim allowlists a token
// matches): per kind, the entries of the lists that restrict it add up, and a list that
// leaves a kind unrestricted says nothing about that kind (an entry that narrows only tasks
// must not un-narrow apps another entry narrows). A kind no list restricts stays
// unrestricted. A single list is returned as it is; no lists, nil.
func MergeAllowlists(lists ...*Allowlists) *Allowlists {
	switch len(lists) {
	case 0:
		return nil
	case 1:
		return lists[0]
	}
	u := &Allowlists{}
	for _, l := range lists {
		if l == nil {
			continue
		}
		if l.Tasks != nil {
			if u.Tasks == nil {
				u.Tasks = &TaskAllowlist{full: map[[3]string]bool{}, projectName: map[[2]string]bool{}, name: map[string]bool{}}
			}
			addAll(u.Tasks.full, l.Tasks.full)
			addAll(u.Tasks.projectName, l.Tasks.projectName)
			addAll(u.Tasks.name, l.Tasks.name)
		}
		if l.Apps != nil {
			if u.Apps == nil {
				u.Apps = &AppAllowlist{name: map[string]bool{}}
			}
			addAll(u.Apps.name, l.Apps.name)
		}
		if l.Triggers != nil {
			if u.Triggers == nil {
				u.Triggers = &TriggerAllowlist{full: map[[2]string]bool{}, name: map[string]bool{}}
			}
			addAll(u.Triggers.full, l.Triggers.full)
			addAll(u.Triggers.name, l.Triggers.name)
		}
	}
	return u
}

func addAll[K comparable](dst, src map[K]bool) {
	for k, v := range src {
		if v {
			dst[k] = true
		}
	}
}
