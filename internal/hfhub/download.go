package hfhub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// partDir holds the downloads in progress, each under a name derived from the file's name
// and content (so a partial download is only ever resumed for the same content).
const partDir = stateDir + "/incomplete"

func partName(f File) string {
	sum := sha256.Sum256([]byte(f.Name + "\x00" + f.etag() + "\x00" + strconv.FormatInt(f.Size, 10)))
	return partDir + "/" + hex.EncodeToString(sum[:16]) + ".part"
}

// partSize is how much of f an earlier try left, 0 when none (or more than f's size: then it
// is started again).
func partSize(dir *os.Root, f File) int64 {
	fi, err := dir.Lstat(partName(f))
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > f.Size {
		return 0
	}
	return fi.Size()
}

// resolveURL is where the Hub serves f at commit.
func (s *session) resolveURL(repo, commit string, f File) (*url.URL, error) {
	segs := strings.Split(f.Name, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return url.Parse(s.c.Endpoint + "/" + repo + "/resolve/" + commit + "/" + strings.Join(segs, "/"))
}

// download fetches f into its partial file, resuming what is there, checks it, and renames it
// to f.Name. It returns the bytes received.
func (s *session) download(ctx context.Context, dir *os.Root, commit, repo string, f File, lg *logger) (int64, error) {
	u, err := s.resolveURL(repo, commit, f)
	if err != nil {
		return 0, err
	}
	part := partName(f)
	fh, err := dir.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return 0, fmt.Errorf("file %s: %w", f.Name, err)
	}
	defer fh.Close()
	w := &partWriter{f: fh}
	if f.SHA256 != "" {
		w.h = sha256.New()
	}
	fi, err := fh.Stat()
	if err != nil {
		return 0, fmt.Errorf("file %s: %w", f.Name, err)
	}
	if fi.Size() > f.Size {
		if err := w.reset(); err != nil {
			return 0, fmt.Errorf("file %s: %w", f.Name, err)
		}
	} else if fi.Size() > 0 {
		if err := w.resume(fi.Size()); err != nil {
			return 0, fmt.Errorf("file %s: %w", f.Name, err)
		}
		lg.printf("resuming %s at %s of %s", f.Name, FormatBytes(w.n), FormatBytes(f.Size))
	} else {
		lg.printf("downloading %s (%s)", f.Name, FormatBytes(f.Size))
	}
	var received int64
	for failures := 0; w.n < f.Size; {
		before := w.n
		err := s.pull(ctx, u, commit, f, w)
		received += w.n - before
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return received, context.Cause(ctx)
		}
		if !transient(err) {
			return received, err
		}
		if w.n > before {
			failures = 0
		}
		failures++
		if failures > s.c.Retries {
			return received, fmt.Errorf("file %s: giving up after %d tries: %w", f.Name, failures, err)
		}
		wait := min(s.c.RetryWait<<(failures-1), 30*time.Second)
		lg.printf("file %s: %v; trying again from %s in %s", f.Name, err, FormatBytes(w.n), wait)
		if err := sleep(ctx, wait); err != nil {
			return received, err
		}
	}
	if err := s.check(fh, w, f); err != nil {
		fh.Close()
		_ = dir.Remove(part)
		return received, err
	}
	if err := fh.Sync(); err != nil {
		return received, fmt.Errorf("file %s: %w", f.Name, err)
	}
	if parent := path.Dir(f.Name); parent != "." {
		if err := dir.MkdirAll(parent, 0o755); err != nil {
			return received, fmt.Errorf("file %s: %w", f.Name, err)
		}
	}
	if err := dir.Rename(part, f.Name); err != nil {
		return received, fmt.Errorf("file %s: %w", f.Name, err)
	}
	syncDir(dir, path.Dir(f.Name))
	lg.printf("done %s", f.Name)
	return received, nil
}

// pull sends one GET for the rest of f (from w.n) and appends what comes to w. It returns
// nil when the answer was read to its end (w.n may still be short of f.Size: the loop asks
// again), a transient error to retry, or another error.
func (s *session) pull(ctx context.Context, u *url.URL, commit string, f File, w *partWriter) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(s.c.HeaderTimeout, func() { cancel(errStalled) })
	defer stall.Stop()
	stalled := func(err error) error {
		if errors.Is(context.Cause(ctx), errStalled) && ctx.Err() != nil {
			return fmt.Errorf("file %s: %w", f.Name, errStalled)
		}
		return err
	}
	hdr := http.Header{"Accept-Encoding": {"identity"}}
	if w.n > 0 {
		hdr.Set("Range", fmt.Sprintf("bytes=%d-", w.n))
	}
	a, err := s.get(ctx, u, hdr, "file "+f.Name, true)
	if err != nil {
		var herr *HubError
		if errors.As(err, &herr) && herr.Status == http.StatusRequestedRangeNotSatisfiable {
			// Our partial file does not fit the file any more: start again.
			if err := w.reset(); err != nil {
				return err
			}
			return fmt.Errorf("file %s: %w", f.Name, errRangeIgnored)
		}
		return stalled(err)
	}
	defer a.Body.Close()
	if c := a.hub.Get("X-Repo-Commit"); c != "" && !strings.EqualFold(c, commit) {
		return fmt.Errorf("file %s: the Hub served commit %s, the file list is of %s", f.Name, oneLine(c), commit)
	}
	if ls := a.hub.Get("X-Linked-Size"); ls != "" && f.SHA256 != "" && ls != strconv.FormatInt(f.Size, 10) {
		return &ChecksumError{File: f.Name, Kind: "size", Want: strconv.FormatInt(f.Size, 10), Got: oneLine(ls) + " (X-Linked-Size)"}
	}
	switch a.StatusCode {
	case http.StatusOK:
		if w.n > 0 {
			if err := w.reset(); err != nil {
				return err
			}
		}
	case http.StatusPartialContent:
		start, total, ok := contentRange(a.Header.Get("Content-Range"))
		if !ok || start != w.n {
			if err := w.reset(); err != nil {
				return err
			}
			return fmt.Errorf("file %s: %w", f.Name, errRangeIgnored)
		}
		if total >= 0 && total != f.Size {
			return &ChecksumError{File: f.Name, Kind: "size", Want: strconv.FormatInt(f.Size, 10), Got: strconv.FormatInt(total, 10) + " (Content-Range)"}
		}
	default:
		return fmt.Errorf("file %s: unexpected answer %d", f.Name, a.StatusCode)
	}
	stall.Reset(s.c.StallTimeout)
	// Read one byte past the size, to see a longer body.
	r := io.LimitReader(a.Body, f.Size-w.n+1)
	buf := make([]byte, 256<<10)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			stall.Reset(s.c.StallTimeout)
			if w.n+int64(n) > f.Size {
				return &ChecksumError{File: f.Name, Kind: "size", Want: strconv.FormatInt(f.Size, 10), Got: "more"}
			}
			if err := w.write(buf[:n]); err != nil {
				return fmt.Errorf("file %s: %w", f.Name, err)
			}
		}
		if rerr == io.EOF {
			if w.n < f.Size {
				return fmt.Errorf("file %s: %w", f.Name, errShortBody)
			}
			return nil
		}
		if rerr != nil {
			return stalled(fmt.Errorf("file %s: %w", f.Name, rerr))
		}
	}
}

// check compares the complete partial file with what the file list says.
func (s *session) check(fh *os.File, w *partWriter, f File) error {
	if w.n != f.Size {
		return &ChecksumError{File: f.Name, Kind: "size", Want: strconv.FormatInt(f.Size, 10), Got: strconv.FormatInt(w.n, 10)}
	}
	if w.h != nil {
		if got := hex.EncodeToString(w.h.Sum(nil)); got != f.SHA256 {
			return &ChecksumError{File: f.Name, Kind: "sha256", Want: f.SHA256, Got: got}
		}
		return nil
	}
	if f.BlobID == "" {
		return nil
	}
	// Files kept in git are small: read the file back for its blob id.
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", f.Size)
	if _, err := io.Copy(h, io.NewSectionReader(fh, 0, f.Size)); err != nil {
		return fmt.Errorf("file %s: %w", f.Name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.BlobID {
		return &ChecksumError{File: f.Name, Kind: "git blob id", Want: f.BlobID, Got: got}
	}
	return nil
}

// partWriter appends to a partial file and hashes what it holds.
type partWriter struct {
	f *os.File
	h hash.Hash // nil when the file is checked otherwise
	n int64
}

func (w *partWriter) write(b []byte) error {
	if _, err := w.f.WriteAt(b, w.n); err != nil {
		return err
	}
	if w.h != nil {
		w.h.Write(b)
	}
	w.n += int64(len(b))
	return nil
}

// resume takes the first n bytes already in the file: they are hashed again.
func (w *partWriter) resume(n int64) error {
	if w.h != nil {
		if _, err := io.Copy(w.h, io.NewSectionReader(w.f, 0, n)); err != nil {
			return err
		}
	}
	w.n = n
	return nil
}

// reset empties the file.
func (w *partWriter) reset() error {
	if err := w.f.Truncate(0); err != nil {
		return err
	}
	if w.h != nil {
		w.h.Reset()
	}
	w.n = 0
	return nil
}

// contentRange reads "bytes start-end/total" (total "*" is -1).
func contentRange(v string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, false
	}
	span, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	a, _, found := strings.Cut(span, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil {
			return 0, 0, false
		}
	}
	return start, total, true
}

// syncDir flushes a folder's entries (a rename into it), best effort.
func syncDir(dir *os.Root, name string) {
	if d, err := dir.Open(name); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// sleep waits d or until ctx ends (returning its cause).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
