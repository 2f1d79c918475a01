package local

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestLineLog: lines are records in the order they were finished, whatever the writes'
// boundaries; a long line is cut; a CRLF loses its CR; the cap drops the rest and says so.
func TestLineLog(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "r.1.lines")
	notified := 0
	l := newLineLog(path, 64<<10, func() { notified++ })
	out, errw := l.stream(tagStdout), l.stream(tagStderr)
	_, _ = out.Write([]byte("a"))
	_, _ = errw.Write([]byte("e1\n"))
	_, _ = out.Write([]byte("bc\r\nd\n\n"))
	_, _ = out.Write([]byte(strings.Repeat("x", maxLineBytes+5) + "\n"))
	_, _ = errw.Write([]byte("unfinished"))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	var ends []int64
	if _, err := readRecords(path, 0, 1<<20, func(r logRecord) bool {
		text := r.text
		if len(text) > 10 {
			text = text[:3] + "…" + string(rune('0'+len(text)-maxLineBytes))
		}
		got = append(got, r.stream()+":"+text)
		ends = append(ends, r.end)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	want := "stderr:e1 stdout:abc stdout:d stdout: stdout:xxx…0 stdout:xxxxx stderr:unfinished"
	if strings.Join(got, " ") != want {
		t.Errorf("records %q, want %s", got, want)
	}
	if notified == 0 {
		t.Error("writing lines notified no one")
	}
	// Reading from a record's end gives the records after it.
	var after []string
	if _, err := readRecords(path, ends[1], 1<<20, func(r logRecord) bool { after = append(after, r.text); return true }); err != nil || len(after) != len(got)-2 || after[0] != "d" {
		t.Errorf("after the second record: %q, %v", after, err)
	}

	capped := filepath.Join(t.TempDir(), "c.1.lines")
	c := newLineLog(capped, 10, nil)
	_, _ = c.stream(tagStdout).Write([]byte("12345\n67890\nabc\n"))
	_ = c.Close()
	got = got[:0]
	_, _ = readRecords(capped, 0, 1<<20, func(r logRecord) bool { got = append(got, r.stream()+":"+r.text); return true })
	if len(got) != 2 || got[0] != "stdout:12345" || !strings.Contains(got[1], "10 more bytes of output dropped") || !strings.HasPrefix(got[1], ":") {
		t.Errorf("capped: %q", got)
	}
}
