package controlplanetest

import (
	"encoding/json"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// prefetch: a model prefetch is a run like any other (kind prefetch) that the run methods
// follow and abort; a repo or a destination that could lead outside the models folder, a
// newline, or a secret name that is not one is refused before anything runs, naming the
// parameter; a finished prefetch's outputs say where the model is, what was fetched and
// which commit, with the request's metadata. The cases that download need Harness.PrefetchRepo.
func (s *suite) prefetch(t *testing.T) {
	t.Run("Refusals", s.prefetchRefusals)
	t.Run("Lifecycle", s.prefetchLifecycle)
	t.Run("AbortQueued", s.prefetchAbortQueued)
}

// prefetchRequest is a request for repo with the defaults the HTTP layer applies (the
// seed's).
func prefetchRequest(repo string) controlplane.ModelPrefetch {
	return controlplane.ModelPrefetch{Repo: repo, Task: "auto", HFTokenKey: "HF_TOKEN", CPU: "2", Memory: "8Gi", Disk: "50Gi"}
}

func (s *suite) prefetchRefusals(t *testing.T) {
	t.Parallel()
	b := s.h.New(t)
	repo := s.h.PrefetchRepo
	if repo == "" {
		repo = "conformance/never-fetched"
	}
	cases := []struct {
		name, param string
		adjust      func(*controlplane.ModelPrefetch)
	}{
		{"repo traversal", "repo", func(r *controlplane.ModelPrefetch) { r.Repo = "../../etc/passwd" }},
		{"repo traversal in the name", "repo", func(r *controlplane.ModelPrefetch) { r.Repo = "conformance/.." }},
		{"repo without owner", "repo", func(r *controlplane.ModelPrefetch) { r.Repo = "gpt2" }},
		{"repo newline", "repo", func(r *controlplane.ModelPrefetch) { r.Repo = repo + "\nx" }},
		{"repo url", "repo", func(r *controlplane.ModelPrefetch) { r.Repo = "https://evil.example/" + repo }},
		{"path traversal", "raw_data_path", func(r *controlplane.ModelPrefetch) { r.RawDataPath = "../../../etc" }},
		{"path absolute outside", "raw_data_path", func(r *controlplane.ModelPrefetch) { r.RawDataPath = "/etc/cron.d" }},
		{"path newline", "raw_data_path", func(r *controlplane.ModelPrefetch) { r.RawDataPath = "models\nx" }},
		{"secret name newline", "hf_token_key", func(r *controlplane.ModelPrefetch) { r.HFTokenKey = "HF_TOKEN\nPATH" }},
		{"secret name shell", "hf_token_key", func(r *controlplane.ModelPrefetch) { r.HFTokenKey = "$(id)" }},
		{"disk", "disk", func(r *controlplane.ModelPrefetch) { r.Disk = "lots" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := prefetchRequest(repo)
			c.adjust(&req)
			_, err := b.PrefetchModel(s.ctx(), req)
			wantCode(t, err, controlplane.CodeInvalidInput, c.param)
		})
	}
}

func (s *suite) prefetchLifecycle(t *testing.T) {
	t.Parallel()
	if s.h.PrefetchRepo == "" {
		t.Skip("the harness names no PrefetchRepo its backend can fetch")
	}
	b := s.h.New(t)
	req := prefetchRequest(s.h.PrefetchRepo)
	req.ArtifactName, req.SerialFormat, req.ShortDescription, req.Modalities = "conformance-model", "safetensors", "for the suite", []string{"text"}
	r, err := b.PrefetchModel(s.ctx(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !runName.MatchString(r.Name) || r.Kind != controlplane.KindPrefetch || r.Phase.Done() {
		t.Fatalf("prefetch run %+v: want a name matching %s, kind prefetch, not done yet", r, runName)
	}
	if got, err := b.GetRun(s.ctx(), run(r.Name)); err != nil || got.Kind != controlplane.KindPrefetch {
		t.Fatalf("GetRun of the prefetch: %+v, %v", got, err)
	} else if s.caps[Lists] && got.Caller != s.h.Caller.Subject {
		// A backend that lists by caller knows who started a run the server executes too.
		t.Errorf("GetRun of the prefetch: caller %q, want %q", got.Caller, s.h.Caller.Subject)
	}
	final := s.waitFor(t, b, r.Name, done)
	if final.Phase != controlplane.PhaseSucceeded {
		t.Fatalf("prefetch of %s: %s (%s), want succeeded", s.h.PrefetchRepo, final.Phase, final.Error)
	}
	io, err := b.GetRunIO(s.ctx(), run(r.Name))
	if err != nil {
		t.Fatal(err)
	}
	if io.Inputs["repo"] != s.h.PrefetchRepo {
		t.Errorf("inputs %v: want the repo asked for", io.Inputs)
	}
	out := io.Outputs
	if p, _ := out["path"].(string); p == "" {
		t.Errorf("outputs %v: no path", out)
	}
	if rev, _ := out["revision"].(string); rev == "" {
		t.Errorf("outputs %v: no revision", out)
	}
	for _, k := range []string{"files", "bytes"} {
		if n, ok := number(out[k]); !ok || n <= 0 {
			t.Errorf("outputs %s = %#v, want a positive number", k, out[k])
		}
	}
	for k, v := range map[string]string{"artifact_name": req.ArtifactName, "task": req.Task, "serial_format": req.SerialFormat, "short_description": req.ShortDescription} {
		if out[k] != v {
			t.Errorf("outputs %s = %#v, want %q from the request", k, out[k], v)
		}
	}
	if !sameStrings(out["modality"], req.Modalities) {
		t.Errorf("outputs modality = %#v, want %q", out["modality"], req.Modalities)
	}
	_, err = b.AbortRun(s.ctx(), controlplane.AbortRunRequest{Run: run(r.Name), Reason: "too late"})
	wantCode(t, err, controlplane.CodeConflict, "")
	if s.caps[Lists] {
		seen := func(v controlplane.Visibility) bool {
			page, err := b.ListRuns(s.ctx(), controlplane.ListRunsRequest{Visible: v})
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range page.Runs {
				if x.Name == r.Name {
					return x.Kind == controlplane.KindPrefetch
				}
			}
			return false
		}
		if !seen(controlplane.Visibility{HideKinds: true, Kinds: []controlplane.Kind{controlplane.KindPrefetch}}) {
			t.Errorf("ListRuns does not list the prefetch to a caller who sees prefetches")
		}
		if seen(controlplane.Visibility{HideKinds: true, Kinds: []controlplane.Kind{controlplane.KindImageBuild}}) {
			t.Errorf("ListRuns lists the prefetch to a caller who does not see prefetches")
		}
	}
}

// prefetchAbortQueued: a prefetch waits in the queue like any run, and is aborted like one.
func (s *suite) prefetchAbortQueued(t *testing.T) {
	t.Parallel()
	if s.h.Concurrency == 0 {
		t.Skip("the harness cannot make a run wait in a queue (Concurrency 0)")
	}
	if s.h.PrefetchRepo == "" {
		t.Skip("the harness names no PrefetchRepo its backend can fetch")
	}
	b := s.h.New(t)
	var ahead []string
	for range s.h.Concurrency {
		ahead = append(ahead, s.start(t, b, "sleep", map[string]any{"seconds": json.Number("60")}).Name)
	}
	for _, name := range ahead {
		s.waitFor(t, b, name, func(r controlplane.Run) bool { return r.Phase == controlplane.PhaseRunning })
	}
	r, err := b.PrefetchModel(s.ctx(), prefetchRequest(s.h.PrefetchRepo))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.GetRun(s.ctx(), run(r.Name)); err != nil || got.Phase != controlplane.PhaseQueued {
		t.Fatalf("with %d runs ahead, the prefetch is %s (%v), want queued", s.h.Concurrency, got.Phase, err)
	}
	aborted, err := b.AbortRun(s.ctx(), controlplane.AbortRunRequest{Run: run(r.Name), Reason: "not needed"})
	if err != nil || aborted.Phase != controlplane.PhaseAborted {
		t.Fatalf("abort of the queued prefetch: %s, %v; want aborted at once", aborted.Phase, err)
	}
	for _, name := range ahead {
		if _, err := b.AbortRun(s.ctx(), controlplane.AbortRunRequest{Run: run(name), Reason: "cleanup"}); err != nil {
			t.Fatal(err)
		}
		s.waitFor(t, b, name, done)
	}
	if final, err := b.GetRun(s.ctx(), run(r.Name)); err != nil || final.Phase != controlplane.PhaseAborted || final.Attempts != 0 {
		t.Errorf("the aborted prefetch is %s with %d attempts (%v): want aborted, never started", final.Phase, final.Attempts, err)
	}
}

// number reads a decoded JSON number (json.Number, float64 or an integer type).
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}
