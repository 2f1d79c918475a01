package hfhub_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/internal/hfhub"
	"github.com/flyte-webhook/flyte-webhook/internal/hfhub/hubtest"
)

// fixture starts a Hub with hubtest.Fixture("acme") and returns it with a client for it
// whose retries do not wait.
func fixture(t *testing.T) (*hubtest.Server, *hfhub.Client) {
	t.Helper()
	hub := hubtest.New(t, hubtest.Fixture("acme")...)
	return hub, &hfhub.Client{Endpoint: hub.URL(), RetryWait: time.Millisecond}
}

// openDir makes a fresh destination folder.
func openDir(t *testing.T) (string, *os.Root) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return dir, root
}

// checkFiles compares dir's files with the repo's.
func checkFiles(t *testing.T, dir string, files []hubtest.File) {
	t.Helper()
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Name)))
		if err != nil || !bytes.Equal(got, f.Content) {
			t.Errorf("file %s: %d bytes, %v; want the repo's %d bytes", f.Name, len(got), err, len(f.Content))
		}
	}
}

func repoFiles(id string) []hubtest.File {
	for _, r := range hubtest.Fixture("acme") {
		if r.ID == id {
			return r.Files
		}
	}
	panic(id)
}

// resolves counts the file requests that reached the Hub or the store.
func resolves(hub *hubtest.Server) int {
	n := 0
	for _, r := range hub.Requests() {
		if r.Host == "store" || strings.Contains(r.Path, "/resolve/") {
			n++
		}
	}
	return n
}

func TestSnapshot(t *testing.T) {
	t.Parallel()
	hub, c := fixture(t)
	dir, root := openDir(t)
	var log bytes.Buffer
	asked := false
	res, err := c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/tiny", Dir: root, Log: &log, Parallel: 2,
		Token: func(context.Context) (string, error) { asked = true; return hub.Token, nil }})
	if err != nil {
		t.Fatalf("Snapshot: %v\n%s", err, log.String())
	}
	files := repoFiles("acme/tiny")
	checkFiles(t, dir, files)
	var total int64
	for _, f := range files {
		total += int64(len(f.Content))
	}
	if res.Commit != hub.Commit("acme/tiny") || len(res.Files) != len(files) || res.Bytes != total || res.Downloaded != total || res.Reused != 0 {
		t.Errorf("result: %+v (commit %s, %d files, %d bytes)", res, hub.Commit("acme/tiny"), len(files), total)
	}
	if asked {
		t.Error("a public repo asked for the token")
	}
	var store, lfsRedirects int
	for _, r := range hub.Requests() {
		if r.Authorization != "" {
			t.Errorf("%s %s carried Authorization for a public repo", r.Host, r.Path)
		}
		if r.Host == "store" {
			store++
		}
		if strings.HasSuffix(r.Path, ".safetensors") || strings.HasSuffix(r.Path, "small.bin") {
			lfsRedirects++
		}
	}
	if store != 2 || lfsRedirects != 2 {
		t.Errorf("%d store requests, %d LFS resolves: want the 2 LFS files fetched from the store", store, lfsRedirects)
	}
	if !strings.Contains(log.String(), "commit "+res.Commit) || !strings.Contains(log.String(), "done: 4 files") {
		t.Errorf("log:\n%s", log.String())
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, ".hfhub", "incomplete")); len(entries) != 0 {
		t.Errorf("partial files left: %v", entries)
	}

	// Again: everything is there, nothing is downloaded.
	before := resolves(hub)
	res, err = c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/tiny", Dir: root})
	if err != nil || res.Reused != 4 || res.Downloaded != 0 || resolves(hub) != before {
		t.Fatalf("second snapshot: %+v, %v, %d file requests", res, err, resolves(hub)-before)
	}
	// A file changed on disk since (same size, other bytes) is downloaded again.
	if err := os.WriteFile(filepath.Join(dir, "config.json"), bytes.Repeat([]byte("x"), len(files[0].Content)), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/tiny", Dir: root})
	if err != nil || res.Reused != 3 || res.Downloaded != int64(len(files[0].Content)) {
		t.Fatalf("after a change: %+v, %v", res, err)
	}
	checkFiles(t, dir, files)
	// Force downloads everything again.
	before = resolves(hub)
	res, err = c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/tiny", Dir: root, Force: true})
	if err != nil || res.Reused != 0 || res.Downloaded != total || resolves(hub)-before != 6 {
		t.Fatalf("forced: %+v, %v, %d file requests", res, err, resolves(hub)-before)
	}
	checkFiles(t, dir, files)
}

func TestSnapshotPrivate(t *testing.T) {
	t.Parallel()
	hub, c := fixture(t)
	_, root := openDir(t)
	// Without a token: the Hub's 401, saying what it may mean.
	_, err := c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/private-tiny", Dir: root})
	var herr *hfhub.HubError
	if !errors.As(err, &herr) || herr.Status != 401 || herr.Code != "RepoNotFound" || herr.TokenSent || !herr.NeedsToken() ||
		!strings.Contains(err.Error(), "private or gated") {
		t.Fatalf("without a token: %v", err)
	}
	// A token that cannot be had: the Hub's answer and why.
	_, err = c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/private-tiny", Dir: root,
		Token: func(context.Context) (string, error) { return "", errors.New("HF_TOKEN is not allowed") }})
	var terr *hfhub.TokenError
	if !errors.As(err, &terr) || terr.Hub.Status != 401 || !strings.Contains(err.Error(), "HF_TOKEN is not allowed") {
		t.Fatalf("token refused: %v", err)
	}
	// A wrong token.
	_, err = c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/private-tiny", Dir: root,
		Token: func(context.Context) (string, error) { return "hf_wrong", nil }})
	if !errors.As(err, &herr) || herr.Status != 401 || !herr.TokenSent || !strings.Contains(err.Error(), "Invalid credentials") {
		t.Fatalf("wrong token: %v", err)
	}

	dir, root := openDir(t)
	var asked atomic.Int32
	start := len(hub.Requests())
	res, err := c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/private-tiny", Dir: root, Parallel: 3,
		Token: func(context.Context) (string, error) { asked.Add(1); return hub.Token, nil }})
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, repoFiles("acme/private-tiny"))
	if asked.Load() != 1 || res.Commit != hub.Commit("acme/private-tiny") {
		t.Errorf("token asked %d times; result %+v", asked.Load(), res)
	}
	reqs := hub.Requests()[start:]
	if reqs[0].Authorization != "" || reqs[1].Authorization != "Bearer "+hub.Token {
		t.Errorf("the first request goes without a token, the second with it: %+v", reqs[:2])
	}
	for _, r := range reqs[1:] {
		switch {
		case r.Host == "hub" && r.Authorization != "Bearer "+hub.Token:
			t.Errorf("hub request %s without the token", r.Path)
		case r.Host == "store" && r.Authorization != "":
			t.Errorf("the token went to the file store: %s", r.Path)
		}
	}
}

func TestSnapshotGated(t *testing.T) {
	t.Parallel()
	hub, c := fixture(t)
	// The file list is public; the files ask for the token.
	_, root := openDir(t)
	_, err := c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/gated-tiny", Dir: root})
	var herr *hfhub.HubError
	if !errors.As(err, &herr) || herr.Code != "GatedRepo" || !herr.NeedsToken() {
		t.Fatalf("without a token: %v", err)
	}
	dir, root := openDir(t)
	var asked atomic.Int32
	if _, err := c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/gated-tiny", Dir: root, Parallel: 4,
		Token: func(context.Context) (string, error) { asked.Add(1); return hub.Token, nil }}); err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, repoFiles("acme/gated-tiny"))
	if asked.Load() != 1 {
		t.Errorf("token asked %d times", asked.Load())
	}
	for _, r := range hub.Requests() {
		if r.Host == "store" && r.Authorization != "" {
			t.Errorf("the token went to the file store: %s", r.Path)
		}
	}
}

func TestModelInfo(t *testing.T) {
	t.Parallel()
	hub, c := fixture(t)
	info, err := c.ModelInfo(context.Background(), "acme/tiny", "", nil)
	if err != nil || info.Commit != hub.Commit("acme/tiny") || len(info.Files) != 4 {
		t.Fatalf("%+v %v", info, err)
	}
	for _, f := range info.Files {
		want := repoFiles("acme/tiny")
		for _, w := range want {
			if w.Name == f.Name && (f.Size != int64(len(w.Content)) || (w.LFS && f.SHA256 != hubtest.SHA256(w.Content)) || (!w.LFS && f.BlobID != hubtest.BlobID(w.Content))) {
				t.Errorf("file %+v", f)
			}
		}
	}
	// At the commit itself; an unknown revision is the Hub's 404.
	if _, err := c.ModelInfo(context.Background(), "acme/tiny", info.Commit, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.ModelInfo(context.Background(), "acme/tiny", "nope", nil)
	var herr *hfhub.HubError
	if !errors.As(err, &herr) || herr.Status != 404 || herr.Code != "RevisionNotFound" {
		t.Fatalf("unknown revision: %v", err)
	}
	// The JSON is bounded.
	small := &hfhub.Client{Endpoint: hub.URL(), MaxInfoBytes: 100}
	if _, err := small.ModelInfo(context.Background(), "acme/tiny", "", nil); err == nil || !strings.Contains(err.Error(), "larger than 100 bytes") {
		t.Fatalf("bounded: %v", err)
	}
	if _, err := c.ModelInfo(context.Background(), "../etc", "", nil); err == nil {
		t.Fatal("a bad repo id was sent")
	}
	if _, err := (&hfhub.Client{Endpoint: "http://huggingface.co"}).ModelInfo(context.Background(), "a/b", "", nil); err == nil {
		t.Fatal("an http endpoint off the loopback was used")
	}
}

func TestStoreRefusalAsksNoToken(t *testing.T) {
	t.Parallel()
	hub, c := fixture(t)
	_, root := openDir(t)
	hub.Deny("acme/tiny", "model.safetensors", 1)
	asked := false
	_, err := c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/tiny", Dir: root,
		Token: func(context.Context) (string, error) { asked = true; return hub.Token, nil }})
	var herr *hfhub.HubError
	if !errors.As(err, &herr) || herr.Status != 401 || !herr.Store || !strings.Contains(err.Error(), "file store answered 401") {
		t.Fatalf("want the store's 401: %v", err)
	}
	if asked {
		t.Error("the file store's 401 asked for the Hub's token")
	}
}
