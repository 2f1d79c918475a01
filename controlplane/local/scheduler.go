package local

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// The trigger scheduler: one goroutine that fires each active trigger at its schedule times,
// in its time zone, by Config.Clock.
//
// Each fire starts a run of the trigger's task (the version it names, else the latest when
// it fires) with its inputs, and the schedule time in its kickoff input. The run records the
// trigger's name and the schedule time, and that pair is the fire's unique key, written by
// the insert that creates the run (store_triggers.go): a schedule time never starts two
// runs, across restarts too.
//
// Missed schedule times: when the scheduler looks at a trigger (at Open, after a reload or a
// switch, at each wake-up), it fires only the most recent schedule time that has passed, if
// that is later than the last one it fired and than the moment the trigger became active.
// So after downtime (or a stalled machine) a trigger fires at most once to catch up, for its
// most recent missed time, and a trigger that was off fires for nothing it missed: switched
// on at 10:30, a trigger does not fire for 10:00.
//
// Daylight saving: a time the clocks skip does not fire that night (robfig/cron's rule);
// a time in the hour they repeat fires once, the first time, as cron does (see armed.wall).
//
// The state: a trigger is active as declared (active:) until activate_trigger or
// deactivate_trigger switches it; that state is stored and wins over the declaration, across
// restarts and reloads, until the trigger's declaration changes in the workspace file (any
// of its keys, active: included): then the declared state applies again, as the newer word.
// A trigger whose declaration changes (or that is new) counts as active from the reload
// that brings it, never firing for earlier times.

// maxSleep bounds one sleep of the scheduler: timers run on the monotonic clock, which stops
// while a machine is suspended, and the wall clock can be set; the scheduler looks at the
// wall clock again at least this often.
const maxSleep = time.Minute

type scheduler struct {
	b     *Backend
	clock Clock
	log   *slog.Logger

	// mu guards triggers and order, and serializes state changes (reload, set), each of
	// which writes the store before it changes the map.
	mu       sync.Mutex
	triggers map[triggerKey]*armed
	order    []triggerKey // the workspace's order: fires of one instant go in file order

	wake     chan struct{} // a state change: look at the triggers again
	stopc    chan struct{}
	done     chan struct{}
	started  bool
	stopOnce sync.Once
}

// armed is a trigger as the scheduler holds it.
type armed struct {
	*trigger
	ws     *workspace // the workspace that declared it: its task is looked up there
	active bool
	// cursor: schedule times at or before it are done (fired, or before the trigger became
	// active). wall is the latest wall-clock time (in the trigger's zone) it has reached:
	// when the clocks go back, the times of the hour they repeat are not fired again.
	cursor time.Time
	wall   string
}

// advance moves the cursor to t when t is later.
func (a *armed) advance(t time.Time) {
	if t.After(a.cursor) {
		a.cursor = t
	}
	if w := wallClock(t, a.Location); w > a.wall {
		a.wall = w
	}
}

func newScheduler(b *Backend, clock Clock, log *slog.Logger) *scheduler {
	return &scheduler{b: b, clock: clock, log: log, triggers: map[triggerKey]*armed{},
		wake: make(chan struct{}, 1), stopc: make(chan struct{}), done: make(chan struct{})}
}

func (s *scheduler) start() {
	s.started = true
	select { // the first look at the triggers takes in the state changes made before
	case <-s.wake:
	default:
	}
	go s.run()
}

// stop stops the scheduler and waits for a fire in progress to be stored. Safe to call
// twice.
func (s *scheduler) stop() {
	s.stopOnce.Do(func() {
		close(s.stopc)
		if s.started {
			<-s.done
		}
	})
}

func (s *scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// reload takes the triggers of ws: it records their state in the store (see
// reconcileTriggers), then calls swap (which installs ws as the backend's workspace; nil at
// Open), then arms them. When the store cannot record the state, nothing changes and swap is
// not called.
func (s *scheduler) reload(ctx context.Context, ws *workspace, swap func()) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	decls := make([]triggerDecl, len(ws.triggers))
	for i, tr := range ws.triggers {
		decls[i] = triggerDecl{Key: tr.key(), Declaration: tr.Declaration, Active: tr.Active}
	}
	states, err := s.b.st.reconcileTriggers(ctx, decls, s.clock.Now().UnixNano())
	if err != nil {
		return err
	}
	if swap != nil {
		swap()
	}
	next := make(map[triggerKey]*armed, len(ws.triggers))
	order := make([]triggerKey, 0, len(ws.triggers))
	for _, tr := range ws.triggers {
		k := tr.key()
		st := states[k]
		a := &armed{trigger: tr, ws: ws, active: st.Active}
		a.advance(unixTime(st.ActiveSince))
		if old := s.triggers[k]; old != nil && old.Declaration == tr.Declaration {
			a.advance(old.cursor) // what this process fired already
			a.wall = max(a.wall, old.wall)
		}
		if st.Reset {
			s.log.Info("trigger declaration changed: its declared state applies again, replacing the one set through the API",
				"trigger", k.String(), "active", st.Active)
		}
		next[k] = a
		order = append(order, k)
	}
	s.triggers, s.order = next, order
	s.poke()
	return nil
}

// set switches a trigger on or off (Backend.SetTriggerActive).
func (s *scheduler) set(ctx context.Context, ref controlplane.TriggerRef, active bool) (controlplane.Trigger, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := triggerKey{ref.TaskName, ref.Name}
	a := s.triggers[k]
	if a == nil || ref.Domain != "" && ref.Domain != a.Task.domain || ref.Project != "" && ref.Project != a.Task.project {
		return controlplane.Trigger{}, time.Time{}, controlplane.Errorf(controlplane.CodeNotFound, "trigger %q of task %q not found", ref.Name, ref.TaskName)
	}
	st, ok, err := s.b.st.setTriggerActive(ctx, triggerSwitch{Key: k, Declaration: a.Declaration, Active: active, At: s.clock.Now().UnixNano()})
	if err != nil {
		return controlplane.Trigger{}, time.Time{}, err
	}
	if !ok { // reconciled under s.mu: the row is there for this declaration
		return controlplane.Trigger{}, time.Time{}, controlplane.Errorf(controlplane.CodeInternal, "local: trigger %s has no stored state", k)
	}
	a.active = st.Active
	a.advance(unixTime(st.ActiveSince))
	var next time.Time
	if a.active {
		next = a.Schedule.Next(laterOf(s.clock.Now(), a.cursor))
	}
	s.poke()
	return controlplane.Trigger{TaskName: k.Task, Name: k.Name, Active: a.active}, next, nil
}

// run fires what is due, sleeps until the next schedule time (at most maxSleep) or a state
// change, and again, until stop.
func (s *scheduler) run() {
	defer close(s.done)
	for {
		next := s.fireDue(s.clock.Now())
		d := maxSleep
		if !next.IsZero() {
			d = min(d, next.Sub(s.clock.Now()))
		}
		t := s.clock.NewTimer(d)
		select {
		case <-s.stopc:
			t.Stop()
			return
		case <-s.wake:
			t.Stop()
		case <-t.C():
		}
	}
}

type due struct {
	a  *armed
	at time.Time
}

// fireDue fires, for each active trigger, its most recent schedule time at or before now
// when that is past its cursor, and returns the earliest next schedule time of the active
// triggers (zero when none is active).
func (s *scheduler) fireDue(now time.Time) time.Time {
	s.mu.Lock()
	var fires []due
	var next time.Time
	for _, k := range s.order {
		a := s.triggers[k]
		if !a.active {
			continue
		}
		if at := prevTime(a.Schedule, now); !at.IsZero() && at.After(a.cursor) {
			// When the clocks go back, the hour they repeat has its schedule times twice
			// (01:30 EDT, then 01:30 EST): they fire once, the first time.
			if wallClock(at, a.Location) > a.wall {
				fires = append(fires, due{a, at})
			}
			a.advance(at)
		}
		if n := a.Schedule.Next(laterOf(now, a.cursor)); !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	s.mu.Unlock()
	for _, f := range fires {
		s.fire(f.a, f.at, now)
	}
	return next
}

// fire starts the run of one schedule time. A fire that fails is logged and not tried again
// by this process (the next start tries the most recent schedule time again, see above).
func (s *scheduler) fire(a *armed, at, now time.Time) {
	b := s.b
	k := a.key()
	log := s.log.With("trigger", k.String(), "scheduled_at", at.UTC().Format(time.RFC3339))
	if late := now.Sub(at); late >= maxSleep {
		log.Info("trigger missed its schedule time; one catch-up run for the most recent one", "late_s", int64(late.Seconds()))
	}
	_, reg := b.workspace()
	t, err := a.ws.lookup(controlplane.TaskRef{Domain: a.Task.domain, Project: a.Task.project, Name: a.Task.name, Version: a.Version}, reg)
	if err != nil {
		log.Error("trigger cannot fire", "error", err.Error())
		return
	}
	// Checked when the workspace loaded, for every version it may fire: this cannot fail
	// unless that check is wrong.
	inputs, err := bindInputs(t, withKickoff(a.Inputs, a.KickoffInput, at.In(a.Location)))
	if err != nil {
		log.Error("trigger cannot fire", "error", err.Error())
		return
	}
	js, err := json.Marshal(inputs)
	if err != nil {
		log.Error("trigger cannot fire", "error", err.Error())
		return
	}
	row := runRow{
		Name: newRunName(), Kind: string(controlplane.KindTask),
		Domain: t.Ref.Domain, Project: t.Ref.Project, Task: t.Ref.Name, Version: t.Ref.Version,
		Phase: controlplane.PhaseQueued, Inputs: string(js), CreatedAt: s.clock.Now().UnixNano(),
		Trigger: a.Name, ScheduledAt: at.UnixNano(), Caller: triggerCaller(k).Subject,
	}
	inserted, err := b.st.insertTriggerRun(b.root, row)
	switch {
	case err != nil:
		if b.root.Err() == nil {
			log.Error("trigger fire not stored; no run started", "error", err.Error())
		}
		return
	case !inserted:
		log.Debug("trigger fired for this schedule time already")
		return
	}
	b.logAccepted(context.Background(), row, triggerCaller(k), false, a.Name)
	b.queue.push(row.Name)
}

// triggerCaller is who starts a trigger's runs: the trigger itself, a system actor.
func triggerCaller(k triggerKey) controlplane.Identity {
	return controlplane.Identity{Subject: "trigger:" + k.String(), Name: "trigger " + k.String()}
}

// prevTime returns the most recent time of the schedule at or before now (zero when there is
// none in the last five years). It looks back over growing windows, so that it walks only
// a few schedule times whatever the schedule.
func prevTime(sched *cron.SpecSchedule, now time.Time) time.Time {
	const day = 24 * time.Hour
	for _, w := range []time.Duration{time.Minute, time.Hour, day, 32 * day, 367 * day, 5 * 367 * day} {
		t := sched.Next(now.Add(-w))
		if t.IsZero() || t.After(now) {
			continue
		}
		for {
			n := sched.Next(t)
			if n.IsZero() || n.After(now) {
				return t
			}
			t = n
		}
	}
	return time.Time{}
}

// wallClock is t as the clocks in loc show it, in a form that sorts as time does.
func wallClock(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02T15:04:05")
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
