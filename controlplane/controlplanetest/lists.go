package controlplanetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// lists: run metadata (task, caller, labels) and ListRuns: its filters, newest-first keyset
// pages that stay correct while runs are added, page tokens tied to their filters, and the
// caller's visibility. Each case has a fresh backend, so the runs it starts are all the
// runs there are.
func (s *suite) lists(t *testing.T) {
	t.Run("Metadata", s.listMetadata)
	t.Run("BadLabels", s.listBadLabels)
	t.Run("Filters", s.listFilters)
	t.Run("Paging", s.listPaging)
	t.Run("PagingWhileAdding", s.listPagingWhileAdding)
	t.Run("Visibility", s.listVisibility)
}

// startAs starts a run as caller c, with labels.
func (s *suite) startAs(t *testing.T, b controlplane.Backend, c Caller, task string, inputs map[string]any, labels map[string]string) controlplane.Run {
	t.Helper()
	r, err := b.RunTask(s.as(c), controlplane.RunTaskRequest{Task: s.ref(task, ""), Inputs: inputs, Labels: labels})
	if err != nil {
		t.Fatalf("RunTask %s: %v", task, err)
	}
	return r
}

// list reads every page of req (with page size limit), failing on a page that is not in
// order or repeats a run.
func (s *suite) list(t *testing.T, b controlplane.Backend, req controlplane.ListRunsRequest) []controlplane.Run {
	t.Helper()
	var all []controlplane.Run
	seen := map[string]bool{}
	for pages := 0; ; pages++ {
		page, err := b.ListRuns(s.ctx(), req)
		if err != nil {
			t.Fatalf("ListRuns %+v: %v", req, err)
		}
		if len(page.Runs) > req.PageSize() {
			t.Fatalf("a page of %d runs, the limit is %d", len(page.Runs), req.PageSize())
		}
		for _, r := range page.Runs {
			if seen[r.Name] {
				t.Fatalf("run %s listed twice", r.Name)
			}
			seen[r.Name] = true
			if n := len(all); n > 0 && r.CreatedAt.After(all[n-1].CreatedAt) {
				t.Fatalf("run %s (created %s) listed after %s (created %s): not newest first", r.Name, r.CreatedAt, all[n-1].Name, all[n-1].CreatedAt)
			}
			all = append(all, r)
		}
		if page.NextPageToken == "" {
			return all
		}
		if pages > 1000 {
			t.Fatal("the pages never end")
		}
		req.PageToken = page.NextPageToken
	}
}

func names(runs []controlplane.Run) []string {
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.Name
	}
	return out
}

// wantListed checks that a list holds exactly the runs of all that req matches (all holds
// every run of the backend), newest first.
func (s *suite) wantListed(t *testing.T, b controlplane.Backend, req controlplane.ListRunsRequest, all []controlplane.Run, what string) []controlplane.Run {
	t.Helper()
	got := s.list(t, b, req)
	var want []string
	for _, r := range all {
		if req.Matches(r) && req.Visible.Allows(r) {
			want = append(want, r.Name)
		}
	}
	have := names(got)
	if !sameSet(have, want) {
		t.Errorf("%s: listed %v, want %v", what, have, want)
	}
	for _, r := range got {
		if !req.Matches(r) {
			t.Errorf("%s: run %s does not match the filters it was listed by: %+v", what, r.Name, r)
		}
	}
	return got
}

// settled waits (bounded by the harness's Wait) until the list shows each of runs, finished
// runs all, as GetRun does: a backend's list may lag GetRun for a moment (Flyte's listed
// status lags its attempts, which GetRun reads). It returns the runs as GetRun shows them.
func (s *suite) settled(t *testing.T, b controlplane.Backend, runs []controlplane.Run) []controlplane.Run {
	t.Helper()
	deadline := time.Now().Add(s.h.Wait)
	for {
		var want []controlplane.Run
		byName := map[string]controlplane.Run{}
		for _, r := range runs {
			got, err := b.GetRun(s.ctx(), run(r.Name))
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, got)
		}
		page, err := b.ListRuns(s.ctx(), controlplane.ListRunsRequest{Limit: controlplane.MaxListLimit})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Runs {
			byName[r.Name] = r
		}
		ok := true
		for _, w := range want {
			l, listed := byName[w.Name]
			ok = ok && listed && l.Phase == w.Phase && l.EndedAt.Equal(w.EndedAt)
		}
		if ok {
			return want
		}
		if time.Now().After(deadline) {
			t.Fatalf("the list never showed the runs as GetRun does: %+v, want %+v", page.Runs, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// listMetadata: a run carries its task, its caller's subject and its labels, in GetRun and
// in a list alike.
func (s *suite) listMetadata(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	labels := map[string]string{"ci-job": "build.42", "team": "Data_Eng"}
	r := s.startAs(t, b, s.h.Caller, "echo", map[string]any{"name": "Ada"}, labels)
	check := func(where string, got controlplane.Run) {
		t.Helper()
		if got.Task != (controlplane.TaskRef{Domain: s.h.Domain, Project: s.h.Project, Name: "echo", Version: "v2"}) {
			t.Errorf("%s: task %+v, want echo v2", where, got.Task)
		}
		if got.Caller != s.h.Caller.Subject {
			t.Errorf("%s: caller %q, want %q", where, got.Caller, s.h.Caller.Subject)
		}
		if fmt.Sprint(got.Labels) != fmt.Sprint(labels) {
			t.Errorf("%s: labels %v, want %v", where, got.Labels, labels)
		}
		if got.Kind != controlplane.KindTask || got.CreatedAt.IsZero() {
			t.Errorf("%s: kind %q, created %s", where, got.Kind, got.CreatedAt)
		}
	}
	if r.Caller != "" && r.Caller != s.h.Caller.Subject { // the answer to RunTask may not know it yet
		t.Errorf("RunTask: caller %q, want %q", r.Caller, s.h.Caller.Subject)
	}
	r.Caller = s.h.Caller.Subject
	check("RunTask", r)
	final := s.waitFor(t, b, r.Name, done)
	check("GetRun", final)
	if final.StartedAt.IsZero() || final.EndedAt.IsZero() || final.Attempts < 1 {
		t.Errorf("GetRun: started %s, ended %s, attempts %d", final.StartedAt, final.EndedAt, final.Attempts)
	}
	final = s.settled(t, b, []controlplane.Run{final})[0]
	listed := s.list(t, b, controlplane.ListRunsRequest{})
	if len(listed) != 1 || listed[0].Name != r.Name {
		t.Fatalf("listed %v, want the one run %s", names(listed), r.Name)
	}
	check("ListRuns", listed[0])
	if listed[0].Phase != final.Phase || !listed[0].EndedAt.Equal(final.EndedAt) {
		t.Errorf("ListRuns: %s ended %s; GetRun: %s ended %s", listed[0].Phase, listed[0].EndedAt, final.Phase, final.EndedAt)
	}
	// Without labels, none.
	plain := s.start(t, b, "echo", map[string]any{"name": "Bo"})
	if got, err := b.GetRun(s.ctx(), run(plain.Name)); err != nil || len(got.Labels) != 0 {
		t.Errorf("a run started without labels has labels %v (%v)", got.Labels, err)
	}
}

// listBadLabels: labels that do not fit are refused, naming them, and start nothing; a list
// filtered by such a label is refused as well.
func (s *suite) listBadLabels(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	many := map[string]string{}
	for i := range controlplane.MaxLabels + 1 {
		many[fmt.Sprintf("k%d", i)] = "v"
	}
	for name, c := range map[string]struct {
		labels  map[string]string
		mention string
	}{
		"upper-case key": {map[string]string{"Team": "x"}, "Team"},
		"empty value":    {map[string]string{"team": ""}, "team"},
		"slash in key":   {map[string]string{"a/b": "x"}, "a/b"},
		"long value":     {map[string]string{"team": strings.Repeat("x", 64)}, "team"},
		"too many":       {many, "16"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := b.RunTask(s.ctx(), controlplane.RunTaskRequest{Task: s.ref("echo", ""), Inputs: map[string]any{"name": "x"}, Labels: c.labels})
			wantCode(t, err, controlplane.CodeInvalidInput, c.mention)
			_, err = b.ListRuns(s.ctx(), controlplane.ListRunsRequest{Labels: c.labels})
			wantCode(t, err, controlplane.CodeInvalidInput, c.mention)
		})
	}
	if runs := s.list(t, b, controlplane.ListRunsRequest{}); len(runs) != 0 {
		t.Errorf("refused requests started runs: %v", names(runs))
	}
}

// listFilters: each filter alone and some together list exactly the runs that match.
func (s *suite) listFilters(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	job := map[string]string{"ci-job": "1"}
	other := map[string]string{"ci-job": "2", "team": "x"}
	first := s.startAs(t, b, s.h.Caller, "echo", map[string]any{"name": "a"}, job)
	s.waitFor(t, b, first.Name, done)
	// Creation times are compared across runs: keep the later ones clearly later.
	time.Sleep(20 * time.Millisecond)
	mid := time.Now()
	time.Sleep(20 * time.Millisecond)
	started := []controlplane.Run{
		s.startAs(t, b, s.h.OtherCaller, "echo", map[string]any{"name": "b"}, other),
		s.startAs(t, b, s.h.Caller, "sum", map[string]any{"a": json.Number("1"), "b": json.Number("2")}, job),
		s.startAs(t, b, s.h.Caller, "fail", map[string]any{}, nil),
	}
	all := []controlplane.Run{s.waitFor(t, b, first.Name, done)}
	for _, r := range started {
		all = append(all, s.waitFor(t, b, r.Name, done))
	}
	all = s.settled(t, b, all)
	echo := &controlplane.TaskRef{Domain: s.h.Domain, Project: s.h.Project, Name: "echo"}
	cases := map[string]controlplane.ListRunsRequest{
		"everything":            {},
		"task":                  {Task: echo},
		"task and version":      {Task: &controlplane.TaskRef{Domain: s.h.Domain, Project: s.h.Project, Name: "echo", Version: "v2"}},
		"task and old version":  {Task: &controlplane.TaskRef{Domain: s.h.Domain, Project: s.h.Project, Name: "echo", Version: "v1"}},
		"a task with no runs":   {Task: &controlplane.TaskRef{Domain: s.h.Domain, Project: s.h.Project, Name: "sleep"}},
		"failed":                {Phases: []controlplane.Phase{controlplane.PhaseFailed}},
		"succeeded or failed":   {Phases: []controlplane.Phase{controlplane.PhaseSucceeded, controlplane.PhaseFailed}},
		"running":               {Phases: []controlplane.Phase{controlplane.PhaseRunning}},
		"label":                 {Labels: job},
		"two labels":            {Labels: other},
		"a label value no runs": {Labels: map[string]string{"ci-job": "3"}},
		"caller":                {Caller: s.h.Caller.Subject},
		"other caller":          {Caller: s.h.OtherCaller.Subject},
		"an unknown caller":     {Caller: "nobody"},
		"since":                 {CreatedSince: mid},
		"until":                 {CreatedUntil: mid},
		"label and caller":      {Labels: job, Caller: s.h.Caller.Subject, Phases: []controlplane.Phase{controlplane.PhaseSucceeded}},
		"task and since":        {Task: echo, CreatedSince: mid},
		"an empty time range":   {CreatedSince: mid, CreatedUntil: mid},
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			req.Limit = 2 // several pages
			s.wantListed(t, b, req, all, name)
		})
	}
	// The cases above compare with Matches; make sure they are not all empty.
	if got := s.list(t, b, controlplane.ListRunsRequest{Labels: job}); !sameSet(names(got), []string{first.Name, started[1].Name}) {
		t.Errorf("label ci-job=1 listed %v, want %s and %s", names(got), first.Name, started[1].Name)
	}
	if got := s.list(t, b, controlplane.ListRunsRequest{CreatedSince: mid}); len(got) != 3 {
		t.Errorf("since the middle: %v, want the three later runs", names(got))
	}
	// Newest first, exactly.
	if got := names(s.list(t, b, controlplane.ListRunsRequest{})); got[len(got)-1] != first.Name {
		t.Errorf("the oldest run %s is not last: %v", first.Name, got)
	}
}

// listPaging: pages of Limit runs cover the list exactly once, newest first; a token is
// refused with other filters; Limit is bounded.
func (s *suite) listPaging(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	var want []string
	for i := range 7 {
		r := s.startAs(t, b, s.h.Caller, "echo", map[string]any{"name": fmt.Sprint(i)}, map[string]string{"batch": "p"})
		want = append([]string{r.Name}, want...)
		time.Sleep(2 * time.Millisecond) // distinct creation times, so newest-first is one order
	}
	req := controlplane.ListRunsRequest{Labels: map[string]string{"batch": "p"}, Limit: 3}
	page, err := b.ListRuns(s.ctx(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Runs) != 3 || page.NextPageToken == "" {
		t.Fatalf("first page: %d runs, token %q; want 3 and a token", len(page.Runs), page.NextPageToken)
	}
	if got := names(s.list(t, b, req)); !slices.Equal(got, want) {
		t.Errorf("pages listed %v, want newest first %v", got, want)
	}
	for name, other := range map[string]controlplane.ListRunsRequest{
		"another label": {Labels: map[string]string{"batch": "q"}, Limit: 3, PageToken: page.NextPageToken},
		"no filter":     {Limit: 3, PageToken: page.NextPageToken},
		"a phase more":  {Labels: req.Labels, Phases: []controlplane.Phase{controlplane.PhaseQueued}, Limit: 3, PageToken: page.NextPageToken},
		"garbage":       {Labels: req.Labels, Limit: 3, PageToken: "not-a-token"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := b.ListRuns(s.ctx(), other)
			wantCode(t, err, controlplane.CodeInvalidInput, "page_token")
		})
	}
	// The same token with another page size is fine: the size is not a filter.
	req.PageToken, req.Limit = page.NextPageToken, 100
	if rest, err := b.ListRuns(s.ctx(), req); err != nil || !slices.Equal(names(rest.Runs), want[3:]) || rest.NextPageToken != "" {
		t.Errorf("the rest in one page: %v %q %v; want %v", names(rest.Runs), rest.NextPageToken, err, want[3:])
	}
	// Limit 0 is the default page size; beyond the maximum, the maximum.
	if p, err := b.ListRuns(s.ctx(), controlplane.ListRunsRequest{}); err != nil || len(p.Runs) != 7 {
		t.Errorf("limit 0: %d runs (%v)", len(p.Runs), err)
	}
	if p, err := b.ListRuns(s.ctx(), controlplane.ListRunsRequest{Limit: controlplane.MaxListLimit + 1}); err != nil || len(p.Runs) != 7 {
		t.Errorf("limit above the maximum: %d runs (%v)", len(p.Runs), err)
	}
}

// listPagingWhileAdding: runs added while a list is read page by page (one between each two
// pages, and more from other goroutines meanwhile) never make it list a run twice or skip
// one that was there when it began.
func (s *suite) listPagingWhileAdding(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	before := map[string]bool{}
	for i := range 12 {
		before[s.startAs(t, b, s.h.Caller, "echo", map[string]any{"name": fmt.Sprint(i)}, nil).Name] = true
	}
	add := func(name string) error {
		_, err := b.RunTask(s.as(s.h.OtherCaller), controlplane.RunTaskRequest{Task: s.ref("echo", ""), Inputs: map[string]any{"name": name}})
		return err
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := add(fmt.Sprint("added-", g, "-", i)); err != nil {
					t.Errorf("RunTask while listing: %v", err)
					return
				}
			}
		}()
	}
	req := controlplane.ListRunsRequest{Task: &controlplane.TaskRef{Domain: s.h.Domain, Project: s.h.Project, Name: "echo"}, Limit: 2}
	have := map[string]bool{}
	for pages := 0; ; pages++ {
		page, err := b.ListRuns(s.ctx(), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Runs {
			if have[r.Name] {
				t.Fatalf("run %s listed twice (page %d)", r.Name, pages+1)
			}
			have[r.Name] = true
		}
		if page.NextPageToken == "" || pages > 1000 {
			break
		}
		req.PageToken = page.NextPageToken
		if err := add(fmt.Sprint("between-", pages)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	for name := range before {
		if !have[name] {
			t.Errorf("run %s, there before the list began, was skipped", name)
		}
	}
}

// listVisibility: a list shows only the runs the request's Visibility allows, and a page is
// full whenever enough of those exist.
func (s *suite) listVisibility(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	var echoes []string
	for i := range 3 {
		echoes = append(echoes, s.start(t, b, "echo", map[string]any{"name": fmt.Sprint(i)}).Name)
		s.start(t, b, "sum", map[string]any{"a": json.Number("1"), "b": json.Number("1")})
	}
	onlyEcho, err := controlplane.ParseTaskAllowlist([]string{"echo"})
	if err != nil {
		t.Fatal(err)
	}
	none, _ := controlplane.ParseTaskAllowlist(nil)
	echo := &controlplane.TaskRef{Domain: s.h.Domain, Project: s.h.Project, Name: "echo"}
	sum := &controlplane.TaskRef{Domain: s.h.Domain, Project: s.h.Project, Name: "sum"}
	visible := controlplane.Visibility{TaskAllowlists: []*controlplane.TaskAllowlist{onlyEcho}, HideKinds: true}

	// A list of one task the allowlists allow: every run of it, pages full.
	page, err := b.ListRuns(s.ctx(), controlplane.ListRunsRequest{Task: echo, Limit: 2, Visible: visible})
	if err != nil || len(page.Runs) != 2 || page.NextPageToken == "" {
		t.Fatalf("echo under an allowlist of echo: %v %q %v; want a full page and a token", names(page.Runs), page.NextPageToken, err)
	}
	// One they do not: nothing (the HTTP layer refuses it first; the backend hides it too).
	if p, err := b.ListRuns(s.ctx(), controlplane.ListRunsRequest{Task: sum, Visible: visible}); err != nil || len(p.Runs) != 0 || p.NextPageToken != "" {
		t.Errorf("sum under an allowlist of echo: %v %q %v; want nothing", names(p.Runs), p.NextPageToken, err)
	}
	if p, err := b.ListRuns(s.ctx(), controlplane.ListRunsRequest{Task: echo, Visible: controlplane.Visibility{TaskAllowlists: []*controlplane.TaskAllowlist{onlyEcho, none}}}); err != nil || len(p.Runs) != 0 {
		t.Errorf("echo under a second, empty allowlist: %v %v; want nothing", names(p.Runs), err)
	}
	// Without a task: the allowed runs only, in full pages, or (a backend that can list
	// only one task at a time under an allowlist) a refusal naming task.
	req := controlplane.ListRunsRequest{Limit: 2, Visible: visible}
	if s.h.ListAllowlistsNeedTask {
		_, err := b.ListRuns(s.ctx(), req)
		wantCode(t, err, controlplane.CodeInvalidInput, "task")
		return
	}
	page, err = b.ListRuns(s.ctx(), req)
	if err != nil || len(page.Runs) != 2 || page.NextPageToken == "" {
		t.Fatalf("under an allowlist of echo: %v %q %v; want a full page of echo runs and a token", names(page.Runs), page.NextPageToken, err)
	}
	if got := names(s.list(t, b, req)); !sameSet(got, echoes) {
		t.Errorf("under an allowlist of echo: %v, want %v", got, echoes)
	}
}
