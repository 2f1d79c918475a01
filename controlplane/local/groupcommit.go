package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Group commit: every write to the store goes through one goroutine that commits whatever has
// queued up in one transaction, so durability (synchronous=FULL) costs one fsync per batch,
// not per write. Each caller gets its answer after the commit that holds its write:
// "returned" means "on disk".

// writeOp is one write: fn runs inside the batch's transaction.
type writeOp struct {
	name string // the store method's name, for failure injection in tests (see failWrites)
	fn   func(tx *sql.Tx) error
	errc chan error
}

// logicalError marks an op's own refusal (e.g. an idempotency conflict): its savepoint is
// rolled back, the batch commits.
type logicalError struct{ error }

// write runs fn in the next group commit and waits for that commit. name is the store
// method's.
func (s *store) write(ctx context.Context, name string, fn func(tx *sql.Tx) error) error {
	op := &writeOp{name: name, fn: fn, errc: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	select {
	case s.writes <- op:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	// Once queued, the op will be committed or refused; wait for that even if ctx ends, so a
	// caller never reports failure for a write that landed.
	err := <-op.errc
	var le logicalError
	if errors.As(err, &le) {
		return le.error
	}
	return err
}

const maxBatch = 512

// Under load a batch waits up to lingerMax for more writes before it commits: each commit
// costs about half a millisecond of CPU and an fsync whatever its size, and the callers the
// previous commit answered are on their way back with their next writes. Without load (the
// previous batch was small) a write commits at once.
const (
	lingerMax      = time.Millisecond
	lingerFromSize = 16
)

func (s *store) writer() {
	defer close(s.done)
	batch := make([]*writeOp, 0, maxBatch)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	prev := 0
	for op := range s.writes {
		batch = append(batch[:0], op)
		s.drain(&batch)
		if prev >= lingerFromSize && len(batch) < prev {
			linger.Reset(lingerMax)
		wait:
			for len(batch) < prev { // prev <= maxBatch: it was a batch
				select {
				case more, ok := <-s.writes:
					if !ok {
						break wait
					}
					batch = append(batch, more)
					s.drain(&batch)
				case <-linger.C:
					break wait
				}
			}
			linger.Stop()
		}
		prev = len(batch)
		s.commit(batch)
	}
}

// drain adds the writes already queued, without waiting.
func (s *store) drain(batch *[]*writeOp) {
	for len(*batch) < maxBatch {
		select {
		case more, ok := <-s.writes:
			if !ok {
				return
			}
			*batch = append(*batch, more)
		default:
			return
		}
	}
}

// commit applies a batch in one transaction. It first runs the ops back to back; almost
// always all succeed and that is the whole cost. When one fails (an idempotency conflict, a
// constraint), it rolls back and runs the batch again with a savepoint around each op, so
// the others commit and only that op gets its error. Ops may run twice: they only write to
// the transaction and to their own variables, and s.seq is restored here.
func (s *store) commit(batch []*writeOp) {
	errs := make([]error, len(batch))
	seq := s.seq
	err := s.commitFast(batch)
	if err != nil {
		s.seq = seq
		err = s.commitIsolated(batch, errs)
		if err != nil {
			s.seq = seq
		}
	}
	for i, op := range batch {
		if err != nil {
			op.errc <- fmt.Errorf("local: commit: %w", err)
		} else {
			op.errc <- errs[i]
		}
	}
}

// commitFast runs every op in one transaction and commits, or rolls back at the first error.
func (s *store) commitFast(batch []*writeOp) error {
	tx, err := s.w.Begin()
	if err != nil {
		return err
	}
	for _, op := range batch {
		if err := op.fn(tx); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return s.finishTx(tx, batch)
}

// commitIsolated runs each op inside its own savepoint: an op's error (in errs) rolls back
// only that op. The returned error is the transaction's own, which fails the whole batch.
func (s *store) commitIsolated(batch []*writeOp, errs []error) error {
	tx, err := s.w.Begin()
	if err != nil {
		return err
	}
	for i, op := range batch {
		if _, err = s.exec(tx, sqlSavepoint); err != nil {
			break
		}
		if errs[i] = op.fn(tx); errs[i] != nil {
			if _, err = s.exec(tx, sqlRollbackTo); err != nil {
				break
			}
		}
		if _, err = s.exec(tx, sqlRelease); err != nil {
			break
		}
	}
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	return s.finishTx(tx, batch)
}

// finishTx commits, unless a test made the store's writes fail (see failWrites): then the
// transaction is rolled back and the batch fails as a full disk would fail it.
func (s *store) finishTx(tx *sql.Tx, batch []*writeOp) error {
	if f := s.failWrites.Load(); f != nil {
		for _, op := range batch {
			if err := (*f)(op.name); err != nil {
				_ = tx.Rollback()
				return err
			}
		}
	}
	return tx.Commit()
}
