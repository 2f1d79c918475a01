package controlplane_test

import (
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

func TestParseLabels(t *testing.T) {
	long := strings.Repeat("a", controlplane.MaxLabelLength)
	tests := []struct {
		name    string
		pairs   []string
		want    map[string]string
		mention string // "" when accepted
	}{
		{name: "none", pairs: nil, want: nil},
		{name: "two", pairs: []string{"ci-job=build.42", "team=Data_Eng"}, want: map[string]string{"ci-job": "build.42", "team": "Data_Eng"}},
		{name: "longest", pairs: []string{long + "=" + long}, want: map[string]string{long: long}},
		{name: "value may hold =", pairs: []string{"k=a=b"}, mention: `value "a=b"`},
		{name: "no =", pairs: []string{"ci-job"}, mention: "want key=value"},
		{name: "empty value", pairs: []string{"k="}, mention: `value ""`},
		{name: "empty key", pairs: []string{"=v"}, mention: `key ""`},
		{name: "upper-case key", pairs: []string{"Team=x"}, mention: `key "Team"`},
		{name: "key too long", pairs: []string{long + "a=v"}, mention: "key"},
		{name: "value too long", pairs: []string{"k=" + long + "a"}, mention: "value"},
		{name: "key ends with -", pairs: []string{"k-=v"}, mention: `key "k-"`},
		{name: "slash", pairs: []string{"a/b=v"}, mention: `key "a/b"`},
		{name: "space in value", pairs: []string{"k=a b"}, mention: `value "a b"`},
		{name: "twice", pairs: []string{"k=a", "k=b"}, mention: "given twice"},
		{name: "too many", pairs: func() []string {
			var out []string
			for i := range controlplane.MaxLabels + 1 {
				out = append(out, "k"+strings.Repeat("x", i)+"=v")
			}
			return out
		}(), mention: "at most 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := controlplane.ParseLabels(tt.pairs)
			if tt.mention != "" {
				if controlplane.CodeOf(err) != controlplane.CodeInvalidInput || !strings.Contains(controlplane.MessageOf(err), tt.mention) {
					t.Fatalf("ParseLabels(%q) = %v, %v; want invalid input mentioning %q", tt.pairs, got, err, tt.mention)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("ParseLabels(%q) = %v, %v; want %v", tt.pairs, got, err, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("label %s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestFilterKey(t *testing.T) {
	base := controlplane.ListRunsRequest{
		Task:   &controlplane.TaskRef{Domain: "d", Project: "p", Name: "n"},
		Phases: []controlplane.Phase{controlplane.PhaseFailed, controlplane.PhaseSucceeded},
		Labels: map[string]string{"a": "1", "b": "2"},
	}
	same := base
	same.Phases = []controlplane.Phase{controlplane.PhaseSucceeded, controlplane.PhaseFailed, controlplane.PhaseFailed}
	same.Limit, same.PageToken = 7, "x"
	same.Visible = controlplane.Visibility{HideKinds: true}
	if base.FilterKey() != same.FilterKey() {
		t.Error("the order of phases, the limit, the token or the visibility changed the filter key")
	}
	for name, change := range map[string]func(*controlplane.ListRunsRequest){
		"task version": func(r *controlplane.ListRunsRequest) {
			r.Task = &controlplane.TaskRef{Domain: "d", Project: "p", Name: "n", Version: "v1"}
		},
		"no task":     func(r *controlplane.ListRunsRequest) { r.Task = nil },
		"phase":       func(r *controlplane.ListRunsRequest) { r.Phases = r.Phases[:1] },
		"label value": func(r *controlplane.ListRunsRequest) { r.Labels = map[string]string{"a": "1", "b": "3"} },
		// Lengths are part of the key: "a"+"12" is not "a1"+"2".
		"label split": func(r *controlplane.ListRunsRequest) { r.Labels = map[string]string{"a1": "", "b": "2"} },
		"trigger":     func(r *controlplane.ListRunsRequest) { r.Trigger = "nightly" },
		"caller":      func(r *controlplane.ListRunsRequest) { r.Caller = "ci" },
		"since":       func(r *controlplane.ListRunsRequest) { r.CreatedSince = time.Unix(1, 0) },
		"until":       func(r *controlplane.ListRunsRequest) { r.CreatedUntil = time.Unix(1, 0) },
		"project":     func(r *controlplane.ListRunsRequest) { r.Project = "p" },
	} {
		other := base
		change(&other)
		if other.FilterKey() == base.FilterKey() {
			t.Errorf("%s: the filter key did not change", name)
		}
	}
}

func TestVisibility(t *testing.T) {
	only, err := controlplane.ParseTaskAllowlist([]string{"examples/greet"})
	if err != nil {
		t.Fatal(err)
	}
	greet := controlplane.Run{Kind: controlplane.KindTask, Task: controlplane.TaskRef{Domain: "development", Project: "examples", Name: "greet"}}
	other := controlplane.Run{Kind: controlplane.KindTask, Task: controlplane.TaskRef{Domain: "development", Project: "examples", Name: "sum"}}
	build := controlplane.Run{Kind: controlplane.KindImageBuild}
	prefetch := controlplane.Run{Kind: controlplane.KindPrefetch}
	tests := []struct {
		name string
		v    controlplane.Visibility
		want [4]bool // greet, other, build, prefetch
	}{
		{"zero sees all", controlplane.Visibility{}, [4]bool{true, true, true, true}},
		{"allowlist", controlplane.Visibility{TaskAllowlists: []*controlplane.TaskAllowlist{only}}, [4]bool{true, false, true, true}},
		{"kinds hidden but builds", controlplane.Visibility{HideKinds: true, Kinds: []controlplane.Kind{controlplane.KindImageBuild}}, [4]bool{true, true, true, false}},
		{"empty allowlist", controlplane.Visibility{TaskAllowlists: []*controlplane.TaskAllowlist{{}}}, [4]bool{false, false, true, true}},
	}
	for _, tt := range tests {
		for i, r := range []controlplane.Run{greet, other, build, prefetch} {
			if got := tt.v.Allows(r); got != tt.want[i] {
				t.Errorf("%s: Allows(%s %s) = %v", tt.name, r.Kind, r.Task.Name, got)
			}
		}
	}
}

func TestListRunsRequestMatches(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	run := controlplane.Run{Task: controlplane.TaskRef{Domain: "d", Project: "p", Name: "n", Version: "v2"}, Phase: controlplane.PhaseFailed,
		Trigger: "nightly", Caller: "ci", Labels: map[string]string{"job": "42", "team": "x"}, CreatedAt: at}
	tests := []struct {
		name string
		req  controlplane.ListRunsRequest
		want bool
	}{
		{"no filters", controlplane.ListRunsRequest{}, true},
		{"task any version", controlplane.ListRunsRequest{Task: &controlplane.TaskRef{Domain: "d", Project: "p", Name: "n"}}, true},
		{"task other version", controlplane.ListRunsRequest{Task: &controlplane.TaskRef{Domain: "d", Project: "p", Name: "n", Version: "v1"}}, false},
		{"phase among", controlplane.ListRunsRequest{Phases: []controlplane.Phase{"succeeded", "failed"}}, true},
		{"phase not", controlplane.ListRunsRequest{Phases: []controlplane.Phase{"succeeded"}}, false},
		{"one label", controlplane.ListRunsRequest{Labels: map[string]string{"job": "42"}}, true},
		{"a label it lacks", controlplane.ListRunsRequest{Labels: map[string]string{"job": "42", "env": "prod"}}, false},
		{"since is inclusive", controlplane.ListRunsRequest{CreatedSince: at}, true},
		{"until is exclusive", controlplane.ListRunsRequest{CreatedUntil: at}, false},
		{"caller", controlplane.ListRunsRequest{Caller: "dashboard"}, false},
		{"trigger", controlplane.ListRunsRequest{Trigger: "nightly"}, true},
	}
	for _, tt := range tests {
		if got := tt.req.Matches(run); got != tt.want {
			t.Errorf("%s: Matches = %v, want %v", tt.name, got, tt.want)
		}
	}
}
