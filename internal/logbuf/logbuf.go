// Package logbuf batches log output. The access log writes one line per request, and a write
// syscall per line cost about a fifth of a request's CPU under load. A Writer collects lines
// and writes them at most every interval, when its buffer is full, and when a record at or
// above a chosen level arrives (FlushOn): warnings and errors are never held back. Lines that
// were accepted but not yet written are lost only if the process is killed outright (at most
// one interval's worth); Close writes everything.
package logbuf

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Writer is an io.Writer that batches what it is given. Safe for concurrent use.
type Writer struct {
	mu     sync.Mutex
	out    io.Writer
	buf    []byte
	max    int
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	closed bool // after Close, writes go straight through
}

// New returns a Writer that writes to out at least every interval while it holds anything,
// and whenever it holds max bytes.
func New(out io.Writer, interval time.Duration, max int) *Writer {
	w := &Writer{out: out, buf: make([]byte, 0, max), max: max, stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop(interval)
	return w
}

func (w *Writer) loop(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = w.Flush()
		case <-w.stop:
			return
		}
	}
}

// Write keeps p for the next flush. A p larger than the buffer is written at once, after what
// was pending, so the order of lines is kept.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		if err := w.flushLocked(); err != nil {
			return 0, err
		}
		return w.out.Write(p)
	}
	if len(w.buf)+len(p) > w.max {
		if err := w.flushLocked(); err != nil {
			return 0, err
		}
	}
	if len(p) > w.max {
		return w.out.Write(p)
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// Flush writes what is pending.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.out.Write(w.buf)
	w.buf = w.buf[:0] // a failed write is dropped, not retried forever
	return err
}

// Close stops the timer and writes what is pending. Later writes (a handler still running
// after a shutdown timed out, say) go straight through.
func (w *Writer) Close() error {
	w.once.Do(func() {
		close(w.stop)
		<-w.done
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	return w.flushLocked()
}

// FlushOn wraps h (which writes to w) so that a record at level min or above is written at
// once, with everything before it.
func FlushOn(h slog.Handler, w *Writer, min slog.Level) slog.Handler {
	return flushing{Handler: h, w: w, min: min}
}

type flushing struct {
	slog.Handler
	w   *Writer
	min slog.Level
}

func (f flushing) Handle(ctx context.Context, r slog.Record) error {
	err := f.Handler.Handle(ctx, r)
	if r.Level >= f.min {
		if ferr := f.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (f flushing) WithAttrs(as []slog.Attr) slog.Handler {
	return flushing{Handler: f.Handler.WithAttrs(as), w: f.w, min: f.min}
}

func (f flushing) WithGroup(name string) slog.Handler {
	return flushing{Handler: f.Handler.WithGroup(name), w: f.w, min: f.min}
}
