package local

import (
	"context"
	"sync"
)

// The hub tells watches of a run (watch.go) that it changed. It carries no events: a watch
// reads what happened from the run's stored state (the runs and attempts tables, the
// attempt's log file) when it is ready for it, so nothing is queued per watch and a slow
// one misses nothing. Per watched run there is a topic: two channels closed (and replaced)
// on each change, one for state changes (the store's writes, see store.onRunChange) and one
// for new log lines (lineLog), and the run's state as last read, shared by its watches, so
// that a change costs one read of the database however many watch the run.

type hub struct {
	mu     sync.RWMutex
	topics map[string]*topic
	read   func(ctx context.Context, run string) (*runState, error)
}

func newHub(read func(ctx context.Context, run string) (*runState, error)) *hub {
	return &hub{topics: map[string]*topic{}, read: read}
}

type topic struct {
	refs int // under hub.mu

	mu      sync.Mutex
	ver     uint64 // counts state changes
	state   chan struct{}
	logs    chan struct{}
	logsOut bool // a watch holds logs: close it at the next line
	snap    *runState
	snapVer uint64

	readMu sync.Mutex // one read of the database at a time
}

// subscribe returns run's topic, made on first use; release it with unsubscribe.
func (h *hub) subscribe(run string) *topic {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topics[run]
	if t == nil {
		t = &topic{state: make(chan struct{}), logs: make(chan struct{}), ver: 1}
		h.topics[run] = t
	}
	t.refs++
	return t
}

func (h *hub) unsubscribe(run string, t *topic) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t.refs--; t.refs == 0 && h.topics[run] == t {
		delete(h.topics, run)
	}
}

// stateChanged wakes the watches of run: its stored state changed.
func (h *hub) stateChanged(run string) {
	h.mu.RLock()
	t := h.topics[run]
	h.mu.RUnlock()
	if t == nil {
		return
	}
	t.mu.Lock()
	t.ver++
	close(t.state)
	t.state = make(chan struct{})
	t.mu.Unlock()
}

// logWritten wakes the watches of run waiting for log lines.
func (h *hub) logWritten(run string) {
	h.mu.RLock()
	t := h.topics[run]
	h.mu.RUnlock()
	if t == nil {
		return
	}
	t.mu.Lock()
	if t.logsOut {
		close(t.logs)
		t.logs, t.logsOut = make(chan struct{}), false
	}
	t.mu.Unlock()
}

// channels returns the channels closed at the next state change and the next log line. Take
// them before reading the state: a change after the read then closes them.
func (t *topic) channels(logs bool) (state, lines <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if logs {
		t.logsOut = true
		return t.state, t.logs
	}
	return t.state, nil
}

// get returns the run's state, read again only when it changed since the last read.
func (t *topic) get(ctx context.Context, h *hub, run string) (*runState, error) {
	t.mu.Lock()
	if t.snap != nil && t.snapVer == t.ver {
		s := t.snap
		t.mu.Unlock()
		return s, nil
	}
	t.mu.Unlock()
	t.readMu.Lock()
	defer t.readMu.Unlock()
	t.mu.Lock()
	v := t.ver
	if t.snap != nil && t.snapVer == v { // another watch read it meanwhile
		s := t.snap
		t.mu.Unlock()
		return s, nil
	}
	t.mu.Unlock()
	s, err := h.read(ctx, run)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if v >= t.snapVer {
		t.snap, t.snapVer = s, v
	}
	t.mu.Unlock()
	return s, nil
}
