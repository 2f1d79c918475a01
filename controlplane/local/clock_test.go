package local_test

import (
	"sync"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
)

// fakeClock is a local.Clock the test moves by hand. It counts the timers made, so a test
// can tell when the scheduler has looked at the time it was given and gone back to sleep
// (it makes a new timer each time it does): see settle.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]bool // pending
	made   int
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, timers: map[*fakeTimer]bool{}}
}

type fakeTimer struct {
	c  *fakeClock
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) local.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	c.made++
	if d <= 0 {
		t.ch <- c.now
	} else {
		c.timers[t] = true
	}
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	pending := t.c.timers[t]
	delete(t.c.timers, t)
	return pending
}

// state is how many timers were made so far, for settle.
func (c *fakeClock) state() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.made
}

// pending is how many timers are waiting.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// settle waits (bounded) until the scheduler sleeps on a timer made after state: it has
// taken in whatever happened since (a time set, a switch, a reload).
func (c *fakeClock) settle(t *testing.T, state int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		c.mu.Lock()
		made, pending := c.made, len(c.timers)
		c.mu.Unlock()
		if made > state && pending > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduler did not go back to sleep (timers made %d, pending %d)", made, pending)
		}
	}
}

// set moves the clock to now, fires the timers due, and waits until the scheduler has
// taken in the new time (when a timer of its fired: otherwise it sleeps on, as it would).
func (c *fakeClock) set(t *testing.T, now time.Time) {
	t.Helper()
	c.mu.Lock()
	state := c.made
	c.now = now
	fired := false
	for tm := range c.timers {
		if !tm.at.After(now) {
			tm.ch <- now
			delete(c.timers, tm)
			fired = true
		}
	}
	c.mu.Unlock()
	if fired {
		c.settle(t, state)
	}
}
