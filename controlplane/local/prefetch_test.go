package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
	"github.com/flyte-webhook/flyte-webhook/internal/hfhub/hubtest"
)

const weights = "model.safetensors"

// openPrefetch opens a backend (a sleep task only) whose prefetches go to hub, models in the
// data dir's models folder.
func openPrefetch(t *testing.T, hub *hubtest.Server, adjust func(*local.Config)) (*local.Backend, local.Config) {
	t.Helper()
	return open(t, []helperTask{{name: "sleep", kind: "sleep", inputs: "[{name: seconds, type: integer, default: 30}]", outputs: "[{name: slept, type: integer}]"}},
		func(c *local.Config) {
			c.Prefetch.Endpoint = hub.URL()
			local.FastHubRetries(c)
			if adjust != nil {
				adjust(c)
			}
		})
}

// seedRequest is a request with the defaults the HTTP layer applies (the seed's).
func seedRequest(repo string) controlplane.ModelPrefetch {
	return controlplane.ModelPrefetch{Repo: repo, Task: "auto", HFTokenKey: "HF_TOKEN", CPU: "2", Memory: "8Gi", Disk: "50Gi"}
}

func prefetch(t *testing.T, b *local.Backend, req controlplane.ModelPrefetch) controlplane.Run {
	t.Helper()
	r, err := b.PrefetchModel(context.Background(), req)
	if err != nil {
		t.Fatalf("PrefetchModel %s: %v", req.Repo, err)
	}
	return r
}

// checkModel checks the model's files are in dir with the Hub's contents, and nothing of the
// downloader's is left under a file's name.
func checkModel(t *testing.T, dir, repo string) {
	t.Helper()
	for _, f := range hubtest.Fixture("acme")[0].Files {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Name)))
		if err != nil || !bytes.Equal(got, f.Content) {
			t.Errorf("%s of %s: %d bytes (%v), want %d bytes of the Hub's", f.Name, repo, len(got), err, len(f.Content))
		}
	}
}

func fixtureSize() int64 {
	var n int64
	for _, f := range hubtest.Fixture("acme")[0].Files {
		n += int64(len(f.Content))
	}
	return n
}

// storeRanges lists the Range headers of the requests that reached the file store (another
// host, reached through the Hub's redirects).
func storeRanges(hub *hubtest.Server) []string {
	var out []string
	for _, r := range hub.Requests() {
		if r.Host == "store" {
			out = append(out, r.Range)
		}
	}
	return out
}

// TestPrefetch: a prefetch is a run of kind prefetch (the task system/production/
// prefetch-hf-model) that downloads the snapshot, LFS files through the Hub's redirect to its
// file store, and whose outputs say where, what and which commit, with the request's metadata.
func TestPrefetch(t *testing.T) {
	t.Parallel()
	hub := hubtest.New(t, hubtest.Fixture("acme")...)
	b, cfg := openPrefetch(t, hub, nil)
	req := seedRequest("acme/tiny")
	req.SerialFormat, req.ShortDescription, req.Modalities = "safetensors", "a tiny model", []string{"text"}
	run := prefetch(t, b, req)
	if run.Kind != controlplane.KindPrefetch || run.Task.Name != "prefetch-hf-model" || run.Task.Project != "system" || run.Phase.Done() {
		t.Fatalf("run %+v: want kind prefetch, task system/production/prefetch-hf-model, not done", run)
	}
	if r := waitDone(t, b, run.Name); r.Phase != controlplane.PhaseSucceeded || r.Attempts != 1 {
		t.Fatalf("prefetch %s after %d attempts (%s)", r.Phase, r.Attempts, r.Error)
	}
	io := runIO(t, b, run.Name)
	dir := filepath.Join(cfg.DataDir, "models", "acme", "tiny")
	want := map[string]any{"path": dir, "files": json.Number("4"), "bytes": json.Number(jsonInt(fixtureSize())), "revision": hub.Commit("acme/tiny"),
		"artifact_name": "tiny", "architecture": "TinyForCausalLM", "task": "auto", "serial_format": "safetensors", "model_type": "tiny",
		"short_description": "a tiny model"}
	for k, v := range want {
		if got := io.Outputs[k]; got != v {
			t.Errorf("output %s = %#v, want %#v", k, got, v)
		}
	}
	if m, _ := io.Outputs["modality"].([]any); len(m) != 1 || m[0] != "text" {
		t.Errorf("output modality %#v", io.Outputs["modality"])
	}
	if io.Inputs["repo"] != "acme/tiny" || io.Inputs["memory"] != "8Gi" || io.Inputs["hf_token_key"] != "HF_TOKEN" {
		t.Errorf("inputs %v: want the request as the API names it", io.Inputs)
	}
	checkModel(t, dir, "acme/tiny")
	if got := storeRanges(hub); len(got) != 2 {
		t.Errorf("requests to the file store: %q, want the two LFS files, redirected there", got)
	}
	log := runLog(t, cfg, run.Name, "stdout")
	if !strings.Contains(log, "prefetching acme/tiny from "+hub.URL()) || !strings.Contains(log, "is commit "+hub.Commit("acme/tiny")) {
		t.Errorf("the run's log:\n%s", log)
	}
	if _, err := b.AbortRun(context.Background(), controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: run.Name}}); controlplane.CodeOf(err) != controlplane.CodeConflict {
		t.Errorf("abort of a finished prefetch: %v, want conflict", err)
	}

	// Again: the files are there and checked, nothing is downloaded; force downloads them again.
	before := len(storeRanges(hub))
	if r := waitDone(t, b, prefetch(t, b, req).Name); r.Phase != controlplane.PhaseSucceeded {
		t.Fatalf("second prefetch: %s (%s)", r.Phase, r.Error)
	}
	if n := len(storeRanges(hub)); n != before {
		t.Errorf("the second prefetch downloaded again (%d store requests, was %d)", n, before)
	}
	req.Force = 1
	if r := waitDone(t, b, prefetch(t, b, req).Name); r.Phase != controlplane.PhaseSucceeded {
		t.Fatalf("forced prefetch: %s (%s)", r.Phase, r.Error)
	}
	if n := len(storeRanges(hub)); n != before+2 {
		t.Errorf("force: %d store requests, want %d", n, before+2)
	}
	checkModel(t, dir, "acme/tiny")
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestPrefetchResumes: a download cut in the middle goes on from where it stopped (Range).
func TestPrefetchResumes(t *testing.T) {
	t.Parallel()
	hub := hubtest.New(t, hubtest.Fixture("acme")...)
	hub.CutAfter("acme/tiny", weights, 1<<20, 1)
	b, cfg := openPrefetch(t, hub, nil)
	run := prefetch(t, b, seedRequest("acme/tiny"))
	if r := waitDone(t, b, run.Name); r.Phase != controlplane.PhaseSucceeded {
		t.Fatalf("prefetch %s (%s)", r.Phase, r.Error)
	}
	got := storeRanges(hub)
	slices.Sort(got) // the two LFS files are fetched at once (cpu 2)
	if got, want := strings.Join(got, ","), ",,bytes=1048576-"; got != want {
		t.Errorf("ranges asked of the store: %q, want %q", got, want)
	}
	checkModel(t, filepath.Join(cfg.DataDir, "models", "acme", "tiny"), "acme/tiny")
}

// TestPrefetchChecksumMismatch: a file whose sha256 is not the file list's fails the run,
// naming the file, and is never left under its name.
func TestPrefetchChecksumMismatch(t *testing.T) {
	t.Parallel()
	hub := hubtest.New(t, hubtest.Fixture("acme")...)
	hub.Corrupt("acme/tiny", weights, 1)
	b, cfg := openPrefetch(t, hub, nil)
	run := prefetch(t, b, seedRequest("acme/tiny"))
	r := waitDone(t, b, run.Name)
	if r.Phase != controlplane.PhaseFailed || !strings.Contains(r.Error, "prefetch of acme/tiny failed") || !strings.Contains(r.Error, weights) ||
		!strings.Contains(r.Error, "sha256") {
		t.Fatalf("prefetch %s (%s): want failed naming the file and its checksum", r.Phase, r.Error)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "models", "acme", "tiny", weights)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the corrupted file is under its name: %v", err)
	}
	if io := runIO(t, b, run.Name); len(io.Outputs) != 0 {
		t.Errorf("a failed prefetch's outputs: %v", io.Outputs)
	}
}

// TestPrefetchDiskRoom: a model larger than the disk cap, the server's max_bytes or the free
// space (less keep_free) is refused, naming the limit; the seed's default disk (50Gi) is a
// cap, so a small model is fetched on any machine.
func TestPrefetchDiskRoom(t *testing.T) {
	t.Parallel()
	hub := hubtest.New(t, hubtest.Fixture("acme")...)
	for _, c := range []struct {
		name   string
		adjust func(*local.Config)
		disk   string
		want   string
	}{
		{"disk cap", nil, "1Mi", "over the disk cap (disk=1Mi)"},
		{"server cap", func(c *local.Config) { c.Prefetch.MaxBytes = "2Mi" }, "", "over the server's cap (backend.local.prefetch.max_bytes=2Mi)"},
		{"free space", func(c *local.Config) { c.Prefetch.KeepFree = "1Ei" }, "", "not enough free disk space in "},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b, cfg := openPrefetch(t, hub, c.adjust)
			req := seedRequest("acme/tiny")
			if c.disk != "" {
				req.Disk = c.disk
			}
			r := waitDone(t, b, prefetch(t, b, req).Name)
			if r.Phase != controlplane.PhaseFailed || !strings.Contains(r.Error, c.want) {
				t.Fatalf("prefetch %s (%s), want failed saying %q", r.Phase, r.Error, c.want)
			}
			if entries, _ := os.ReadDir(filepath.Join(cfg.DataDir, "models", "acme", "tiny")); len(entries) > 1 {
				t.Errorf("files written though refused: %v", entries)
			}
		})
	}
}

// TestPrefetchPrivate: a private repo answers 401 without a token (the run fails saying so);
// with the secret named by hf_token_key, in the allowed list, it is fetched. A key outside the
// list is refused (403 naming the rule) when the repo needs a token, and allowed, never read,
// when it does not. Not parallel: it sets the secrets in the environment.
func TestPrefetchPrivate(t *testing.T) {
	hub := hubtest.New(t, hubtest.Fixture("acme")...)
	t.Setenv("FWH_TEST_HF_TOKEN", hub.Token)
	t.Setenv("FWH_TEST_OTHER_SECRET", hub.Token)
	t.Setenv("FWH_TEST_EMPTY_TOKEN", "")
	b, _ := openPrefetch(t, hub, func(c *local.Config) {
		c.Prefetch.AllowedTokenKeys = []string{"HF_TOKEN", "FWH_TEST_HF_TOKEN", "FWH_TEST_EMPTY_TOKEN"}
	})
	req := seedRequest("acme/private-tiny")
	req.HFTokenKey = "FWH_TEST_EMPTY_TOKEN"
	r := waitDone(t, b, prefetch(t, b, req).Name)
	if r.Phase != controlplane.PhaseFailed || !strings.Contains(r.Error, "answered 401") || !strings.Contains(r.Error, "secret FWH_TEST_EMPTY_TOKEN is not set") {
		t.Fatalf("private repo without a token: %s (%s)", r.Phase, r.Error)
	}
	req.HFTokenKey = "FWH_TEST_HF_TOKEN"
	if r := waitDone(t, b, prefetch(t, b, req).Name); r.Phase != controlplane.PhaseSucceeded {
		t.Fatalf("private repo with the token: %s (%s)", r.Phase, r.Error)
	}
	for _, q := range hub.Requests() {
		if q.Host == "store" && q.Authorization != "" {
			t.Errorf("the token went to the file store: %+v", q)
		}
	}

	// Secret picking: a key outside the list, for a repo that needs a token.
	req.HFTokenKey = "FWH_TEST_OTHER_SECRET"
	_, err := b.PrefetchModel(context.Background(), req)
	if controlplane.CodeOf(err) != controlplane.CodePermissionDenied ||
		!strings.Contains(controlplane.MessageOf(err), `hf_token_key "FWH_TEST_OTHER_SECRET" is not one of the secrets prefetches may use (backend.local.prefetch.allowed_token_keys: HF_TOKEN, FWH_TEST_HF_TOKEN, FWH_TEST_EMPTY_TOKEN)`) {
		t.Fatalf("a key outside the list: %v", err)
	}
	// The same key for a public repo: no token is used, so it is not refused, and the secret
	// is never sent.
	n := len(hub.Requests())
	pub := seedRequest("acme/tiny")
	pub.HFTokenKey, pub.RawDataPath = "FWH_TEST_OTHER_SECRET", "public-copy"
	if r := waitDone(t, b, prefetch(t, b, pub).Name); r.Phase != controlplane.PhaseSucceeded {
		t.Fatalf("public repo, key outside the list: %s (%s)", r.Phase, r.Error)
	}
	for _, q := range hub.Requests()[n:] {
		if q.Authorization != "" {
			t.Errorf("a token was sent for a public repo: %+v", q)
		}
	}
}

// TestPrefetchRefusals: the security probe's cases are refused before anything runs, naming
// the parameter: repo traversal, a path out of the models folder (by .., absolute, or a
// symbolic link), a newline, a secret name that is not one.
func TestPrefetchRefusals(t *testing.T) {
	t.Parallel()
	hub := hubtest.New(t, hubtest.Fixture("acme")...)
	b, cfg := openPrefetch(t, hub, nil)
	models := filepath.Join(cfg.DataDir, "models")
	if err := os.MkdirAll(models, 0o755); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(models, "escape")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, mention string
		adjust        func(*controlplane.ModelPrefetch)
	}{
		{"repo traversal", "repo", func(r *controlplane.ModelPrefetch) { r.Repo = "../../etc/passwd" }},
		{"repo traversal in the name", "repo", func(r *controlplane.ModelPrefetch) { r.Repo = "acme/.." }},
		{"repo traversal in the owner", "repo", func(r *controlplane.ModelPrefetch) { r.Repo = "../tiny" }},
		{"repo without owner", "repo", func(r *controlplane.ModelPrefetch) { r.Repo = "tiny" }},
		{"repo with three parts", "repo", func(r *controlplane.ModelPrefetch) { r.Repo = "acme/tiny/x" }},
		{"repo with a newline", "repo", func(r *controlplane.ModelPrefetch) { r.Repo = "acme/tiny\nx" }},
		{"repo as a URL", "repo", func(r *controlplane.ModelPrefetch) { r.Repo = "https://evil.example/acme/tiny" }},
		{"path up", "raw_data_path", func(r *controlplane.ModelPrefetch) { r.RawDataPath = "../../../etc" }},
		{"path absolute outside", "raw_data_path", func(r *controlplane.ModelPrefetch) { r.RawDataPath = "/etc/cron.d" }},
		{"path through a link out", "raw_data_path", func(r *controlplane.ModelPrefetch) { r.RawDataPath = "escape/model" }},
		{"path with a newline", "raw_data_path", func(r *controlplane.ModelPrefetch) { r.RawDataPath = "a\nb" }},
		{"secret name with a newline", "hf_token_key", func(r *controlplane.ModelPrefetch) { r.HFTokenKey = "HF_TOKEN\nPATH" }},
		{"secret name that is not one", "hf_token_key", func(r *controlplane.ModelPrefetch) { r.HFTokenKey = "$(id)" }},
		{"artifact name with a slash", "artifact_name", func(r *controlplane.ModelPrefetch) { r.ArtifactName = "../x" }},
		{"disk not a quantity", "disk", func(r *controlplane.ModelPrefetch) { r.Disk = "50GB" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := seedRequest("acme/tiny")
			c.adjust(&req)
			_, err := b.PrefetchModel(context.Background(), req)
			if controlplane.CodeOf(err) != controlplane.CodeInvalidInput || !strings.Contains(controlplane.MessageOf(err), c.mention) {
				t.Fatalf("%v: want invalid input naming %s", err, c.mention)
			}
		})
	}
	if n := len(hub.Requests()); n != 0 {
		t.Errorf("%d requests reached the Hub for refused prefetches", n)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("written outside the models folder: %v", entries)
	}
	page, err := b.ListRuns(context.Background(), controlplane.ListRunsRequest{Limit: 10})
	if err != nil || len(page.Runs) != 0 {
		t.Errorf("runs after refusals: %v, %v", page.Runs, err)
	}
}

// waitPartial waits (bounded) until the partial download of the weights holds at least n
// bytes: the download is under way.
func waitPartial(t *testing.T, dir string, n int64) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		entries, _ := os.ReadDir(filepath.Join(dir, ".hfhub", "incomplete"))
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && fi.Size() >= n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no partial download of %d bytes in %s", n, dir)
		}
	}
}

// TestPrefetchAbort: aborting a prefetch in the middle of a download stops it; no partial
// file is left under its name, nor the partial download.
func TestPrefetchAbort(t *testing.T) {
	t.Parallel()
	hub := hubtest.New(t, hubtest.Fixture("acme")...)
	hub.StallAfter("acme/tiny", weights, 1<<20)
	b, cfg := openPrefetch(t, hub, nil)
	run := prefetch(t, b, seedRequest("acme/tiny"))
	dir := filepath.Join(cfg.DataDir, "models", "acme", "tiny")
	waitPartial(t, dir, 1<<20)
	if _, err := b.AbortRun(context.Background(), controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: run.Name}, Reason: "wrong model"}); err != nil {
		t.Fatal(err)
	}
	r := waitDone(t, b, run.Name) // bounded at 30s, the stall lasts until the client goes
	if r.Phase != controlplane.PhaseAborted || !strings.Contains(r.Error, "wrong model") {
		t.Fatalf("aborted prefetch: %s (%s)", r.Phase, r.Error)
	}
	if _, err := os.Stat(filepath.Join(dir, weights)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a partial file under its name: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, ".hfhub", "incomplete")); len(entries) != 0 {
		t.Errorf("partial downloads kept after an abort: %v", entries)
	}
}

// TestPrefetchSurvivesRestart: a prefetch interrupted by a restart in the middle of a
// download is not failed: the next start runs it again, resuming the download; one queued
// behind it runs too.
func TestPrefetchSurvivesRestart(t *testing.T) {
	t.Parallel()
	hub := hubtest.New(t, hubtest.Fixture("acme")...)
	hub.StallAfter("acme/tiny", weights, 1<<20)
	b, cfg := openPrefetch(t, hub, func(c *local.Config) { c.Concurrency = 1 })
	running := prefetch(t, b, seedRequest("acme/tiny"))
	other := seedRequest("acme/tiny")
	other.RawDataPath = "second"
	queued := prefetch(t, b, other)
	dir := filepath.Join(cfg.DataDir, "models", "acme", "tiny")
	waitPartial(t, dir, 1<<20)
	if r, _ := b.GetRun(context.Background(), controlplane.RunRef{Name: queued.Name}); r.Phase != controlplane.PhaseQueued {
		t.Fatalf("the second prefetch is %s, want queued (concurrency 1)", r.Phase)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = b.Close(ctx)
	n := len(hub.Requests())
	b2 := reopen(t, cfg)
	for _, name := range []string{running.Name, queued.Name} {
		if r := waitDone(t, b2, name); r.Phase != controlplane.PhaseSucceeded {
			t.Fatalf("prefetch %s after the restart: %s (%s)", name, r.Phase, r.Error)
		}
	}
	var resumed bool
	for _, q := range hub.Requests()[n:] {
		resumed = resumed || (q.Host == "store" && strings.HasPrefix(q.Range, "bytes=") && q.Range != "bytes=0-")
	}
	if !resumed {
		t.Errorf("the download started over after the restart: %+v", hub.Requests()[n:])
	}
	if out, _ := local.AttemptOutcomes(b2, running.Name); len(out) != 2 {
		t.Errorf("attempts of the interrupted prefetch: %q, want the interrupted one and the next", out)
	}
	checkModel(t, dir, "acme/tiny")
	checkModel(t, filepath.Join(cfg.DataDir, "models", "second"), "acme/tiny")
}

func TestPrefetchConfigErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := map[string]local.PrefetchConfig{
		"prefetch.endpoint":              {Endpoint: "http://hub.example.com"},
		"prefetch.allowed_token_keys[1]": {AllowedTokenKeys: []string{"HF_TOKEN", "A-B"}},
		"prefetch.timeout":               {Timeout: -time.Second},
		"prefetch.probe_timeout":         {ProbeTimeout: -time.Second},
		"prefetch.max_bytes":             {MaxBytes: "lots"},
		"prefetch.keep_free":             {KeepFree: "1GB"},
	}
	for want, pc := range cases {
		cfg := local.Config{Workspace: "w", DataDir: filepath.Join(dir, "data"), Prefetch: pc}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want an error naming %s", pc, err, want)
		}
	}
}
