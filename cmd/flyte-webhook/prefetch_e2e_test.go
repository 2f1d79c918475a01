package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/internal/hfhub/hubtest"
)

// TestPrefetchE2E is prefetch_hf_model end to end with the real binary against a Hub-shaped
// server (package hubtest: the Hub's API, LFS files redirected to a file store on another
// host, a private repo): the endpoint comes from HF_ENDPOINT, the token from the secret the
// request names (in prefetch.allowed_token_keys), and the run ends with the model's files in
// the models folder, each as the Hub has it. Not parallel: it sets the server's environment.
func TestPrefetchE2E(t *testing.T) {
	hub := hubtest.New(t, hubtest.Fixture("acme")...)
	t.Setenv("HF_ENDPOINT", hub.URL())
	t.Setenv("FWH_E2E_HF_TOKEN", hub.Token)
	t.Setenv("HF_TOKEN", "") // the default secret, which this server does not have
	dataDir := t.TempDir()
	port := freePort(t)
	sum := sha256.Sum256([]byte(e2eToken))
	p := startConfigured(t, port, fmt.Sprintf(`port: %d
backend:
  local:
    data_dir: %s
    auth:
      tokens: [{sha256: %s, subject: e2e, name: E2E}]
    prefetch:
      allowed_token_keys: [HF_TOKEN, FWH_E2E_HF_TOKEN]
      timeout: 5m
      max_bytes: 1Gi
`, port, dataDir, hex.EncodeToString(sum[:])))
	p.token = e2eToken

	models := filepath.Join(dataDir, "models")
	for _, c := range []struct{ repo, query string }{
		{"acme/tiny", "repo=acme/tiny&serial_format=safetensors"},
		{"acme/private-tiny", "repo=acme/private-tiny&hf_token_key=FWH_E2E_HF_TOKEN&raw_data_path=private/tiny"},
	} {
		status, res := p.do(t, "POST", "/prefetch/hf-model?"+c.query, `["text"]`)
		name, _ := res["name"].(string)
		if status != 200 || name == "" || res["done"] != false {
			t.Fatalf("prefetch_hf_model %s: %d %v", c.repo, status, res)
		}
		if r := p.waitDone(t, name); r["phase"] != "succeeded" {
			t.Fatalf("prefetch of %s: %v\n%s\n%s", c.repo, r, readLogs(t, dataDir, name), p.stderr.String())
		}
		status, io := p.do(t, "GET", "/prefetch/hf-model/"+name+"/io", "")
		out, _ := io["outputs"].(map[string]any)
		dir, _ := out["path"].(string)
		if status != 200 || out["revision"] != hub.Commit(c.repo) || out["files"] != 4.0 || !strings.HasPrefix(dir, models+string(filepath.Separator)) {
			t.Fatalf("get_prefetch_hf_model_io %s: %d %v", c.repo, status, io)
		}
		for _, f := range hubtest.Fixture("acme")[0].Files {
			got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Name)))
			if err != nil || !bytes.Equal(got, f.Content) {
				t.Errorf("%s/%s: %d bytes (%v), want the Hub's %d", c.repo, f.Name, len(got), err, len(f.Content))
			}
		}
		if log := readLogs(t, dataDir, name); !strings.Contains(log, "prefetching "+c.repo+" from "+hub.URL()) {
			t.Errorf("the run's log:\n%s", log)
		}
	}
	if strings.Contains(p.stderr.String(), hub.Token) || strings.Contains(p.stdout.String(), hub.Token) {
		t.Errorf("the token reached the server's log")
	}
	stored := 0
	for _, r := range hub.Requests() {
		if r.Host == "store" {
			stored++
			if r.Authorization != "" {
				t.Errorf("the token went to the file store: %+v", r)
			}
		}
	}
	if stored != 4 {
		t.Errorf("%d requests reached the file store, want the 2 LFS files of each repo", stored)
	}
	// A private repo with the default secret, which the server does not have: the run fails
	// saying the Hub wants a token and the secret is not set.
	_, res := p.do(t, "POST", "/prefetch/hf-model?repo=acme/private-tiny&raw_data_path=nothing", "")
	name, _ := res["name"].(string)
	if r := p.waitDone(t, name); r["phase"] != "failed" {
		t.Fatalf("a private repo without the token: %v", r)
	}
}
