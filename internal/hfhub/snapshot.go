package hfhub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// Options says what Snapshot downloads, where, and within which bounds.
type Options struct {
	// Repo is the model's "owner/name" (see ValidRepo).
	Repo string
	// Revision is the branch, tag or commit to download. Defaults to "main".
	Revision string
	// Token, when not nil, is asked for the token at most once, and only when the Hub answers
	// that a token is needed (a private or gated repo): a public repo never asks. Its error
	// fails the snapshot as a *TokenError.
	Token TokenFunc
	// Dir is where the files go (the caller opens it with os.OpenRoot). The downloader keeps
	// its temporary files, its manifest and its lock in Dir's .hfhub folder.
	Dir *os.Root
	// Force downloads every file again, even one already there from an earlier snapshot, and
	// drops the partial downloads of earlier tries.
	Force bool
	// MaxBytes, when positive, refuses a model whose size (from the file list) is larger, as
	// a *TooLargeError naming MaxBytesName.
	MaxBytes int64
	// MaxBytesName names MaxBytes in the refusal. Defaults to "the size cap".
	MaxBytesName string
	// KeepFree is room the download leaves free on Dir's file system: a download needing
	// more than the free space less KeepFree is refused as a *NoRoomError.
	KeepFree int64
	// FreeSpace returns the free bytes of the file system holding dir (Dir.Name()). Defaults
	// to statfs; an error skips the check.
	FreeSpace func(dir string) (int64, error)
	// Parallel is how many files are downloaded at once. Defaults to 1.
	Parallel int
	// Log receives a line per step (never the token). Defaults to discarding them.
	Log io.Writer
	// DropPartial, when not nil, is asked with ctx's cause when ctx ends the snapshot
	// whether the partial downloads are dropped rather than kept for the next snapshot to
	// resume (say, after an abort: nobody will). They are removed under the folder's lock.
	DropPartial func(cause error) bool
}

// Result is a finished snapshot.
type Result struct {
	// Commit is the commit the revision resolved to.
	Commit string
	// Files are the model's files, all present under Dir and checked.
	Files []File
	// Bytes is the model's size: the sum of the files' sizes.
	Bytes int64
	// Downloaded is how many bytes this call received; Reused how many files it kept from an
	// earlier snapshot.
	Downloaded int64
	Reused     int
}

// Snapshot downloads repo at o.Revision into o.Dir. It returns once every file is there under
// its name, checked; or with the first error, when the other downloads have stopped. Files
// completed before the error stay (and are reused by the next snapshot); a partial download
// stays under its temporary name in .hfhub (and is resumed by the next, unless Force), never
// under its name: see Options.DropPartial. When ctx ends, the downloads stop and ctx's cause is
// returned.
func (c *Client) Snapshot(ctx context.Context, o Options) (Result, error) {
	if err := ValidRepo(o.Repo); err != nil {
		return Result{}, err
	}
	if o.Dir == nil {
		return Result{}, errors.New("hfhub: Options.Dir is nil")
	}
	s, err := c.session(o.Token)
	if err != nil {
		return Result{}, err
	}
	o = o.withDefaults()
	lg := &logger{w: o.Log}
	rev := o.Revision
	lg.printf("fetching the file list of %s at %s from %s", o.Repo, rev, s.c.Endpoint)
	info, err := s.info(ctx, o.Repo, rev)
	if err != nil {
		return Result{}, err
	}
	total := info.Size()
	lg.printf("%s at %s is commit %s: %d files, %s", o.Repo, rev, info.Commit, len(info.Files), FormatBytes(total))
	if o.MaxBytes > 0 && total > o.MaxBytes {
		return Result{}, &TooLargeError{Bytes: total, Max: o.MaxBytes, Cap: o.MaxBytesName}
	}
	if err := o.Dir.MkdirAll(partDir, 0o755); err != nil {
		return Result{}, fmt.Errorf("create %s: %w", partDir, err)
	}
	unlock, err := lockDir(ctx, o.Dir, lg)
	if err != nil {
		return Result{}, err
	}
	defer unlock()

	m := openManifest(o.Dir)
	var todo []File
	var need int64
	res := Result{Commit: info.Commit, Files: info.Files, Bytes: total}
	for _, f := range info.Files {
		if o.Force {
			if err := o.Dir.Remove(partName(f)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return Result{}, fmt.Errorf("remove the partial download of %s: %w", f.Name, err)
			}
		} else if m.has(o.Dir, f) {
			res.Reused++
			continue
		}
		todo = append(todo, f)
		need += f.Size - partSize(o.Dir, f)
	}
	if res.Reused > 0 {
		lg.printf("%d files already there from an earlier download, kept", res.Reused)
	}
	if free, err := o.FreeSpace(o.Dir.Name()); err == nil && need > 0 && need > free-o.KeepFree {
		return Result{}, &NoRoomError{Need: need, Free: free, KeepFree: o.KeepFree, Dir: o.Dir.Name()}
	}
	var downloaded atomic.Int64
	err = parallel(ctx, o.Parallel, todo, func(ctx context.Context, f File) error {
		n, err := s.download(ctx, o.Dir, info.Commit, o.Repo, f, lg)
		downloaded.Add(n)
		if err != nil {
			return err
		}
		return m.add(o.Dir, f, info.Commit)
	})
	res.Downloaded = downloaded.Load()
	if err != nil {
		if ctx.Err() != nil && o.DropPartial != nil && o.DropPartial(context.Cause(ctx)) {
			if rerr := o.Dir.RemoveAll(partDir); rerr != nil {
				lg.printf("the partial downloads could not be removed: %v", rerr)
			} else {
				lg.printf("partial downloads removed")
			}
		}
		return Result{}, err
	}
	if err := m.compact(o.Dir, info.Files); err != nil {
		return Result{}, err
	}
	lg.printf("done: %d files, %s, %s downloaded", len(info.Files), FormatBytes(total), FormatBytes(res.Downloaded))
	return res, nil
}

func (o Options) withDefaults() Options {
	if o.Revision == "" {
		o.Revision = "main"
	}
	if o.MaxBytesName == "" {
		o.MaxBytesName = "the size cap"
	}
	if o.FreeSpace == nil {
		o.FreeSpace = freeSpace
	}
	if o.Parallel <= 0 {
		o.Parallel = 1
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// parallel runs fn on each item with at most n at once; the first error cancels the others
// and is returned (ctx's cause when ctx ended first).
func parallel[T any](ctx context.Context, n int, items []T, fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan T)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	fail := func(err error) {
		once.Do(func() { first = err })
		cancel(err)
	}
	for range min(n, len(items)) {
		wg.Go(func() {
			for it := range next {
				if err := fn(ctx, it); err != nil {
					fail(err)
				}
			}
		})
	}
feed:
	for _, it := range items {
		select {
		case next <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return first
}

// logger writes a line per step to w, one at a time.
type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *logger) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = fmt.Fprintf(l.w, format+"\n", args...)
}
