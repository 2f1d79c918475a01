package controlplane_test

import (
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

func TestParseAllowlists(t *testing.T) {
	list := func(s ...string) *[]string { return &s }
	a, err := controlplane.ParseAllowlists(list("prod/p/deploy", "p/shared", "anywhere"), list("web"), list("t/nightly", "hourly"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		got, want bool
		what      string
	}{
		{a.AllowsTask("prod", "p", "deploy"), true, "full"},
		{a.AllowsTask("dev", "p", "deploy"), false, "full, other domain"},
		{a.AllowsTask("dev", "p", "shared"), true, "project/name"},
		{a.AllowsTask("d", "q", "anywhere"), true, "name"},
		{a.AllowsApp("web"), true, "app"},
		{a.AllowsApp("api"), false, "other app"},
		{a.AllowsTrigger("t", "nightly"), true, "trigger"},
		{a.AllowsTrigger("u", "nightly"), false, "trigger of another task"},
		{a.AllowsTrigger("u", "hourly"), true, "trigger of any task"},
		{(*controlplane.Allowlists)(nil).AllowsTask("d", "p", "n"), true, "nil allows"},
		{(&controlplane.Allowlists{}).AllowsApp("x"), true, "unset kind allows"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	for _, bad := range []struct {
		tasks, apps, triggers *[]string
		want                  string
	}{
		{list("a/b/c/d"), nil, nil, "task_allowlist[0]"},
		{nil, list("ok", ""), nil, "app_allowlist[1]"},
		{nil, nil, list(" x"), "trigger_allowlist[0]"},
	} {
		if _, err := controlplane.ParseAllowlists(bad.tasks, bad.apps, bad.triggers); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("err = %v, want one naming %s", err, bad.want)
		}
	}
}

func TestMergeAllowlists(t *testing.T) {
	list := func(s ...string) *[]string { return &s }
	parse := func(tasks, apps, triggers *[]string) *controlplane.Allowlists {
		a, err := controlplane.ParseAllowlists(tasks, apps, triggers)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	tasksOnly := parse(list("a"), nil, nil)
	appsToo := parse(list("b"), list("web"), nil)
	noTriggers := parse(nil, nil, list())

	m := controlplane.MergeAllowlists(tasksOnly, appsToo, noTriggers)
	if !m.AllowsTask("d", "p", "a") || !m.AllowsTask("d", "p", "b") || m.AllowsTask("d", "p", "c") {
		t.Error("tasks do not add up")
	}
	// tasksOnly leaves apps out: it says nothing about them, so appsToo's narrowing holds.
	if !m.AllowsApp("web") || m.AllowsApp("api") {
		t.Error("an entry without apps un-narrowed the apps")
	}
	if m.AllowsTrigger("t", "n") {
		t.Error("an empty trigger list was lost")
	}
	if got := controlplane.MergeAllowlists(tasksOnly); got != tasksOnly {
		t.Error("a single list is not returned as it is")
	}
	if got := controlplane.MergeAllowlists(); got != nil {
		t.Error("no lists merged into something")
	}
	if u := controlplane.MergeAllowlists(tasksOnly, parse(nil, nil, nil)); !u.AllowsApp("any") || u.AllowsTask("d", "p", "z") {
		t.Error("a kind none restricts must stay unrestricted, and tasks stay narrowed")
	}
}
