package impl_test

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
	"github.com/flyte-webhook/flyte-webhook/impl"
	"github.com/flyte-webhook/flyte-webhook/internal/hfhub/hubtest"
)

// The prefetch endpoints through the whole HTTP stack over the local backend, downloading
// from a Hub-shaped server (package hubtest): every answer validated against openapi.yaml.

// openPrefetchLocal opens the local backend with its prefetches going to hub.
func openPrefetchLocal(t *testing.T, hub *hubtest.Server, adjust func(*local.Config)) (*local.Backend, string) {
	t.Helper()
	dir := t.TempDir()
	b := openLocal(t, dir, func(c *local.Config) {
		c.Prefetch.Endpoint = hub.URL()
		if adjust != nil {
			adjust(c)
		}
	})
	return b, filepath.Join(dir, "models")
}

// TestLocalPrefetch: prefetch_hf_model starts a run that the prefetch endpoints and the run
// endpoints follow; its outputs say where the checked files are; list_runs lists it.
func TestLocalPrefetch(t *testing.T) {
	t.Parallel()
	hub := hubtest.New(t, hubtest.Fixture("acme")...)
	b, models := openPrefetchLocal(t, hub, nil)
	s := newServerWith(t, impl.Config{}, b, nil)
	r := s.call(t, "POST", "/prefetch/hf-model?repo=acme/tiny&serial_format=safetensors&short_description="+url.QueryEscape("a tiny model"), []string{"text"}, bearer(localCI))
	expectStatus(t, r, http.StatusOK)
	name := r.str("name")
	if !strings.HasSuffix(r.str("url"), "/run/"+name) || r.JSON["done"] != false {
		t.Fatalf("prefetch_hf_model: %s", r.Body)
	}
	expectStatus(t, s.call(t, "GET", "/prefetch/hf-model/"+name, nil, bearer(localCI)), http.StatusOK)
	if done := waitDoneHTTP(t, s, name); done.JSON["phase"] != "succeeded" {
		t.Fatalf("the prefetch: %s", done.Body)
	}
	got := s.call(t, "GET", "/prefetch/hf-model/"+name, nil, bearer(localCI))
	expectStatus(t, got, http.StatusOK)
	if got.JSON["phase"] != "succeeded" || got.JSON["done"] != true {
		t.Errorf("get_prefetch_hf_model: %s", got.Body)
	}
	io := s.call(t, "GET", "/prefetch/hf-model/"+name+"/io", nil, bearer(localCI))
	expectStatus(t, io, http.StatusOK)
	in, _ := io.JSON["inputs"].(map[string]any)
	out, _ := io.JSON["outputs"].(map[string]any)
	if in["repo"] != "acme/tiny" || in["memory"] != "8Gi" || in["disk"] != "50Gi" || in["task"] != "auto" || in["hf_token_key"] != "HF_TOKEN" {
		t.Errorf("inputs (the spec's defaults applied): %v", in)
	}
	dir := filepath.Join(models, "acme", "tiny")
	if out["path"] != dir || out["files"] != 4.0 || out["revision"] != hub.Commit("acme/tiny") || out["serial_format"] != "safetensors" ||
		out["short_description"] != "a tiny model" || out["artifact_name"] != "tiny" || out["architecture"] != "TinyForCausalLM" {
		t.Errorf("outputs: %v", out)
	}
	for _, f := range hubtest.Fixture("acme")[0].Files {
		if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f.Name))); err != nil || fi.Size() != int64(len(f.Content)) {
			t.Errorf("%s: %v", f.Name, err)
		}
	}
	// The run endpoints answer for it too, and list_runs lists it by its task.
	expectStatus(t, s.call(t, "GET", "/run/"+name+"/io", nil, bearer(localCI)), http.StatusOK)
	l := s.call(t, "GET", "/runs?task=production/system/prefetch-hf-model", nil, bearer(localCI))
	expectStatus(t, l, http.StatusOK)
	if got := listed(t, l); !slices.Equal(got, []string{name}) {
		t.Errorf("list_runs of the prefetch task: %v, want [%s]", got, name)
	}
	expectStatus(t, s.call(t, "POST", "/prefetch/hf-model/"+name+"/abort", nil, bearer(localCI)), http.StatusConflict)
	expectStatus(t, s.call(t, "POST", "/run/"+name+"/abort", nil, bearer(localCI)), http.StatusConflict) // found, and finished

	// The prefetch endpoints answer only for prefetch runs.
	task := s.call(t, "POST", "/run-task/development/examples/greet", map[string]any{"name": "x"}, bearer(localCI))
	expectStatus(t, task, http.StatusOK)
	for _, target := range []string{"/prefetch/hf-model/" + task.str("name"), "/prefetch/hf-model/" + task.str("name") + "/io"} {
		expectStatus(t, s.call(t, "GET", target, nil, bearer(localCI)), http.StatusNotFound)
	}
	expectStatus(t, s.call(t, "POST", "/prefetch/hf-model/"+task.str("name")+"/abort", nil, bearer(localCI)), http.StatusNotFound)
	waitDoneHTTP(t, s, task.str("name"))

	// A webhook that does not serve prefetches neither shows nor lists them.
	narrow := newServerWith(t, impl.Config{EndpointGroups: []string{"run", "task"}}, b, nil)
	expectStatus(t, narrow.call(t, "GET", "/run/"+name, nil, bearer(localCI)), http.StatusNotFound)
	l = narrow.call(t, "GET", "/runs", nil, bearer(localCI))
	expectStatus(t, l, http.StatusOK)
	if slices.Contains(listed(t, l), name) {
		t.Errorf("a webhook without prefetch_hf_model lists the prefetch")
	}
}

// TestLocalPrefetchAbort: abort_prefetch_hf_model stops a download in progress.
func TestLocalPrefetchAbort(t *testing.T) {
	t.Parallel()
	hub := hubtest.New(t, hubtest.Fixture("acme")...)
	hub.StallAfter("acme/tiny", "model.safetensors", 1<<20)
	b, models := openPrefetchLocal(t, hub, nil)
	s := newServerWith(t, impl.Config{}, b, nil)
	r := s.call(t, "POST", "/prefetch/hf-model?repo=acme/tiny", nil, bearer(localCI))
	expectStatus(t, r, http.StatusOK)
	name := r.str("name")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if s.call(t, "GET", "/prefetch/hf-model/"+name, nil, bearer(localCI)).JSON["phase"] == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the prefetch did not start")
		}
	}
	a := s.call(t, "POST", "/prefetch/hf-model/"+name+"/abort?reason=wrong+model", nil, bearer(localCI))
	expectStatus(t, a, http.StatusOK)
	if a.JSON["status"] != "abort_requested" || a.JSON["reason"] != "wrong model" {
		t.Errorf("abort: %s", a.Body)
	}
	if done := waitDoneHTTP(t, s, name); done.JSON["phase"] != "aborted" {
		t.Fatalf("after abort: %s", done.Body)
	}
	if _, err := os.Stat(filepath.Join(models, "acme", "tiny", "model.safetensors")); !os.IsNotExist(err) {
		t.Errorf("a partial file under its name: %v", err)
	}
}

// TestLocalPrefetchRefusals: the security probe's prefetch cases over HTTP: repo traversal,
// a path out of the models folder, a newline (400 problems naming the parameter); picking
// another secret for a private repo (403 naming the rule); a private repo without a token
// fails the run, saying the Hub answered 401.
func TestLocalPrefetchRefusals(t *testing.T) {
	t.Setenv("FWH_IMPL_TEST_SECRET", "not-for-the-hub")
	t.Setenv("HF_TOKEN", "")
	hub := hubtest.New(t, hubtest.Fixture("acme")...)
	b, _ := openPrefetchLocal(t, hub, nil)
	s := newServerWith(t, impl.Config{}, b, nil)
	for _, c := range []struct{ name, query, param string }{
		{"repo traversal", "repo=../../etc/passwd", "repo"},
		{"repo traversal in the name", "repo=acme/..", "repo"},
		{"repo newline", "repo=" + url.QueryEscape("acme/tiny\nx"), "repo"},
		{"path traversal", "repo=acme/tiny&raw_data_path=../../../etc", "raw_data_path"},
		{"path absolute outside", "repo=acme/tiny&raw_data_path=/etc/cron.d", "raw_data_path"},
		{"path newline", "repo=acme/tiny&raw_data_path=" + url.QueryEscape("m\nx"), "raw_data_path"},
		{"secret name newline", "repo=acme/tiny&hf_token_key=" + url.QueryEscape("HF_TOKEN\nPATH"), "hf_token_key"},
		{"disk", "repo=acme/tiny&disk=50GB", "disk"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := s.call(t, "POST", "/prefetch/hf-model?"+c.query, nil, bearer(localCI))
			expectStatus(t, r, http.StatusBadRequest)
			if d, _ := r.JSON["detail"].(string); !strings.Contains(d, c.param) {
				t.Errorf("detail %q does not name %s", d, c.param)
			}
		})
	}
	r := s.call(t, "POST", "/prefetch/hf-model?repo=acme/private-tiny&hf_token_key=FWH_IMPL_TEST_SECRET", nil, bearer(localCI))
	expectStatus(t, r, http.StatusForbidden)
	if d, _ := r.JSON["detail"].(string); !strings.Contains(d, "backend.local.prefetch.allowed_token_keys: HF_TOKEN") {
		t.Errorf("403 detail %q does not name the rule", d)
	}
	for _, q := range hub.Requests() {
		if q.Authorization != "" {
			t.Errorf("a token reached the Hub: %+v", q)
		}
	}
	r = s.call(t, "POST", "/prefetch/hf-model?repo=acme/private-tiny", nil, bearer(localCI))
	expectStatus(t, r, http.StatusOK)
	if done := waitDoneHTTP(t, s, r.str("name")); done.JSON["phase"] != "failed" {
		t.Fatalf("a private repo without a token: %s", done.Body)
	}
}

// TestLocalPrefetchFaults: the Hub's faults over HTTP: LFS files come from the file store (a
// second host) and a cut download resumes there with Range; a corrupted file fails the run; a
// model over the disk cap or the free space is refused, naming the limit in the run's error.
func TestLocalPrefetchFaults(t *testing.T) {
	t.Parallel()
	hub := hubtest.New(t, hubtest.Fixture("acme")...)
	b, models := openPrefetchLocal(t, hub, nil) // a cut after progress is retried at once
	s := newServerWith(t, impl.Config{}, b, nil)
	prefetch := func(query string) response {
		t.Helper()
		r := s.call(t, "POST", "/prefetch/hf-model?"+query, []string{"text"}, bearer(localCI))
		expectStatus(t, r, http.StatusOK)
		return waitDoneHTTP(t, s, r.str("name"))
	}

	hub.CutAfter("acme/tiny", "model.safetensors", 1<<20, 1)
	if r := prefetch("repo=acme/tiny&raw_data_path=resumed"); r.JSON["phase"] != "succeeded" {
		t.Fatalf("a cut download: %s", r.Body)
	}
	var ranges []string
	for _, q := range hub.Requests() {
		if q.Host == "store" {
			ranges = append(ranges, q.Range)
		}
	}
	slices.Sort(ranges)
	if got := strings.Join(ranges, ","); got != ",,bytes=1048576-" {
		t.Errorf("requests to the file store: %q, want the two LFS files and the resumed one", got)
	}
	for _, f := range hubtest.Fixture("acme")[0].Files {
		if got, err := os.ReadFile(filepath.Join(models, "resumed", filepath.FromSlash(f.Name))); err != nil || !bytes.Equal(got, f.Content) {
			t.Errorf("%s after the resumed download: %d bytes (%v), want the Hub's %d", f.Name, len(got), err, len(f.Content))
		}
	}

	hub.Corrupt("acme/tiny", "model.safetensors", 1)
	r := prefetch("repo=acme/tiny&raw_data_path=corrupt")
	if e, _ := r.JSON["error"].(string); r.JSON["phase"] != "failed" || !strings.Contains(e, "model.safetensors") {
		t.Errorf("a corrupted file: %s", r.Body)
	}
	if _, err := os.Stat(filepath.Join(models, "corrupt", "model.safetensors")); !os.IsNotExist(err) {
		t.Errorf("the corrupted file is under its name: %v", err)
	}

	r = prefetch("repo=acme/tiny&raw_data_path=small&disk=1Mi")
	if e, _ := r.JSON["error"].(string); r.JSON["phase"] != "failed" || !strings.Contains(e, "over the disk cap (disk=1Mi)") {
		t.Errorf("over the disk cap: %s", r.Body)
	}
}
