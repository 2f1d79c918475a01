package controlplane

// LogTail keeps the last lines of a log as they are read: at most N lines (all when N is 0)
// whose text fits in Max bytes, dropping the oldest. Backends read logs through it, so a
// RunLogs answer is bounded however long the log.
type LogTail struct {
	n, max    int64
	buf       []LogLine
	bytes     int64
	truncated bool
}

// NewLogTail returns a LogTail of the last n lines (0: no bound on lines) within max bytes.
func NewLogTail(n int, max int64) *LogTail { return &LogTail{n: int64(n), max: max} }

// Add adds the next line.
func (t *LogTail) Add(l LogLine) {
	t.buf = append(t.buf, l)
	t.bytes += int64(len(l.Text) + 1)
	for len(t.buf) > 0 && (t.n > 0 && int64(len(t.buf)) > t.n || t.bytes > t.max) {
		t.bytes -= int64(len(t.buf[0].Text) + 1)
		t.buf[0] = LogLine{}
		t.buf, t.truncated = t.buf[1:], true
	}
}

// Lines returns the lines kept, oldest first.
func (t *LogTail) Lines() []LogLine { return append([]LogLine(nil), t.buf...) }

// Truncated reports whether a line was dropped.
func (t *LogTail) Truncated() bool { return t.truncated }
