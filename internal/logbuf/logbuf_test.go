package logbuf_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/internal/logbuf"
)

// out records each write the Writer makes.
type out struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (o *out) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.writes++
	return o.buf.Write(p)
}

func (o *out) snapshot() (string, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String(), o.writes
}

func TestBatchesUntilTheInterval(t *testing.T) {
	t.Parallel()
	o := &out{}
	w := logbuf.New(o, time.Hour, 1<<10)
	for range 10 {
		if _, err := w.Write([]byte("line\n")); err != nil {
			t.Fatal(err)
		}
	}
	if s, n := o.snapshot(); s != "" || n != 0 {
		t.Fatalf("written before a flush: %d writes %q", n, s)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if s, n := o.snapshot(); s != strings.Repeat("line\n", 10) || n != 1 {
		t.Fatalf("after Close: %d writes %q, want one write of all ten lines", n, s)
	}
}

func TestTimerFlushes(t *testing.T) {
	t.Parallel()
	o := &out{}
	w := logbuf.New(o, 10*time.Millisecond, 1<<10)
	defer w.Close()
	_, _ = w.Write([]byte("a\n"))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if s, _ := o.snapshot(); s == "a\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the ticker never flushed")
		}
	}
}

func TestFullBufferAndBigLinesKeepOrder(t *testing.T) {
	t.Parallel()
	o := &out{}
	w := logbuf.New(o, time.Hour, 8)
	for _, p := range []string{"12345\n", "678\n", strings.Repeat("x", 20) + "\n", "end\n"} {
		if n, err := w.Write([]byte(p)); err != nil || n != len(p) {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	_ = w.Close()
	if s, _ := o.snapshot(); s != "12345\n678\n"+strings.Repeat("x", 20)+"\nend\n" {
		t.Fatalf("order lost: %q", s)
	}
}

func TestWarningsGoOutAtOnce(t *testing.T) {
	t.Parallel()
	o := &out{}
	w := logbuf.New(o, time.Hour, 1<<16)
	defer w.Close()
	log := slog.New(logbuf.FlushOn(slog.NewJSONHandler(w, nil), w, slog.LevelWarn)).With("component", "x")
	log.Info("request", "n", 1)
	if s, _ := o.snapshot(); s != "" {
		t.Fatalf("info written at once: %q", s)
	}
	log.WithGroup("g").Warn("trouble")
	s, _ := o.snapshot()
	if !strings.Contains(s, `"msg":"request"`) || !strings.Contains(s, `"msg":"trouble"`) || strings.Index(s, "request") > strings.Index(s, "trouble") {
		t.Fatalf("a warning did not flush what came before it: %q", s)
	}
}

func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	o := &out{}
	w := logbuf.New(o, time.Millisecond, 256)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				_, _ = w.Write([]byte("0123456789\n"))
			}
		}()
	}
	wg.Wait()
	_ = w.Close()
	s, _ := o.snapshot()
	if len(s) != 8*500*11 || strings.Count(s, "0123456789\n") != 8*500 {
		t.Fatalf("lines torn or lost: %d bytes", len(s))
	}
}

func TestWritesAfterCloseGoThrough(t *testing.T) {
	t.Parallel()
	o := &out{}
	w := logbuf.New(o, time.Hour, 1<<10)
	_, _ = w.Write([]byte("before\n"))
	_ = w.Close()
	_, _ = w.Write([]byte("after\n"))
	if s, _ := o.snapshot(); s != "before\nafter\n" {
		t.Fatalf("a line written after Close was held back: %q", s)
	}
}
