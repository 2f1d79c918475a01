package hfhub_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/internal/hfhub"
	"github.com/flyte-webhook/flyte-webhook/internal/hfhub/hubtest"
)

const weights = "model.safetensors"

// ranges lists the Range headers of the requests for name that reached the store.
func ranges(hub *hubtest.Server, from int) []string {
	var out []string
	for _, r := range hub.Requests()[from:] {
		if r.Host == "store" {
			out = append(out, r.Range)
		}
	}
	return out
}

func TestResumeAfterCut(t *testing.T) {
	t.Parallel()
	hub, c := fixture(t)
	dir, root := openDir(t)
	// Each of the first two answers is cut after 1 MiB: the download goes on from where it
	// stopped, twice.
	hub.CutAfter("acme/tiny", weights, 1<<20, 2)
	res, err := c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/tiny", Dir: root})
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, repoFiles("acme/tiny"))
	got := strings.Join(ranges(hub, 0), ",")
	if want := ",bytes=1048576-,bytes=2097152-,"; got != want { // the two LFS files in name order: model.safetensors, small.bin
		t.Errorf("ranges asked of the store: %q, want %q", got, want)
	}
	if res.Downloaded != res.Bytes {
		t.Errorf("downloaded %d of %d: resumed bytes counted once", res.Downloaded, res.Bytes)
	}
}

func TestResumeAcrossSnapshots(t *testing.T) {
	t.Parallel()
	hub, c := fixture(t)
	c.Retries = 1
	dir, root := openDir(t)
	// A cut after progress is tried again at once; two cuts without progress in between give
	// up (Retries 1).
	hub.CutAfter("acme/tiny", weights, 1<<20, 1)
	hub.CutAfter("acme/tiny", weights, 0, 2)
	_, err := c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/tiny", Dir: root})
	if err == nil || !strings.Contains(err.Error(), "giving up after 2 tries") {
		t.Fatalf("want the download to give up: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, weights)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a partial file under its name: %v", err)
	}
	// The next snapshot goes on from the MiB the first one had.
	start := len(hub.Requests())
	if _, err := c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/tiny", Dir: root}); err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, repoFiles("acme/tiny"))
	if got := ranges(hub, start); len(got) == 0 || got[0] != "bytes=1048576-" {
		t.Errorf("the second snapshot asked %q, want it to resume at 1 MiB", got)
	}
}

func TestResumeIgnoredRange(t *testing.T) {
	t.Parallel()
	hub, c := fixture(t)
	dir, root := openDir(t)
	hub.CutAfter("acme/tiny", weights, 1<<20, 1)
	hub.IgnoreRange("acme/tiny", weights)
	if _, err := c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/tiny", Dir: root}); err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, repoFiles("acme/tiny"))
}

func TestStalledDownload(t *testing.T) {
	t.Parallel()
	hub, c := fixture(t)
	c.StallTimeout = 50 * time.Millisecond
	dir, root := openDir(t)
	hub.StallAfter("acme/tiny", weights, 1<<20)
	if _, err := c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/tiny", Dir: root}); err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, repoFiles("acme/tiny"))
	if got := ranges(hub, 0); len(got) < 2 || got[1] != "bytes=1048576-" {
		t.Errorf("ranges %q: want the stalled download resumed at 1 MiB", got)
	}
}

func TestChecksumMismatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ file, kind string }{{weights, "sha256"}, {"config.json", "git blob id"}} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			hub, c := fixture(t)
			dir, root := openDir(t)
			hub.Corrupt("acme/tiny", tc.file, 1)
			_, err := c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/tiny", Dir: root})
			var cerr *hfhub.ChecksumError
			if !errors.As(err, &cerr) || cerr.Kind != tc.kind || cerr.File != tc.file {
				t.Fatalf("want a %s mismatch of %s: %v", tc.kind, tc.file, err)
			}
			if _, err := os.Stat(filepath.Join(dir, tc.file)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the bad file took its name: %v", err)
			}
			if entries, _ := os.ReadDir(filepath.Join(dir, ".hfhub", "incomplete")); len(entries) != 0 {
				t.Errorf("the bad download was kept: %v", entries)
			}
		})
	}
}

func TestSizeMismatch(t *testing.T) {
	t.Parallel()
	content := []byte("twelve bytes")
	hub := hubtest.New(t, hubtest.Repo{ID: "acme/liar", Files: []hubtest.File{{Name: "f.bin", Content: content}},
		Siblings: []map[string]any{{"rfilename": "f.bin", "size": 5, "blobId": hubtest.BlobID(content[:5])}}})
	c := &hfhub.Client{Endpoint: hub.URL(), RetryWait: time.Millisecond}
	_, root := openDir(t)
	_, err := c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/liar", Dir: root})
	var cerr *hfhub.ChecksumError
	if !errors.As(err, &cerr) || cerr.Kind != "size" {
		t.Fatalf("want a size mismatch: %v", err)
	}
}

func TestRefusedFileNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"../escape", "/etc/passwd", "a/../../escape", ".hfhub/manifest.jsonl", "a\\..\\b", "", "a//b", "./a", "a/\x01"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			hub := hubtest.New(t, hubtest.Repo{ID: "acme/evil", Files: []hubtest.File{{Name: "x", Content: []byte("x")}},
				Siblings: []map[string]any{{"rfilename": name, "size": 1, "blobId": hubtest.BlobID([]byte("x"))}}})
			c := &hfhub.Client{Endpoint: hub.URL()}
			base := t.TempDir()
			dir := filepath.Join(base, "a", "b")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			root, err := os.OpenRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			_, err = c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/evil", Dir: root})
			if err == nil || !strings.Contains(err.Error(), "refuses") {
				t.Fatalf("want the name refused: %v", err)
			}
			if resolves(hub) != 0 {
				t.Error("a file was requested")
			}
			if entries, _ := os.ReadDir(filepath.Join(base, "a")); len(entries) != 1 {
				t.Errorf("something was written beside the folder: %v", entries)
			}
		})
	}
	// A name that is also a folder.
	hub := hubtest.New(t, hubtest.Repo{ID: "acme/clash", Siblings: []map[string]any{
		{"rfilename": "a", "size": 0, "blobId": hubtest.BlobID(nil)}, {"rfilename": "a/b", "size": 0, "blobId": hubtest.BlobID(nil)}}})
	_, root := openDir(t)
	if _, err := (&hfhub.Client{Endpoint: hub.URL()}).Snapshot(context.Background(), hfhub.Options{Repo: "acme/clash", Dir: root}); err == nil ||
		!strings.Contains(err.Error(), "both as a file and as the folder") {
		t.Fatalf("clash: %v", err)
	}
}

func TestSymlinkOutOfDir(t *testing.T) {
	t.Parallel()
	_, c := fixture(t)
	dir, root := openDir(t)
	outside := t.TempDir()
	// Someone left a link where the repo has a folder: nothing is written through it.
	if err := os.Symlink(outside, filepath.Join(dir, "tokenizer")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/tiny", Dir: root}); err == nil {
		t.Fatal("the snapshot wrote through a link out of its folder")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("written outside: %v", entries)
	}
}

func TestDiskRoom(t *testing.T) {
	t.Parallel()
	hub, c := fixture(t)
	var size int64
	for _, f := range repoFiles("acme/tiny") {
		size += int64(len(f.Content))
	}
	free := func(n int64) func(string) (int64, error) {
		return func(string) (int64, error) { return n, nil }
	}
	_, root := openDir(t)
	_, err := c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/tiny", Dir: root, FreeSpace: free(size - 1)})
	var room *hfhub.NoRoomError
	if !errors.As(err, &room) || room.Need != size || !strings.Contains(err.Error(), "not enough free disk space") {
		t.Fatalf("no room: %v", err)
	}
	_, err = c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/tiny", Dir: root, FreeSpace: free(size + 10), KeepFree: 11})
	if !errors.As(err, &room) || !strings.Contains(err.Error(), "kept free") {
		t.Fatalf("keep free: %v", err)
	}
	_, err = c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/tiny", Dir: root, MaxBytes: size - 1, MaxBytesName: "the disk cap (disk)"})
	var big *hfhub.TooLargeError
	if !errors.As(err, &big) || big.Bytes != size || !strings.Contains(err.Error(), "over the disk cap (disk)") {
		t.Fatalf("over the cap: %v", err)
	}
	if resolves(hub) != 0 {
		t.Fatal("refused downloads requested files")
	}
	// Exactly enough room, far less than a 50Gi default: fine.
	dir, root := openDir(t)
	if _, err := c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/tiny", Dir: root, FreeSpace: free(size), MaxBytes: size}); err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, repoFiles("acme/tiny"))
	// What a partial download already holds is not needed again.
	hub.CutAfter("acme/tiny", weights, 1<<20, 1)
	c.Retries = 1
	hub.CutAfter("acme/tiny", weights, 0, 1)
	_, root = openDir(t)
	if _, err := c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/tiny", Dir: root}); err == nil {
		t.Fatal("want the cut download to give up")
	}
	if _, err := c.Snapshot(context.Background(), hfhub.Options{Repo: "acme/tiny", Dir: root, FreeSpace: free(size - 1<<20)}); err != nil {
		t.Fatalf("the resumed download's room: %v", err)
	}
}

func TestAbortLeavesNoFile(t *testing.T) {
	t.Parallel()
	abort, shutdown := errors.New("aborted by the caller"), errors.New("server shutting down")
	for _, cause := range []error{abort, shutdown} {
		t.Run(cause.Error(), func(t *testing.T) {
			t.Parallel()
			hub, c := fixture(t)
			dir, root := openDir(t)
			hub.StallAfter("acme/tiny", weights, 1<<20)
			ctx, cancel := context.WithCancelCause(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := c.Snapshot(ctx, hfhub.Options{Repo: "acme/tiny", Dir: root, DropPartial: func(cause error) bool { return errors.Is(cause, abort) }})
				done <- err
			}()
			// Wait until the download is under way (its first MiB is on disk), then stop it.
			deadline := time.Now().Add(30 * time.Second)
			for {
				entries, _ := os.ReadDir(filepath.Join(dir, ".hfhub", "incomplete"))
				if len(entries) == 1 {
					if fi, err := entries[0].Info(); err == nil && fi.Size() >= 1<<20 {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatal("the download did not start")
				}
				time.Sleep(5 * time.Millisecond)
			}
			cancel(cause)
			if err := <-done; !errors.Is(err, cause) {
				t.Fatalf("want the cause: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, weights)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a partial file under its name: %v", err)
			}
			entries, _ := os.ReadDir(filepath.Join(dir, ".hfhub", "incomplete"))
			if kept := len(entries) == 1; kept != (cause == shutdown) {
				t.Fatalf("partial downloads after %v: %v", cause, entries)
			}
		})
	}
}
