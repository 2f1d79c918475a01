package local

import (
	"context"
	"sync"
	"time"
)

// Test-only access to the backend's insides, for the black-box tests of package local_test.

// FailWrites makes every commit of b's store fail, as a full disk would, while f returns an
// error for one of the commit's ops (named after the store's methods: "markRunning",
// "finishRun", …). nil lets writes through again.
func FailWrites(b *Backend, f func(op string) error) {
	if f == nil {
		b.st.failWrites.Store(nil)
		return
	}
	b.st.failWrites.Store(&f)
}

// AttemptOutcomes lists the outcome of each recorded attempt of a run, in order ("" for one
// still running).
func AttemptOutcomes(b *Backend, run string) ([]string, error) {
	rows, err := b.st.attemptsOf(context.Background(), run)
	var out []string
	for _, r := range rows {
		out = append(out, string(r.Outcome))
	}
	return out, err
}

// AppBackoff is one wait of an app's supervisor before it restarts the app after a crash.
type AppBackoff struct {
	App   string
	Delay time.Duration
	// Release ends the wait: the supervisor restarts the app (if still wanted). Safe to call
	// more than once.
	Release func()
}

// HoldAppBackoffs makes every restart wait of the backend cfg opens a value sent on waits,
// lasting until the test releases it, instead of a real sleep.
func HoldAppBackoffs(cfg *Config, waits chan<- AppBackoff) {
	if cfg.appHooks == nil {
		cfg.appHooks = &appHooks{}
	}
	cfg.appHooks.backoff = func(ctx context.Context, app string, d time.Duration) <-chan struct{} {
		ch := make(chan struct{})
		var once sync.Once
		select {
		case waits <- AppBackoff{App: app, Delay: d, Release: func() { once.Do(func() { close(ch) }) }}:
		case <-ctx.Done(): // the backend is closing; nobody is listening any more
		}
		return ch
	}
}

// SetAppClock gives the supervisors of the backend cfg opens another clock (how long an app
// ran before it crashed decides whether its backoff starts afresh).
func SetAppClock(cfg *Config, now func() time.Time) {
	if cfg.appHooks == nil {
		cfg.appHooks = &appHooks{}
	}
	cfg.appHooks.now = now
}

// AppBackoffFor is the restart backoff after failures crashes in a row.
func AppBackoffFor(failures int) time.Duration { return appBackoff(failures) }

// Sweep runs one retention sweep now, as housekeeping does at Open and hourly, and returns
// how many runs it deleted.
func Sweep(ctx context.Context, b *Backend) (int, error) { return b.sweep(ctx) }
