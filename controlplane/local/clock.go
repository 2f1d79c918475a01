package local

import "time"

// Clock is the time the trigger scheduler (scheduler.go) goes by. The real clock is the
// default; tests inject one they move by hand, so that a trigger's firing is checked
// without waiting for the wall clock.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that sends on its channel once d has passed (at once when d
	// is not positive), as time.NewTimer does.
	NewTimer(d time.Duration) Timer
}

// Timer is a Clock's timer.
type Timer interface {
	// C is the channel the time is sent on.
	C() <-chan time.Time
	// Stop stops the timer; it reports whether the timer had not fired yet.
	Stop() bool
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }
