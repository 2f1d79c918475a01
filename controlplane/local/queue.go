package local

import "sync"

// runQueue is the in-memory FIFO of queued run names. It is unbounded: every queued run is
// already on disk, so the queue only orders work and never drops any.
type runQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	items  []string
	head   int
	closed bool
}

func newRunQueue() *runQueue {
	q := &runQueue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *runQueue) push(name string) {
	q.mu.Lock()
	q.items = append(q.items, name)
	q.mu.Unlock()
	q.cond.Signal()
}

// pop blocks until a name is queued or the queue is closed (ok false).
func (q *runQueue) pop() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.head == len(q.items) && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return "", false
	}
	name := q.items[q.head]
	q.items[q.head] = ""
	q.head++
	if q.head == len(q.items) { // drained: reuse the backing array
		q.items, q.head = q.items[:0], 0
	}
	return name, true
}

func (q *runQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}
