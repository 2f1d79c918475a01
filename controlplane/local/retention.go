package local

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"
)

// DefaultRetention is Config.Retention's default: 30 days.
const DefaultRetention = 30 * 24 * time.Hour

// sweep deletes what the retention has expired: the finished runs that ended more than
// Retention ago (Clock's time), their attempt records, labels and log files, and the
// Idempotency-Keys stored before then. Nothing with a Retention of 0. It returns how many
// runs it deleted. It runs in the background (housekeeping), in batches: requests are never
// waiting for it.
func (b *Backend) sweep(ctx context.Context) (int, error) {
	if b.cfg.EffectiveRetention() == 0 {
		return 0, nil
	}
	before := b.cfg.Clock.Now().Add(-b.cfg.EffectiveRetention()).UnixNano()
	if _, err := b.st.forgetExpiredKeys(ctx, before); err != nil {
		return 0, err
	}
	deleted := 0
	from := sweepStart
	for {
		candidates, err := b.st.sweepCandidates(ctx, before, from, sweepBatch)
		if err != nil || len(candidates) == 0 {
			return deleted, err
		}
		from = candidates[len(candidates)-1].Key
		gone, err := b.st.deleteExpired(ctx, candidates, before)
		if err != nil {
			return deleted, err
		}
		for _, r := range gone {
			b.finished.Delete(r.Name)
			b.removeLogs(r)
		}
		deleted += len(gone)
		if err := ctx.Err(); err != nil {
			return deleted, err
		}
	}
}

// removeLogs removes a deleted run's log files (see attempt.go for their names).
func (b *Backend) removeLogs(r expiredRun) {
	for a := 1; a <= r.Attempts; a++ {
		for _, suffix := range []string{"stdout.log", "stderr.log", "lines"} { // what openAttemptLogs writes
			p := b.logPath(r.Name, a, suffix)
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				b.log.Warn("cannot remove the log of an expired run", "run", r.Name, "error", err.Error())
			}
		}
	}
}
