package local

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"os"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// defaultLogBytes bounds RunLogs when the request does not.
const defaultLogBytes = 1 << 20

// RunLogs returns the last lines of an attempt, from its lines file (lines.go). Attempts
// from before lines files were kept are read from their stdout and stderr files, stdout
// first.
func (b *Backend) RunLogs(ctx context.Context, req controlplane.RunLogsRequest) (controlplane.RunLogs, error) {
	if _, err := b.caller(ctx); err != nil {
		return controlplane.RunLogs{}, err
	}
	name := req.Run.Name
	row, err := b.getRun(ctx, name)
	if err != nil {
		return controlplane.RunLogs{}, err
	}
	a := req.Attempt
	if a == 0 {
		a = row.Attempts
	}
	if a > row.Attempts {
		return controlplane.RunLogs{}, controlplane.Errorf(controlplane.CodeNotFound, "run %q has %d attempts, not %d", name, row.Attempts, a)
	}
	out := controlplane.RunLogs{Run: req.Run, Attempt: a}
	if a == 0 {
		return out, nil // no attempt yet: nothing written; a follow starts at the beginning
	}
	limit := req.MaxBytes
	if limit <= 0 {
		limit = defaultLogBytes
	}
	tail := controlplane.NewLogTail(req.Tail, limit)
	path := b.linesPath(name, a)
	end, err := readRecords(path, 0, 1<<62, func(r logRecord) bool {
		if req.Streams.Has(r.stream()) {
			tail.Add(controlplane.LogLine{ID: controlplane.EventPosition{Attempt: a, Stage: controlplane.StageLog, Seq: r.end}.String(),
				Stream: r.stream(), Text: r.text})
		}
		return true
	})
	if err != nil {
		return controlplane.RunLogs{}, err
	}
	if end == 0 {
		if _, statErr := os.Stat(path); errors.Is(statErr, fs.ErrNotExist) {
			if err := b.legacyLogs(name, a, req.Streams, tail); err != nil {
				return controlplane.RunLogs{}, err
			}
		}
	}
	out.Lines, out.Truncated = tail.Lines(), tail.Truncated()
	out.Resume = controlplane.EventPosition{Attempt: a, Stage: controlplane.StageLog, Seq: end}.String()
	return out, nil
}

// legacyLogs reads an attempt's stdout and stderr files (an attempt without a lines file).
// Their lines have no position of their own: a follow after them starts at the attempt's
// beginning.
func (b *Backend) legacyLogs(run string, a int, streams controlplane.LogStreams, tail *controlplane.LogTail) error {
	id := controlplane.EventPosition{Attempt: a, Stage: controlplane.StageLog}.String()
	for _, stream := range []string{controlplane.StreamStdout, controlplane.StreamStderr} {
		if !streams.Has(stream) {
			continue
		}
		f, err := os.Open(b.logPath(run, a, stream+".log"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), maxLineBytes*4)
		for sc.Scan() {
			tail.Add(controlplane.LogLine{ID: id, Stream: stream, Text: sc.Text()})
		}
		f.Close()
	}
	return nil
}
