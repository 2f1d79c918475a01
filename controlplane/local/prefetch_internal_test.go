package local

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/internal/hfhub"
	"github.com/flyte-webhook/flyte-webhook/internal/hfhub/hubtest"
)

// prefetchConfig is a configuration against hub, models in a fresh folder.
func prefetchConfig(t *testing.T, hub *hubtest.Server) PrefetchConfig {
	t.Helper()
	c := PrefetchConfig{Endpoint: "http://127.0.0.1:1", Dir: filepath.Join(t.TempDir(), "models"),
		client: &hfhub.Client{RetryWait: time.Millisecond}}
	if hub != nil {
		c.Endpoint = hub.URL()
	}
	return c.withDefaults(t.TempDir())
}

func TestPlanPrefetch(t *testing.T) {
	t.Parallel()
	c := prefetchConfig(t, nil)
	req := controlplane.ModelPrefetch{Repo: "acme/tiny.v2", HFTokenKey: "HF_TOKEN", CPU: "2", Memory: "8Gi", Disk: "50Gi"}
	p, err := planPrefetch(c, req)
	if err != nil {
		t.Fatal(err)
	}
	if p.RelDir != "acme/tiny.v2" || p.ArtifactName != "tiny-v2" || !p.TokenAllowed || p.Parallel != 2 || p.MaxBytes != 50<<30 ||
		!strings.Contains(p.MaxBytesName, "disk=50Gi") || p.Force || p.Modalities == nil {
		t.Errorf("defaults: %+v", p)
	}
	for _, tc := range []struct {
		name   string
		adjust func(*controlplane.ModelPrefetch)
		check  func(prefetchPlan) bool
	}{
		{"raw_data_path", func(r *controlplane.ModelPrefetch) { r.RawDataPath = "team/llm" }, func(p prefetchPlan) bool { return p.RelDir == "team/llm" }},
		{"absolute raw_data_path inside", func(r *controlplane.ModelPrefetch) { r.RawDataPath = filepath.Join(c.Dir, "x") }, func(p prefetchPlan) bool { return p.RelDir == "x" }},
		{"artifact_name", func(r *controlplane.ModelPrefetch) { r.ArtifactName = "my_model-1" }, func(p prefetchPlan) bool { return p.ArtifactName == "my_model-1" }},
		{"cpu below one", func(r *controlplane.ModelPrefetch) { r.CPU = "500m" }, func(p prefetchPlan) bool { return p.Parallel == 1 }},
		{"many cpus", func(r *controlplane.ModelPrefetch) { r.CPU = "64" }, func(p prefetchPlan) bool { return p.Parallel == maxParallel }},
		{"little memory", func(r *controlplane.ModelPrefetch) { r.CPU, r.Memory = "8", "100Mi" }, func(p prefetchPlan) bool { return p.Parallel == 1 }},
		{"disk", func(r *controlplane.ModelPrefetch) { r.Disk = "1.5Gi" }, func(p prefetchPlan) bool { return p.MaxBytes == 3<<29 }},
		{"force", func(r *controlplane.ModelPrefetch) { r.Force = 1 }, func(p prefetchPlan) bool { return p.Force }},
		{"a key outside the list", func(r *controlplane.ModelPrefetch) { r.HFTokenKey = "AWS_SECRET_ACCESS_KEY" }, func(p prefetchPlan) bool { return !p.TokenAllowed }},
		{"empty fields take the seed's defaults", func(r *controlplane.ModelPrefetch) { r.CPU, r.Memory, r.Disk, r.HFTokenKey = "", "", "", "" },
			func(p prefetchPlan) bool { return p.Parallel == 2 && p.MaxBytes == 50<<30 && p.TokenKey == "HF_TOKEN" }},
	} {
		r := req
		tc.adjust(&r)
		if p, err := planPrefetch(c, r); err != nil || !tc.check(p) {
			t.Errorf("%s: %+v, %v", tc.name, p, err)
		}
	}
	capped := c
	capped.MaxBytes = "10Gi"
	if p, err := planPrefetch(capped, req); err != nil || p.MaxBytes != 10<<30 || !strings.Contains(p.MaxBytesName, "max_bytes=10Gi") {
		t.Errorf("server cap: %+v, %v", p, err)
	}
	for _, tc := range []struct {
		name   string
		adjust func(*controlplane.ModelPrefetch)
		want   string
	}{
		{"repo without owner", func(r *controlplane.ModelPrefetch) { r.Repo = "gpt2" }, "repo: "},
		{"repo traversal", func(r *controlplane.ModelPrefetch) { r.Repo = "../../etc" }, "repo: "},
		{"repo traversal in the name", func(r *controlplane.ModelPrefetch) { r.Repo = "acme/.." }, "repo: "},
		{"raw_data_path up", func(r *controlplane.ModelPrefetch) { r.RawDataPath = "../../etc" }, "'..' is not allowed"},
		{"raw_data_path absolute outside", func(r *controlplane.ModelPrefetch) { r.RawDataPath = "/etc" }, "outside the models directory"},
		{"raw_data_path the folder itself", func(r *controlplane.ModelPrefetch) { r.RawDataPath = "." }, "the models directory itself"},
		{"artifact_name", func(r *controlplane.ModelPrefetch) { r.ArtifactName = "a/b" }, "artifact_name: "},
		{"hf_token_key", func(r *controlplane.ModelPrefetch) { r.HFTokenKey = "A-B" }, "hf_token_key: "},
		{"cpu", func(r *controlplane.ModelPrefetch) { r.CPU = "two" }, "cpu: "},
		{"memory", func(r *controlplane.ModelPrefetch) { r.Memory = "-8Gi" }, "memory: "},
		{"disk", func(r *controlplane.ModelPrefetch) { r.Disk = "50GB" }, "disk: "},
	} {
		r := req
		tc.adjust(&r)
		_, err := planPrefetch(c, r)
		if controlplane.CodeOf(err) != controlplane.CodeInvalidInput || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want invalid input saying %q", tc.name, err, tc.want)
		}
	}
	// A link out of the models folder, on the way to raw_data_path.
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(t.TempDir(), filepath.Join(c.Dir, "out")); err != nil {
		t.Fatal(err)
	}
	r := req
	r.RawDataPath = "out/model"
	if _, err := planPrefetch(c, r); controlplane.CodeOf(err) != controlplane.CodeInvalidInput || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("link out: %v", err)
	}
}

func TestCheckToken(t *testing.T) {
	t.Parallel()
	hub := hubtest.New(t, hubtest.Fixture("acme")...)
	c := prefetchConfig(t, hub)
	plan := func(repo, key string) prefetchPlan {
		p, err := planPrefetch(c, controlplane.ModelPrefetch{Repo: repo, HFTokenKey: key})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// An allowed key: nothing to check, nothing asked of the Hub.
	if err := checkToken(context.Background(), c, plan("acme/private-tiny", "HF_TOKEN")); err != nil || len(hub.Requests()) != 0 {
		t.Fatalf("allowed: %v, %d requests", err, len(hub.Requests()))
	}
	// Another key, and no token needed: fine.
	if err := checkToken(context.Background(), c, plan("acme/tiny", "AWS_SECRET_ACCESS_KEY")); err != nil {
		t.Fatalf("public: %v", err)
	}
	// Another key, and a token needed: refused, naming the rule.
	err := checkToken(context.Background(), c, plan("acme/private-tiny", "AWS_SECRET_ACCESS_KEY"))
	if controlplane.CodeOf(err) != controlplane.CodePermissionDenied ||
		!strings.Contains(err.Error(), `hf_token_key "AWS_SECRET_ACCESS_KEY" is not one of the secrets prefetches may use (backend.local.prefetch.allowed_token_keys: HF_TOKEN)`) {
		t.Fatalf("private: %v", err)
	}
	for _, r := range hub.Requests() {
		if r.Authorization != "" {
			t.Errorf("the check sent a token: %+v", r)
		}
	}
	none := c
	none.AllowedTokenKeys = []string{}
	if err := checkToken(context.Background(), none, plan("acme/private-tiny", "HF_TOKEN")); err != nil {
		t.Fatalf("the plan was made with the default list: %v", err)
	}
	p, _ := planPrefetch(none, controlplane.ModelPrefetch{Repo: "acme/private-tiny"})
	if err := checkToken(context.Background(), none, p); controlplane.CodeOf(err) != controlplane.CodePermissionDenied || !strings.Contains(err.Error(), "allowed_token_keys: none") {
		t.Fatalf("none allowed: %v", err)
	}
	// The Hub out of reach: the request goes on (the run never reads the secret).
	down := prefetchConfig(t, nil)
	pd, _ := planPrefetch(down, controlplane.ModelPrefetch{Repo: "acme/private-tiny", HFTokenKey: "OTHER"})
	if err := checkToken(context.Background(), down, pd); err != nil {
		t.Fatalf("hub down: %v", err)
	}
}

func TestRunPrefetch(t *testing.T) {
	hub := hubtest.New(t, hubtest.Fixture("acme")...)
	c := prefetchConfig(t, hub)
	run := func(req controlplane.ModelPrefetch) (map[string]any, string, error) {
		p, err := planPrefetch(c, req)
		if err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		out, err := runPrefetch(context.Background(), c, p, &log)
		return out, log.String(), err
	}
	out, log, err := run(controlplane.ModelPrefetch{Repo: "acme/tiny", Task: "auto", Modalities: []string{"text"}, SerialFormat: "safetensors"})
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	var size int64
	for _, f := range hubtest.Fixture("acme")[0].Files {
		size += int64(len(f.Content))
	}
	want := map[string]any{"path": filepath.Join(c.Dir, "acme", "tiny"), "files": 4, "bytes": size, "revision": hub.Commit("acme/tiny"),
		"artifact_name": "tiny", "architecture": "TinyForCausalLM", "task": "auto", "serial_format": "safetensors", "model_type": "tiny",
		"short_description": ""}
	for k, v := range want {
		if out[k] != v {
			t.Errorf("output %s = %#v, want %#v", k, out[k], v)
		}
	}
	if m, _ := out["modality"].([]string); len(m) != 1 || m[0] != "text" {
		t.Errorf("modality %#v", out["modality"])
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "acme", "tiny", "model.safetensors")); err != nil {
		t.Error(err)
	}
	// The request's metadata wins over config.json's.
	out, _, err = run(controlplane.ModelPrefetch{Repo: "acme/tiny", Architecture: "Mine", RawDataPath: "other"})
	if err != nil || out["architecture"] != "Mine" || out["model_type"] != "tiny" || out["path"] != filepath.Join(c.Dir, "other") {
		t.Errorf("metadata: %v, %v", out, err)
	}

	// A private repo: the token from the allowed secret, when it is set.
	t.Setenv("HF_TOKEN", "")
	_, _, err = run(controlplane.ModelPrefetch{Repo: "acme/private-tiny", HFTokenKey: "HF_TOKEN"})
	if err == nil || !strings.Contains(err.Error(), "secret HF_TOKEN is not set in the server's environment") {
		t.Fatalf("unset secret: %v", err)
	}
	t.Setenv("HF_TOKEN", hub.Token)
	if _, _, err := run(controlplane.ModelPrefetch{Repo: "acme/private-tiny", HFTokenKey: "HF_TOKEN"}); err != nil {
		t.Fatalf("private: %v", err)
	}
	// A gated repo (public file list) and a key outside the list: the secret is never read.
	t.Setenv("OTHER_SECRET", hub.Token)
	_, _, err = run(controlplane.ModelPrefetch{Repo: "acme/gated-tiny", HFTokenKey: "OTHER_SECRET"})
	if err == nil || !strings.Contains(err.Error(), `hf_token_key "OTHER_SECRET" is not one of the secrets prefetches may use`) {
		t.Fatalf("gated, key not allowed: %v", err)
	}
	for _, r := range hub.Requests() {
		if r.Authorization != "" && r.Authorization != "Bearer "+hub.Token {
			t.Errorf("odd token sent: %+v", r)
		}
	}
	// The disk cap.
	_, _, err = run(controlplane.ModelPrefetch{Repo: "acme/tiny", Disk: "1Mi", RawDataPath: "small"})
	var big *hfhub.TooLargeError
	if !errors.As(err, &big) || !strings.Contains(err.Error(), "over the disk cap (disk=1Mi)") {
		t.Fatalf("disk cap: %v", err)
	}
	// A link placed on the way after the request was checked: nothing is written through it.
	outside := t.TempDir()
	p, err := planPrefetch(c, controlplane.ModelPrefetch{Repo: "acme/tiny", RawDataPath: "late/model"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(c.Dir, "late")); err != nil {
		t.Fatal(err)
	}
	if _, err := runPrefetch(context.Background(), c, p, &bytes.Buffer{}); err == nil {
		t.Fatal("the run wrote through a link")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("written outside: %v", entries)
	}
}

func TestPrefetchConfigValidate(t *testing.T) {
	t.Setenv("HF_ENDPOINT", "http://mirror.example.com/")
	if err := (Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "prefetch.endpoint (from HF_ENDPOINT): endpoint \"http://mirror.example.com\"") {
		t.Errorf("HF_ENDPOINT: %v", err)
	}
	t.Setenv("HF_ENDPOINT", "https://hf-mirror.com/")
	c := Config{}.withDefaults()
	if err := c.validate(); err != nil || c.Prefetch.Endpoint != "https://hf-mirror.com" || c.Prefetch.Dir != filepath.Join(DefaultDataDir, "models") ||
		len(c.Prefetch.AllowedTokenKeys) != 1 || c.Prefetch.AllowedTokenKeys[0] != "HF_TOKEN" || c.Prefetch.KeepFree != "1Gi" {
		t.Errorf("defaults: %+v, %v", c.Prefetch, err)
	}
	for _, tc := range []struct {
		p    PrefetchConfig
		want string
	}{
		{PrefetchConfig{Endpoint: "ftp://x"}, "prefetch.endpoint: "},
		{PrefetchConfig{AllowedTokenKeys: []string{"1X"}}, "prefetch.allowed_token_keys[0]"},
		{PrefetchConfig{Timeout: -1}, "prefetch.timeout"},
		{PrefetchConfig{ProbeTimeout: -1}, "prefetch.probe_timeout"},
		{PrefetchConfig{MaxBytes: "x"}, "prefetch.max_bytes"},
		{PrefetchConfig{KeepFree: "-1"}, "prefetch.keep_free"},
	} {
		if err := (Config{Prefetch: tc.p}).Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.p, err, tc.want)
		}
	}
}
