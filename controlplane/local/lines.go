package local

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
)

// An attempt's output is kept twice: as it came, in data_dir/logs/<run>.<attempt>.stdout.log
// and .stderr.log (cappedFile), and as lines in the order they were written, both streams in
// one file, data_dir/logs/<run>.<attempt>.lines (lineLog). The lines file is what
// get_run_logs and the watches read: a line's position in it (the byte offset after it) is
// the line's event id, so a watch resumes after any line, and "both streams, in order" needs
// no timestamps.
//
// Each line is a record: a tag byte (tagStdout, tagStderr, or tagNote for the server's own
// note that output was dropped), the line without its terminator, '\n'. A line longer than
// maxLineBytes is cut into records of that size; a trailing "\r" is dropped (a CRLF line).

const (
	tagStdout    = 'o'
	tagStderr    = 'e'
	tagNote      = 'x'
	maxLineBytes = 16 << 10
)

// lineLog writes an attempt's lines file. It never fails a write: the task must not die of
// its log. The file is made at the first line, as the stream files are.
type lineLog struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	openErr error
	max     int64 // bytes of records kept; the rest is counted and dropped
	written int64
	dropped int64
	part    [2][]byte // the unfinished line of each stream
	notify  func()    // a line was written (wakes the run's watches)
	rec     []byte
}

func newLineLog(path string, max int64, notify func()) *lineLog {
	return &lineLog{path: path, max: max, notify: notify}
}

// stream returns the writer of stdout (tagStdout) or stderr.
func (l *lineLog) stream(tag byte) io.Writer {
	i := 0
	if tag == tagStderr {
		i = 1
	}
	return lineStream{l: l, i: i}
}

type lineStream struct {
	l *lineLog
	i int
}

func (s lineStream) Write(p []byte) (int, error) {
	s.l.write(s.i, p)
	return len(p), nil
}

func (l *lineLog) write(i int, p []byte) {
	l.mu.Lock()
	wrote := false
	for len(p) > 0 {
		nl := bytes.IndexByte(p, '\n')
		chunk := p
		if nl >= 0 {
			chunk = p[:nl]
		}
		room := maxLineBytes - len(l.part[i])
		if len(chunk) > room { // a line too long: its first maxLineBytes are a record of their own
			l.part[i] = append(l.part[i], chunk[:room]...)
			l.record(i, l.part[i])
			l.part[i], p, wrote = l.part[i][:0], p[room:], true
			continue
		}
		l.part[i] = append(l.part[i], chunk...)
		if nl < 0 {
			break
		}
		l.record(i, l.part[i])
		l.part[i], p, wrote = l.part[i][:0], p[nl+1:], true
	}
	l.mu.Unlock()
	if wrote && l.notify != nil {
		l.notify()
	}
}

// record writes one line of stream i (or a note, i = -1). Called with l.mu held.
func (l *lineLog) record(i int, line []byte) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	tag := byte(tagNote)
	switch i {
	case 0:
		tag = tagStdout
	case 1:
		tag = tagStderr
	}
	n := int64(len(line) + 2)
	if tag != tagNote && l.written+n > l.max {
		l.dropped += int64(len(line) + 1)
		return
	}
	if l.f == nil && l.openErr == nil {
		l.f, l.openErr = os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o600)
	}
	if l.openErr != nil {
		return
	}
	l.rec = append(append(append(l.rec[:0], tag), line...), '\n')
	if _, err := l.f.Write(l.rec); err == nil {
		l.written += n
	}
}

// Close writes the unfinished lines and a note of what was dropped. Writes come from exec's
// copying goroutines, which have finished once Wait returned, before Close: the file is
// whole before the attempt's end is recorded (a watch that sees it ended reads it to the end).
func (l *lineLog) Close() error {
	l.mu.Lock()
	for i := range l.part {
		if len(l.part[i]) > 0 {
			l.record(i, l.part[i])
		}
	}
	if l.dropped > 0 {
		l.record(-1, fmt.Appendf(nil, "[flyte-webhook: %d more bytes of output dropped: the log is capped at %d bytes]", l.dropped, l.max))
	}
	f, err := l.f, l.openErr
	l.mu.Unlock()
	if l.notify != nil && (l.dropped > 0 || len(l.part[0])+len(l.part[1]) > 0) {
		l.notify()
	}
	if f == nil {
		return err
	}
	return f.Close()
}

// logRecord is one line read back from a lines file.
type logRecord struct {
	tag  byte
	text string
	end  int64 // the offset after the record: the line's position
}

func (r logRecord) stream() string {
	switch r.tag {
	case tagStdout:
		return "stdout"
	case tagStderr:
		return "stderr"
	}
	return ""
}

// readRecords reads the records of a lines file from offset, at most max bytes of it,
// calling each for every whole record. A file that does not exist has none.
func readRecords(path string, offset, max int64, each func(logRecord) bool) (int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return offset, nil
	}
	if err != nil {
		return offset, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return offset, err
	}
	br := bufio.NewReaderSize(io.LimitReader(f, max), 32<<10)
	pos := offset
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// Records are at most maxLineBytes+2 long: a longer one is not ours. Skip it.
			for err == bufio.ErrBufferFull {
				pos += int64(len(line))
				line, err = br.ReadSlice('\n')
			}
			pos += int64(len(line))
			continue
		}
		if err != nil { // EOF, or a record still being written: stop before it
			return pos, nil
		}
		pos += int64(len(line))
		if len(line) < 2 {
			continue
		}
		if !each(logRecord{tag: line[0], text: string(line[1 : len(line)-1]), end: pos}) {
			return pos, nil
		}
	}
}
