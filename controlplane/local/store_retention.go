package local

import (
	"context"
	"database/sql"
	"fmt"
	"math"
)

// Retention: finished runs that ended before a cutoff are deleted with their attempt records,
// their labels and (outside the store) their log files, and Idempotency-Keys stored before
// the cutoff are forgotten. The sweep reads candidates on a reader connection and deletes
// them in small batches, one write op each, so the group-commit writer is never held for
// long and reads are never blocked (WAL).

// sweepBatch is how many runs one delete op takes at most.
const sweepBatch = 200

// expiredRun is a run the sweep deleted: what is left to clean up outside the database.
type expiredRun struct {
	Name     string
	Attempts int
}

// sweepCandidates returns up to n runs created before before (unix nanoseconds) that sort
// after from in the list order, oldest first, with their keys: the runs that may have ended
// before it (a run ends after it was created). Finished or not is for deleteExpired to say.
func (s *store) sweepCandidates(ctx context.Context, before int64, from listKey, n int) ([]listedRun, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+listColumns+` FROM runs r INDEXED BY runs_list
		WHERE r.created_at < ? AND (r.created_at, r.seq) > (?, ?) ORDER BY r.created_at, r.seq LIMIT ?`, before, from.CreatedAt, from.Seq, n)
	if err != nil {
		return nil, s.readErr(err, "read runs to expire")
	}
	defer rows.Close()
	var out []listedRun
	for rows.Next() {
		r, err := scanListed(rows)
		if err != nil {
			return nil, fmt.Errorf("local: read runs to expire: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// sweepStart is the key before every run.
var sweepStart = listKey{CreatedAt: math.MinInt64, Seq: math.MinInt64}

// deleteExpired deletes the runs among candidates that are finished and ended before before
// (unix nanoseconds), with their attempts and labels, and returns them. A run that is not
// (still running, or ended later) is left alone.
func (s *store) deleteExpired(ctx context.Context, candidates []listedRun, before int64) ([]expiredRun, error) {
	var out []expiredRun
	err := s.write(ctx, "deleteExpired", func(tx *sql.Tx) error {
		out = out[:0] // an op may run twice (see commit)
		for _, r := range candidates {
			n, err := s.execN(tx, `DELETE FROM runs WHERE name = ? AND ended_at > 0 AND ended_at < ?
				AND phase IN ('succeeded', 'failed', 'aborted', 'timed_out', 'recovered')`, r.Name, before)
			if err != nil {
				return err
			}
			if n == 0 {
				continue
			}
			if _, err := tx.Exec(`DELETE FROM attempts WHERE run = ?`, r.Name); err != nil {
				return err
			}
			labels, err := decodeLabels(r.Labels)
			if err != nil {
				return err
			}
			for k, v := range labels {
				if _, err := tx.Exec(`DELETE FROM run_labels WHERE key = ? AND value = ? AND created_at = ? AND seq = ?`, k, v, r.Key.CreatedAt, r.Key.Seq); err != nil {
					return err
				}
			}
			out = append(out, expiredRun{Name: r.Name, Attempts: r.Attempts})
		}
		return nil
	})
	return out, err
}
