package impl_test

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// The list tests over the real local backend: the example workspace (node tasks), real
// SQLite, every answer validated against openapi.yaml.

// localTokens are two callers of the local backend.
var (
	localCI, _, _   = identity.NewToken()
	localDash, _, _ = identity.NewToken()
)

// shiftedClock is the wall clock moved ahead by a shift (the retention's cutoff is read from
// the backend's clock).
type shiftedClock struct{ shift atomic.Int64 }

func (c *shiftedClock) Now() time.Time { return time.Now().Add(time.Duration(c.shift.Load())) }
func (c *shiftedClock) NewTimer(d time.Duration) local.Timer {
	return timer{time.NewTimer(d)}
}

type timer struct{ t *time.Timer }

func (t timer) C() <-chan time.Time { return t.t.C }
func (t timer) Stop() bool          { return t.t.Stop() }

// openLocal opens the local backend on the example workspace in dataDir.
func openLocal(t *testing.T, dataDir string, adjust func(*local.Config)) *local.Backend {
	t.Helper()
	v, err := identity.New(identity.Config{Tokens: []identity.Token{
		{SHA256: identity.HashToken(localCI), Subject: "ci", Name: "CI"},
		{SHA256: identity.HashToken(localDash), Subject: "dashboard"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ws, err := filepath.Abs("../examples/workspace.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := local.Config{Workspace: ws, DataDir: dataDir, AbortGrace: time.Second, Verifier: v}
	if adjust != nil {
		adjust(&cfg)
	}
	b, err := local.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.Close(ctx)
	})
	return b
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// waitDoneHTTP polls get_run until the run is done (liveness only, bounded generously).
func waitDoneHTTP(t *testing.T, s *testServer, name string) response {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r := s.call(t, "GET", "/run/"+name, nil, bearer(localCI))
		expectStatus(t, r, http.StatusOK)
		if r.JSON["done"] == true {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s not done: %s", name, r.Body)
		}
	}
}

// TestLocalListRuns: a CI job labels its runs and lists them by label; filters, pages and
// the webhook's allowlist through the whole HTTP stack over the local backend.
func TestLocalListRuns(t *testing.T) {
	t.Parallel()
	b := openLocal(t, t.TempDir(), nil)
	s := newServerWith(t, impl.Config{}, b, nil)
	start := func(tok, target string, body any) string {
		t.Helper()
		r := s.call(t, "POST", target, body, bearer(tok))
		expectStatus(t, r, http.StatusOK)
		return r.str("name")
	}
	job1 := start(localCI, "/run-task/development/examples/greet?label=ci-job=1234&label=pipeline=deploy", map[string]any{"name": "a"})
	job2 := start(localCI, "/run-task/development/examples/sum?label=ci-job=1234", map[string]any{"a": 1, "b": 2})
	other := start(localDash, "/run-task/development/examples/greet?label=ci-job=9", map[string]any{"name": "b"})
	failed := start(localCI, "/run-task/development/examples/fail", nil)
	for _, n := range []string{job1, job2, other, failed} {
		waitDoneHTTP(t, s, n)
	}
	list := func(query string) []string {
		t.Helper()
		r := s.call(t, "GET", "/runs?"+query, nil, bearer(localCI))
		expectStatus(t, r, http.StatusOK)
		return listed(t, r)
	}
	for query, want := range map[string][]string{
		"label=ci-job=1234":                               {job2, job1},
		"label=ci-job=1234&label=pipeline=deploy":         {job1},
		"task=development/examples/greet":                 {other, job1},
		"task=development/examples/greet&task_version=v1": {other, job1},
		"caller=dashboard":                                {other},
		"phase=failed":                                    {failed},
		"phase=failed&phase=succeeded&caller=ci":          {failed, job2, job1},
		"":                                                {failed, other, job2, job1},
	} {
		if got := list(query); !slices.Equal(got, want) {
			t.Errorf("%q listed %v, want %v", query, got, want)
		}
	}
	// The run's metadata, in get_run and in the list.
	r := s.call(t, "GET", "/run/"+job1, nil, bearer(localCI))
	labels, _ := r.JSON["labels"].(map[string]any)
	if r.str("caller") != "ci" || labels["ci-job"] != "1234" || labels["pipeline"] != "deploy" || r.str("kind") != "task" {
		t.Errorf("get_run: %s", r.Body)
	}

	// Page by page, one run each.
	var all []string
	token := ""
	for {
		q := url.Values{"limit": {"1"}}
		if token != "" {
			q.Set("page_token", token)
		}
		r := s.call(t, "GET", "/runs?"+q.Encode(), nil, bearer(localCI))
		expectStatus(t, r, http.StatusOK)
		all = append(all, listed(t, r)...)
		if token = r.str("next_page_token"); token == "" {
			break
		}
		if len(all) > 10 {
			t.Fatal("the pages never end")
		}
	}
	if want := []string{failed, other, job2, job1}; !slices.Equal(all, want) {
		t.Errorf("pages listed %v, want %v", all, want)
	}
	first := s.call(t, "GET", "/runs?limit=1", nil, bearer(localCI))
	r = s.call(t, "GET", "/runs?limit=1&phase=failed&page_token="+url.QueryEscape(first.str("next_page_token")), nil, bearer(localCI))
	expectStatus(t, r, http.StatusBadRequest)
	expectStatus(t, s.call(t, "GET", "/runs?page_token=bm9wZQ", nil, bearer(localCI)), http.StatusBadRequest)

	// A webhook with a task allowlist over the same backend lists only those tasks' runs, and
	// refuses a list of another task.
	narrow := newServerWith(t, impl.Config{TaskAllowlist: &[]string{"examples/greet"}}, b, nil)
	r = narrow.call(t, "GET", "/runs?limit=1", nil, bearer(localCI))
	expectStatus(t, r, http.StatusOK)
	if got := listed(t, r); !slices.Equal(got, []string{other}) || r.str("next_page_token") == "" {
		t.Errorf("under an allowlist of greet, page 1: %v (token %q)", got, r.str("next_page_token"))
	}
	r = narrow.call(t, "GET", "/runs?limit=1&page_token="+url.QueryEscape(r.str("next_page_token")), nil, bearer(localCI))
	if got := listed(t, r); !slices.Equal(got, []string{job1}) {
		t.Errorf("under an allowlist of greet, page 2: %v", got)
	}
	if r.str("next_page_token") != "" {
		// A token would say more runs follow, which are all outside the allowlist.
		r = narrow.call(t, "GET", "/runs?limit=1&page_token="+url.QueryEscape(r.str("next_page_token")), nil, bearer(localCI))
		if got := listed(t, r); len(got) != 0 || r.str("next_page_token") != "" {
			t.Errorf("after the last visible run: %v", got)
		}
	}
	expectStatus(t, narrow.call(t, "GET", "/runs?task=development/examples/sum", nil, bearer(localCI)), http.StatusForbidden)
}

// TestLocalRetentionOverHTTP: runs that ended longer ago than the retention are gone when
// the server starts (its first sweep runs at start, in the background): get_run answers 404
// and lists no longer show them; with retention 0 they stay.
func TestLocalRetentionOverHTTP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keep := time.Duration(0)
	first := openLocal(t, dir, func(c *local.Config) { c.Retention = &keep })
	s := newServerWith(t, impl.Config{}, first, nil)
	r := s.call(t, "POST", "/run-task/development/examples/greet?label=ci-job=7", map[string]any{"name": "old"}, bearer(localCI))
	expectStatus(t, r, http.StatusOK)
	name := r.str("name")
	waitDoneHTTP(t, s, name)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// A month later, with retention 0: kept.
	clock := &shiftedClock{}
	clock.shift.Store(int64(31 * 24 * time.Hour))
	again := openLocal(t, dir, func(c *local.Config) { c.Retention, c.Clock = &keep, clock })
	s = newServerWith(t, impl.Config{}, again, nil)
	expectStatus(t, s.call(t, "GET", "/run/"+name, nil, bearer(localCI)), http.StatusOK)
	if err := again.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// A month later, with the default retention (30 days): gone.
	last := openLocal(t, dir, func(c *local.Config) { c.Clock = clock })
	s = newServerWith(t, impl.Config{}, last, nil)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r := s.call(t, "GET", "/run/"+name, nil, bearer(localCI))
		if r.Status == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run older than the retention is still there: %s", r.Body)
		}
	}
	r = s.call(t, "GET", "/runs?label=ci-job=7", nil, bearer(localCI))
	expectStatus(t, r, http.StatusOK)
	if got := listed(t, r); len(got) != 0 {
		t.Errorf("a deleted run is still listed: %v", got)
	}
}
