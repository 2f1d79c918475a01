package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	client "github.com/flyte-webhook/flyte-webhook/clients/go"
	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// startRun starts task with inputs and returns the run's name.
func startRun(t *testing.T, c *client.ClientWithResponses, task string, in client.Inputs) string {
	t.Helper()
	res, err := c.RunTaskWithResponse(ctxT(t), dom, proj, task, nil, in)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.ErrorOf(res); err != nil {
		t.Fatal(err)
	}
	return res.JSON200.Name
}

// collect reads a whole stream; it fails the test on an error.
func collect(t *testing.T, seq func(func(client.RunEvent, error) bool)) []client.RunEvent {
	t.Helper()
	var out []client.RunEvent
	for ev, err := range seq {
		if err != nil {
			t.Fatalf("after %d events (%s): %v", len(out), describe(out), err)
		}
		out = append(out, ev)
	}
	return out
}

func describe(evs []client.RunEvent) string {
	var b strings.Builder
	for i, ev := range evs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(deref(ev.Id) + " " + string(ev.Type))
		switch {
		case ev.Phase != nil:
			b.WriteString(" " + string(*ev.Phase))
		case ev.Line != nil:
			b.WriteString(" " + *ev.Line)
		}
	}
	return b.String()
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// checkOrdered fails unless every event has an id, each after the one before (positions:
// attempt.stage.seq), and the last is the end.
func checkOrdered(t *testing.T, evs []client.RunEvent) {
	t.Helper()
	if len(evs) == 0 || evs[len(evs)-1].Type != client.RunEventEnd {
		t.Fatalf("want events ending with end, got %s", describe(evs))
	}
	var prev controlplane.EventPosition
	for i, ev := range evs {
		pos, err := controlplane.ParseEventPosition(deref(ev.Id))
		if err != nil || ev.Id == nil {
			t.Fatalf("event %d (%s): id: %v", i, describe(evs), err)
		}
		if i > 0 && !pos.After(prev) {
			t.Fatalf("event %d is not after the one before (a repeat or out of order): %s", i, describe(evs))
		}
		prev = pos
	}
}

func TestWatchRun(t *testing.T) {
	t.Parallel()
	s := startServer(t, impl.Config{}, nil, "")
	c := newClient(t, s, s.Token)
	run := startRun(t, c, "greet", client.Inputs{"name": "Ada"})

	evs := collect(t, client.WatchRun(ctxT(t), c, run, &client.WatchRunParams{Logs: ptr(true)}, nil))
	checkOrdered(t, evs)
	end := evs[len(evs)-1]
	if deref(end.Phase) != client.Succeeded || !deref(end.Done) || end.Outputs == nil || (*end.Outputs)["greeting"] != "Hello, Ada!" {
		t.Errorf("end event: %s, outputs %v", describe(evs[len(evs)-1:]), deref(end.Outputs))
	}
	var types []string
	logged := false
	for _, ev := range evs {
		if ev.Run != run {
			t.Errorf("event of run %q, want %q", ev.Run, run)
		}
		types = append(types, string(ev.Type))
		logged = logged || (ev.Type == client.RunEventLog && deref(ev.Line) == "Hello, Ada!")
	}
	for _, want := range []client.RunEventType{client.RunEventPhase, client.RunEventAttemptStarted, client.RunEventAttemptEnded} {
		if !strings.Contains(strings.Join(types, " "), string(want)) {
			t.Errorf("no %s event: %s", want, describe(evs))
		}
	}
	if !logged {
		t.Errorf("no log event with the greeting: %s", describe(evs))
	}

	t.Run("resumes after a given id with the rest, exactly", func(t *testing.T) {
		for i := range evs {
			rest := collect(t, client.WatchRun(ctxT(t), c, run, &client.WatchRunParams{Logs: ptr(true), LastEventID: evs[i].Id}, nil))
			if got, want := describe(rest), describe(evs[i+1:]); got != want {
				t.Errorf("after %s: got %q, want %q", deref(evs[i].Id), got, want)
			}
		}
	})
	t.Run("without logs", func(t *testing.T) {
		for _, ev := range collect(t, client.WatchRun(ctxT(t), c, run, nil, nil)) {
			if ev.Type == client.RunEventLog {
				t.Errorf("a log event without logs=true: %s", describe([]client.RunEvent{ev}))
			}
		}
	})
}

func TestWatchRunErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t, impl.Config{}, nil, "")
	c := newClient(t, s, s.Token)
	for _, tc := range []struct {
		name   string
		run    string
		params *client.WatchRunParams
		token  string
		status int
	}{
		{"unknown run", "r-nosuchrun", nil, s.Token, http.StatusNotFound},
		{"bad Last-Event-ID", "r-nosuchrun", &client.WatchRunParams{LastEventID: ptr("x")}, s.Token, http.StatusUnprocessableEntity},
		{"no credentials", "r-nosuchrun", nil, "", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := c
			if tc.token == "" {
				cc = newClient(t, s, "")
			}
			n := 0
			for ev, err := range client.WatchRun(ctxT(t), cc, tc.run, tc.params, &client.StreamOptions{Retries: 2, Backoff: time.Millisecond}) {
				n++
				var p *client.Problem
				if !errors.As(err, &p) || p.Status != tc.status {
					t.Fatalf("got %v (event %s), want a *Problem with status %d", err, describe([]client.RunEvent{ev}), tc.status)
				}
			}
			if n != 1 {
				t.Errorf("the sequence yielded %d times, want once (the error)", n)
			}
		})
	}
}

// TestWatchRunEnded: a watch after the end event answers 204, which ends the sequence with
// no event and no error.
func TestWatchRunEnded(t *testing.T) {
	t.Parallel()
	s := startServer(t, impl.Config{}, nil, "")
	c := newClient(t, s, s.Token)
	run := startRun(t, c, "noop", client.Inputs{})
	evs := collect(t, client.WatchRun(ctxT(t), c, run, nil, nil))
	checkOrdered(t, evs)
	res, err := c.WatchRunWithResponse(ctxT(t), run, &client.WatchRunParams{LastEventID: evs[len(evs)-1].Id})
	if err != nil || res.StatusCode() != http.StatusNoContent {
		t.Fatalf("watch_run after the end: %v %v, want 204", err, res.StatusCode())
	}
	if rest := collect(t, client.WatchRun(ctxT(t), c, run, &client.WatchRunParams{LastEventID: evs[len(evs)-1].Id}, nil)); len(rest) != 0 {
		t.Errorf("after the end: %s, want nothing", describe(rest))
	}
}

// TestWatchRunHeartbeats: a run quiet for longer than the heartbeat gets comment lines,
// which the watcher skips (and which keep an idle timeout shorter than the silence from
// dropping the connection).
func TestWatchRunHeartbeats(t *testing.T) {
	t.Parallel()
	s := startServer(t, impl.Config{Heartbeat: 20 * time.Millisecond}, nil, "")
	streams := &streamLog{}
	hc := &http.Client{Transport: contractTransport{t: t, next: http.DefaultTransport, streams: streams}}
	c, err := client.New(s.URL, s.Token, client.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	run := startRun(t, c, "slow", client.Inputs{"seconds": 1})
	evs := collect(t, client.WatchRun(ctxT(t), c, run, nil, &client.StreamOptions{IdleTimeout: 500 * time.Millisecond, Retries: -1}))
	checkOrdered(t, evs)
	if got := streams.text(); !strings.Contains(got, "\n: heartbeat\n") {
		t.Fatalf("the stream had no heartbeat (the test proves nothing):\n%s", got)
	}
	if got := strings.Count(streams.text(), "\nevent: "); got != len(evs) {
		t.Errorf("the stream had %d events, the watcher yielded %d: %s", got, len(evs), describe(evs))
	}
}

// TestWatchRunCancel: ending ctx ends the sequence at once with ctx's error, and leaves no
// goroutine of the client behind. Not parallel: the other tests' watchers would show in
// the goroutine dump (parallel tests wait until the serial ones are done).
func TestWatchRunCancel(t *testing.T) {
	s := startServer(t, impl.Config{}, nil, "")
	c := newClient(t, s, s.Token)
	run := startRun(t, c, "slow", client.Inputs{"seconds": 120})
	t.Cleanup(func() { _, _ = c.AbortRunWithResponse(context.Background(), run, nil) })

	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	var got []client.RunEvent
	var last error
	for ev, err := range client.WatchRun(ctx, c, run, nil, nil) {
		if err != nil {
			last = err
			continue
		}
		got = append(got, ev)
		if ev.Type == client.RunEventPhase && deref(ev.Phase) == client.Running {
			cancel() // the run goes on for two minutes: only ctx ends this
		}
	}
	if !errors.Is(last, context.Canceled) {
		t.Fatalf("after %s: the last error is %v, want context.Canceled", describe(got), last)
	}
	var b strings.Builder
	if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil {
		t.Fatal(err)
	}
	for _, g := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(g, "clients/go.WatchRun") || strings.Contains(g, "clients/go.connectOnce") {
			t.Errorf("a goroutine of the watcher is left:\n%s", g)
		}
	}
}

// restartable is a webhook on a fixed address and data dir that can be stopped (as the
// binary stops: streams get a reconnect event, then the backend closes and interrupts its
// runs, here without waiting for them) and started again.
type restartable struct {
	t       *testing.T
	addr    string
	dataDir string
	token   string
	cfg     impl.Config
	stop    func()
}

func (r *restartable) start() {
	t := r.t
	b, err := openBackend(r.dataDir, r.token)
	if err != nil {
		t.Fatal(err)
	}
	stopping, stop := context.WithCancel(context.Background())
	cfg := r.cfg
	cfg.Stopping = stopping
	h, err := impl.NewHandler(cfg, b)
	if err != nil {
		t.Fatal(err)
	}
	var l net.Listener
	for i := 0; ; i++ { // the port was ours a moment ago; another process may hold it briefly
		if l, err = net.Listen("tcp", r.addr); err == nil || i == 100 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(h)
	ts.Listener.Close()
	ts.Listener = l
	ts.Start()
	r.addr = l.Addr().String()
	r.stop = func() {
		stop()
		ts.Close()
		// No drain: the running attempts are interrupted at once (and queued again).
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := b.Close(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Error(err)
		}
	}
}

// TestWatchRunResumesAcrossRestart: the server stops in the middle of a stream and starts
// again on the same data dir; the watcher reconnects with the last id and the events go on
// from there to the end, nothing repeated and nothing lost (the same list a watch from the
// start gives afterwards).
func TestWatchRunResumesAcrossRestart(t *testing.T) {
	t.Parallel()
	tok, _, err := identity.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	r := &restartable{t: t, addr: "127.0.0.1:0", dataDir: t.TempDir(), token: tok}
	r.start()
	defer func() { r.stop() }()
	url := "http://" + r.addr
	streams := &streamLog{}
	hc := &http.Client{Transport: contractTransport{t: t, next: http.DefaultTransport, streams: streams}}
	c, err := client.New(url, tok, client.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	run := startRun(t, c, "slow", client.Inputs{"seconds": 2})

	type item struct {
		ev  client.RunEvent
		err error
	}
	ch := make(chan item)
	go func() {
		defer close(ch)
		for ev, err := range client.WatchRun(ctxT(t), c, run, &client.WatchRunParams{Logs: ptr(true)}, &client.StreamOptions{Backoff: 50 * time.Millisecond}) {
			ch <- item{ev, err}
		}
	}()
	var got []client.RunEvent
	restarted := false
	for it := range ch {
		if it.err != nil {
			t.Fatalf("after %s: %v", describe(got), it.err)
		}
		got = append(got, it.ev)
		if !restarted && it.ev.Type == client.RunEventLog {
			// The attempt is running and has written its first line: stop the server
			// under the stream, and start it again.
			restarted = true
			r.stop()
			r.start()
		}
	}
	if !restarted {
		t.Fatalf("the run ended before a log line: %s", describe(got))
	}
	checkOrdered(t, got)
	if !strings.Contains(streams.text(), "event: reconnect") {
		t.Errorf("the first stream did not end with a reconnect event:\n%s", streams.text())
	}
	interrupted := false
	for _, ev := range got {
		interrupted = interrupted || (ev.Type == client.RunEventAttemptEnded && deref(ev.Outcome) == "interrupted")
	}
	if !interrupted {
		t.Errorf("no attempt was interrupted by the restart: %s", describe(got))
	}
	all := collect(t, client.WatchRun(ctxT(t), c, run, &client.WatchRunParams{Logs: ptr(true)}, nil))
	if describe(got) != describe(all) {
		t.Errorf("across the restart the watcher got\n%s\nbut the run's whole history is\n%s", describe(got), describe(all))
	}
}

func TestFollowRunLogs(t *testing.T) {
	t.Parallel()
	s := startServer(t, impl.Config{}, nil, "")
	c := newClient(t, s, s.Token)
	run := startRun(t, c, "greet", client.Inputs{"name": "Bo", "times": 2})

	evs := collect(t, client.FollowRunLogs(ctxT(t), c, run, nil, nil))
	if len(evs) == 0 || evs[len(evs)-1].Type != client.RunEventEnd {
		t.Fatalf("want the log's events ending with end, got %s", describe(evs))
	}
	var lines []string
	for _, ev := range evs {
		switch ev.Type {
		case client.RunEventPhase:
			t.Errorf("a phase event in a followed log: %s", describe(evs))
		case client.RunEventLog:
			lines = append(lines, deref(ev.Line))
		}
	}
	if got := strings.Join(lines, "\n"); got != "Hello, Bo! Hello, Bo!" {
		t.Errorf("followed lines %q", got)
	}

	// The plain text answer: the same lines.
	res, err := c.GetRunLogsWithResponse(ctxT(t), run, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.ErrorOf(res); err != nil {
		t.Fatal(err)
	}
	if got := string(res.Body); got != "Hello, Bo! Hello, Bo!\n" || !strings.HasPrefix(res.ContentType(), "text/plain") {
		t.Errorf("get_run_logs: %q (%s)", got, res.ContentType())
	}

	// Following again after the end event: 204, nothing.
	if rest := collect(t, client.FollowRunLogs(ctxT(t), c, run, &client.GetRunLogsParams{LastEventID: evs[len(evs)-1].Id}, nil)); len(rest) != 0 {
		t.Errorf("after the end: %s", describe(rest))
	}
	// An unknown run: the 404 problem.
	for _, err := range client.FollowRunLogs(ctxT(t), c, "r-nosuchrun", nil, nil) {
		var p *client.Problem
		if !errors.As(err, &p) || p.Status != http.StatusNotFound {
			t.Errorf("unknown run: %v, want a 404 problem", err)
		}
	}
}

// statusCounter counts the answers of each status that pass through it.
type statusCounter struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen map[int]int
}

func (s *statusCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := s.next.RoundTrip(req)
	if err == nil {
		s.mu.Lock()
		s.seen[res.StatusCode]++
		s.mu.Unlock()
	}
	return res, err
}

func (s *statusCounter) count(status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[status]
}

// TestWatchRunTooManyStreams: a 503 (the server's bound on open streams) is retried after
// its Retry-After (capped by MaxBackoff) until a stream is free; without retries it is the
// error, a *Problem.
func TestWatchRunTooManyStreams(t *testing.T) {
	t.Parallel()
	s := startServer(t, impl.Config{MaxStreams: 1}, nil, "")
	counter := &statusCounter{next: contractTransport{t: t, next: http.DefaultTransport}, seen: map[int]int{}}
	c, err := client.New(s.URL, s.Token, client.WithHTTPClient(&http.Client{Transport: counter}))
	if err != nil {
		t.Fatal(err)
	}
	run := startRun(t, c, "slow", client.Inputs{"seconds": 120})
	t.Cleanup(func() { _, _ = c.AbortRunWithResponse(context.Background(), run, nil) })

	// The one stream the server allows, held open.
	held, err := c.WatchRun(ctxT(t), run, nil)
	if err != nil || held.StatusCode != http.StatusOK {
		t.Fatalf("the first stream: %v %v", err, held)
	}
	t.Cleanup(func() { held.Body.Close() })

	for ev, err := range client.WatchRun(ctxT(t), c, run, nil, &client.StreamOptions{Retries: -1}) {
		var p *client.Problem
		if !errors.As(err, &p) || p.Status != http.StatusServiceUnavailable {
			t.Fatalf("without retries: %v (%s), want the 503 problem", err, describe([]client.RunEvent{ev}))
		}
	}

	// With retries: the watcher waits; once the held stream closes, it gets its turn.
	go func() {
		for counter.count(http.StatusServiceUnavailable) < 3 {
			time.Sleep(10 * time.Millisecond)
		}
		held.Body.Close()
	}()
	for ev, err := range client.WatchRun(ctxT(t), c, run, nil, &client.StreamOptions{Retries: 1000, MaxBackoff: 20 * time.Millisecond}) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == client.RunEventPhase && deref(ev.Phase) == client.Running {
			break
		}
	}
	if n := counter.count(http.StatusServiceUnavailable); n < 3 {
		t.Errorf("%d answers were 503, want at least 3 (the test proves nothing)", n)
	}
}

// TestWatchRunIdleTimeout: a connection silent for longer than IdleTimeout (no heartbeat
// comes within it here) is replaced by a new one after the last id, and the events still come
// whole, once each.
func TestWatchRunIdleTimeout(t *testing.T) {
	t.Parallel()
	s := startServer(t, impl.Config{}, nil, "") // heartbeats every 15 s: none within the test
	streams := &streamLog{}
	hc := &http.Client{Transport: contractTransport{t: t, next: http.DefaultTransport, streams: streams}}
	c, err := client.New(s.URL, s.Token, client.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	run := startRun(t, c, "slow", client.Inputs{"seconds": 1}) // a second without an event
	opts := &client.StreamOptions{IdleTimeout: 200 * time.Millisecond, Retries: 100, Backoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}
	evs := collect(t, client.WatchRun(ctxT(t), c, run, nil, opts))
	checkOrdered(t, evs)
	streams.mu.Lock()
	n := len(streams.all)
	streams.mu.Unlock()
	if n < 2 {
		t.Errorf("%d connections: the idle timeout never replaced one (the test proves nothing)", n)
	}
	if all := collect(t, client.WatchRun(ctxT(t), c, run, nil, nil)); describe(all) != describe(evs) {
		t.Errorf("with idle reconnections: %s, the whole history: %s", describe(evs), describe(all))
	}
}
