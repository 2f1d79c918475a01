package impl_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/api/apitest"
	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// The waits (get_run and run_task with `wait`) and the event streams (watch_run,
// get_run_logs with follow) through the whole stack, over the fake backend's scripted runs
// (fake_follow_test.go). Streams that end are read whole by call() and validated against
// openapi.yaml like every answer; live ones are read event by event and each event's data
// validated against the RunEvent schema.

// waitingFor makes the fake say when a watch of run has nothing to tell and waits, and
// returns a func that blocks until one does (bounded, generously).
func waitingFor(t *testing.T, f *fakeBackend, run string) func() {
	fs := f.follow()
	fs.fmu.Lock()
	if fs.waiting == nil {
		fs.waiting = make(chan string, 64)
	}
	ch := fs.waiting
	fs.fmu.Unlock()
	return func() {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case name := <-ch:
				if name == run {
					return
				}
			case <-deadline:
				t.Fatalf("no watch of %s waited", run)
			}
		}
	}
}

// async runs a call in the background; the returned func waits for its answer.
func async(t *testing.T, s *testServer, method, target string, body any) func() response {
	done := make(chan response, 1)
	go func() { done <- s.call(t, method, target, body, nil) }()
	return func() response {
		select {
		case r := <-done:
			return r
		case <-time.After(30 * time.Second):
			t.Fatalf("%s %s did not answer", method, target)
			return response{}
		}
	}
}

func TestWaitAnswersAtCompletion(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{})
	s.fake.advance("r-wait", runningScript("r-wait")...)
	waited := waitingFor(t, s.fake, "r-wait")
	answer := async(t, s, "GET", "/run/r-wait?wait=60s", nil)
	waited()
	s.fake.advance("r-wait", finishScript("r-wait")...)
	r := answer()
	expectStatus(t, r, http.StatusOK)
	expectJSON(t, r, map[string]any{"name": "r-wait", "phase": "succeeded", "done": true})
	if n := s.fake.openWatches(); n != 0 {
		t.Errorf("%d watches left open after the wait", n)
	}
}

// TestWaitOutlivesWriteTimeout: a wait longer than the server's write timeout still
// answers (the wait moves the connection's write deadline past itself).
func TestWaitOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	s := newServerTimeouts(t, impl.Config{WriteTimeout: 50 * time.Millisecond}, func(hs *http.Server) { hs.WriteTimeout = 50 * time.Millisecond })
	s.fake.advance("r-wait", runningScript("r-wait")...)
	waited := waitingFor(t, s.fake, "r-wait")
	answer := async(t, s, "GET", "/run/r-wait?wait=60s", nil)
	waited()
	time.Sleep(150 * time.Millisecond) // well past the write timeout
	s.fake.advance("r-wait", finishScript("r-wait")...)
	expectJSON(t, answer(), map[string]any{"phase": "succeeded", "done": true})
}

func TestWaitEndsFirst(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{MaxWait: 50 * time.Millisecond})
	// A wait that ends before the run does answers the run as it is.
	r := s.call(t, "GET", "/run/r-running?wait=20ms", nil, nil)
	expectStatus(t, r, http.StatusOK)
	expectJSON(t, r, map[string]any{"name": "r-running", "phase": "running", "done": false})
	// true is the configured maximum, and a longer wait is cut to it: both answer.
	for _, w := range []string{"true", "1h", "3600", "999999999h"} {
		r = s.call(t, "GET", "/run/r-running?wait="+w, nil, nil)
		expectStatus(t, r, http.StatusOK)
		expectJSON(t, r, map[string]any{"done": false})
	}
	// A finished run answers at once, without a watch.
	before := s.fake.count("WatchRun")
	expectJSON(t, s.call(t, "GET", "/run/r-done?wait=60s", nil, nil), map[string]any{"phase": "succeeded", "done": true})
	if s.fake.count("WatchRun") != before {
		t.Error("a wait for a finished run watched it")
	}
	// wait=false and wait=0 are no wait.
	before = s.fake.count("WatchRun")
	for _, w := range []string{"false", "0", "0s"} {
		expectJSON(t, s.call(t, "GET", "/run/r-running?wait="+w, nil, nil), map[string]any{"done": false})
	}
	if s.fake.count("WatchRun") != before {
		t.Error("wait=false or 0 watched the run")
	}
	for _, bad := range []string{"soon", "-1s", "1d", "true,false", ""} {
		if bad == "" {
			continue
		}
		r := s.call(t, "GET", "/run/r-running?wait="+bad, nil, nil)
		expectStatus(t, r, http.StatusUnprocessableEntity)
	}
}

func TestRunTaskWait(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{})
	s.fake.advance("r-new", runningScript("r-new")...)
	waited := waitingFor(t, s.fake, "r-new")
	answer := async(t, s, "POST", "/run-task/development/flytesnacks/greet?wait=60s", map[string]any{"name": "Ada"})
	waited()
	s.fake.advance("r-new", finishScript("r-new")...)
	r := answer()
	expectStatus(t, r, http.StatusOK)
	expectJSON(t, r, map[string]any{"name": "r-new", "url": "http://x/run/r-new", "phase": "succeeded", "done": true,
		"outputs": map[string]any{"greeting": "hello Ada"}})

	// A wait that ends first: the phase, not done, outputs null.
	s2 := newServer(t, impl.Config{})
	s2.fake.advance("r-new", runningScript("r-new")...)
	r = s2.call(t, "POST", "/run-task/development/flytesnacks/greet?wait=10ms", map[string]any{"name": "Ada"}, nil)
	expectStatus(t, r, http.StatusOK)
	expectJSON(t, r, map[string]any{"name": "r-new", "phase": "running", "done": false, "outputs": nil})
	if _, ok := r.JSON["outputs"]; !ok {
		t.Error("outputs absent; want null while the run has not succeeded")
	}
	// Without wait the answer is the seed's: url and name only.
	r = s2.call(t, "POST", "/run-task/development/flytesnacks/greet", map[string]any{"name": "Ada"}, nil)
	for _, k := range []string{"phase", "done", "outputs"} {
		if _, ok := r.JSON[k]; ok {
			t.Errorf("run_task without wait answers %s", k)
		}
	}
}

// TestWaitOnShutdown: a wait answers at once, with the run as it is, when the server starts
// to stop; a stream ends with a reconnect event.
func TestWaitOnShutdown(t *testing.T) {
	t.Parallel()
	stopping, stop := context.WithCancel(context.Background())
	defer stop()
	s := newServer(t, impl.Config{Stopping: stopping})
	waited := waitingFor(t, s.fake, "r-running")
	answer := async(t, s, "GET", "/run/r-running?wait=60s", nil)
	waited()
	res, br := openStream(t, s, "/run/r-running/events", nil)
	defer res.Body.Close()
	readUntil(t, br, func(ev apitest.Event) bool { return ev.Type == "phase" && strings.Contains(string(ev.Data), "running") })
	stop()
	r := answer()
	expectStatus(t, r, http.StatusOK)
	expectJSON(t, r, map[string]any{"phase": "running", "done": false})
	last := readUntil(t, br, func(ev apitest.Event) bool { return ev.Type == "reconnect" })
	if last.ID != "" {
		t.Errorf("the reconnect event has id %q: it would move the client's Last-Event-ID", last.ID)
	}
	if _, err := br.ReadString('\n'); err != io.EOF {
		t.Errorf("after the reconnect event the stream goes on (%v)", err)
	}
}

func TestWatchRun(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{})
	r := s.call(t, "GET", "/run/r-done/events", nil, nil)
	expectStatus(t, r, http.StatusOK)
	if ct := r.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	events := parseEvents(t, r.Body)
	if got := types(events); got != "phase attempt_started phase attempt_ended phase end" {
		t.Errorf("events %s", got)
	}
	end := decode(t, events[len(events)-1])
	if end["phase"] != "succeeded" || end["done"] != true || !equalJSON(end["outputs"], map[string]any{"greeting": "hello Ada"}) {
		t.Errorf("end event %v", end)
	}

	withLogs := parseEvents(t, s.call(t, "GET", "/run/r-done/events?logs=true", nil, nil).Body)
	if got := types(withLogs); got != "phase attempt_started phase log log attempt_ended phase end" {
		t.Errorf("with logs: %s", got)
	}
	if line := decode(t, withLogs[3]); line["line"] != "hello Ada" || line["stream"] != "stdout" || line["attempt"] != 1.0 {
		t.Errorf("log event %v", line)
	}

	// Resuming after each event gives exactly the events after it.
	for i, ev := range withLogs[:len(withLogs)-1] {
		rest := parseEvents(t, s.call(t, "GET", "/run/r-done/events?logs=true", nil, map[string]string{"Last-Event-ID": ev.ID}).Body)
		if got, want := types(rest), types(withLogs[i+1:]); got != want {
			t.Errorf("after %s: %s, want %s", ev.ID, got, want)
		}
	}
	// After the last event there is nothing more: 204, which stops an EventSource.
	r = s.call(t, "GET", "/run/r-done/events", nil, map[string]string{"Last-Event-ID": withLogs[len(withLogs)-1].ID})
	expectStatus(t, r, http.StatusNoContent)

	expectStatus(t, s.call(t, "GET", "/run/r-nope/events", nil, nil), http.StatusNotFound)
	expectStatus(t, s.call(t, "GET", "/run/r-done/events", nil, map[string]string{"Last-Event-ID": "one"}), http.StatusUnprocessableEntity)
	expectStatus(t, s.call(t, "GET", "/run/r-done/events", nil, map[string]string{"Last-Event-ID": "1.2.99999999999999999999"}), http.StatusUnprocessableEntity)
	if n := s.fake.openWatches(); n != 0 {
		t.Errorf("%d watches left open", n)
	}
}

// TestWatchRunLive: events come as they happen; heartbeats keep an idle stream open; the
// server's write and read timeouts do not cut it.
func TestWatchRunLive(t *testing.T) {
	t.Parallel()
	s := newServerTimeouts(t, impl.Config{Heartbeat: 10 * time.Millisecond}, func(hs *http.Server) {
		hs.WriteTimeout, hs.ReadTimeout = 50*time.Millisecond, 50*time.Millisecond
	})
	s.fake.advance("r-live", runningScript("r-live")...)
	res, br := openStream(t, s, "/run/r-live/events", nil)
	defer res.Body.Close()
	readUntil(t, br, func(ev apitest.Event) bool { return ev.Type == "phase" && strings.Contains(string(ev.Data), "running") })
	// Heartbeats for well past both server timeouts (20 of them, 10 ms apart at least).
	for i := 0; i < 20; i++ {
		if line := readComment(t, br); line != ": heartbeat" {
			t.Fatalf("want a heartbeat, got %q", line)
		}
	}
	s.fake.advance("r-live", finishScript("r-live")...)
	end := readUntil(t, br, func(ev apitest.Event) bool { return ev.Type == "end" })
	if d := decode(t, end); d["phase"] != "succeeded" {
		t.Errorf("end %v", d)
	}
}

// TestSlowReaderDropped: a reader that stops reading is dropped when a write does not go
// through within the stream's write timeout; nothing piles up for it.
func TestSlowReaderDropped(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	s := newServer(t, impl.Config{StreamWriteTimeout: 100 * time.Millisecond, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := io.WriteString(conn, "GET /run/r-chatty/events?logs=true HTTP/1.1\r\nHost: x\r\nAuthorization: "+token+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// Never read: the fake writes lines as fast as they are taken, so the buffers fill.
	eventually(t, "the slow reader's stream ended", func() bool {
		return strings.Contains(logs.String(), "dropped: the reader did not keep up") && s.fake.openWatches() == 0
	})
}

// TestStreamDisconnectLeavesNothing: a client that goes away during a wait and during a
// stream ends them at once: the watches are closed and the goroutine count comes back to
// what it was. Not parallel, so other tests' goroutines do not come and go meanwhile.
func TestStreamDisconnectLeavesNothing(t *testing.T) {
	s := newServer(t, impl.Config{})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(ctx context.Context, target string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+target, nil)
		req.Header.Set("Authorization", token)
		return client.Do(req)
	}
	// Warm up (the server's and the fake's lazily made parts), then take the baseline.
	if res, err := get(context.Background(), "/run/r-done"); err == nil {
		res.Body.Close()
	}
	s.fake.follow()
	baseline := settledGoroutines()

	waited := waitingFor(t, s.fake, "r-running")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		res, err := get(ctx, "/run/r-running?wait=60s")
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	waited()
	cancel()
	<-errc

	ctx, cancel = context.WithCancel(context.Background())
	res, err := get(ctx, "/run/r-running/events")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(res.Body)
	readUntil(t, br, func(ev apitest.Event) bool { return ev.Type == "phase" && strings.Contains(string(ev.Data), "running") })
	waited()
	cancel()
	res.Body.Close()

	eventually(t, "watches closed and goroutines back to the baseline", func() bool {
		return s.fake.openWatches() == 0 && runtime.NumGoroutine() <= baseline
	})
}

func TestMaxStreams(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{MaxStreams: 1})
	res, br := openStream(t, s, "/run/r-running/events", nil)
	readUntil(t, br, func(ev apitest.Event) bool { return ev.Type == "phase" && strings.Contains(string(ev.Data), "running") })
	r := s.call(t, "GET", "/run/r-running/logs?follow=true", nil, nil)
	expectStatus(t, r, http.StatusServiceUnavailable)
	if r.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	res.Body.Close()
	// The slot comes back when the stream ends.
	eventually(t, "a new stream is accepted", func() bool {
		req, _ := http.NewRequest("GET", s.URL+"/run/r-done/events", nil)
		req.Header.Set("Authorization", token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		return res.StatusCode == http.StatusOK
	})
}

func TestGetRunLogs(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{})
	cases := []struct{ query, want string }{
		{"", "hello Ada\na warning\n"},
		{"?stream=stdout", "hello Ada\n"},
		{"?stream=stderr", "a warning\n"},
		{"?tail=1", "a warning\n"},
		{"?attempt=1&stream=both&tail=10000", "hello Ada\na warning\n"},
	}
	for _, c := range cases {
		r := s.call(t, "GET", "/run/r-done/logs"+c.query, nil, nil)
		expectStatus(t, r, http.StatusOK)
		if string(r.Body) != c.want || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s: %q (%s), want %q", c.query, r.Body, r.Header.Get("Content-Type"), c.want)
		}
	}
	for _, bad := range []string{"?tail=0", "?tail=10001", "?stream=both,stdout", "?attempt=0"} {
		expectStatus(t, s.call(t, "GET", "/run/r-done/logs"+bad, nil, nil), http.StatusUnprocessableEntity)
	}
	expectStatus(t, s.call(t, "GET", "/run/r-done/logs?attempt=7", nil, nil), http.StatusNotFound)
	expectStatus(t, s.call(t, "GET", "/run/r-nope/logs", nil, nil), http.StatusNotFound)

	// follow: the tail as log events, then the rest of the run without its phase events.
	r := s.call(t, "GET", "/run/r-done/logs?follow=true&tail=1", nil, nil)
	expectStatus(t, r, http.StatusOK)
	events := parseEvents(t, r.Body)
	if got := types(events); got != "log attempt_ended end" {
		t.Errorf("follow: %s", got)
	}
	if d := decode(t, events[0]); d["line"] != "a warning" {
		t.Errorf("follow's tail: %v", d)
	}
	w, _ := s.fake.got("WatchRun").(controlplane.WatchRunRequest)
	if w.After != events[0].ID || !w.Logs {
		t.Errorf("the watch after the tail started after %q (logs %v), want %q", w.After, w.Logs, events[0].ID)
	}
	r = s.call(t, "GET", "/run/r-done/logs?follow=true", nil, map[string]string{"Last-Event-ID": events[len(events)-1].ID})
	expectStatus(t, r, http.StatusNoContent)
}

// --- helpers

// newServerTimeouts is newServer with the http.Server adjusted before it starts.
func newServerTimeouts(t *testing.T, cfg impl.Config, adjust func(*http.Server)) *testServer {
	t.Helper()
	fake := newFake()
	h, err := impl.NewHandler(cfg, fake)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	adjust(srv.Config)
	srv.Start()
	t.Cleanup(srv.Close)
	enabled, _ := contract.Catalog.Select(nil, nil)
	return &testServer{Server: srv, fake: fake, enabled: enabled}
}

func openStream(t *testing.T, s *testServer, target string, headers map[string]string) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+target, nil)
	req.Header.Set("Authorization", token)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%s: %d %s", target, res.StatusCode, res.Header.Get("Content-Type"))
	}
	return res, bufio.NewReader(res.Body)
}

// readEvent reads the next event of a live stream, skipping retry fields and comments, and
// validates its data against the RunEvent schema.
func readEvent(t *testing.T, br *bufio.Reader) apitest.Event {
	t.Helper()
	var block strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v (so far %q)", err, block.String())
		}
		if line == "\n" {
			if block.Len() == 0 {
				continue
			}
			break
		}
		if strings.HasPrefix(line, ":") || strings.HasPrefix(line, "retry:") {
			continue
		}
		block.WriteString(line)
	}
	evs, err := apitest.ReadEvents(strings.NewReader(block.String() + "\n"))
	if err != nil || len(evs) != 1 {
		t.Fatalf("event %q: %v", block.String(), err)
	}
	if err := contract.CheckEvent(evs[0].Data); err != nil {
		t.Error(err)
	}
	return evs[0]
}

func readUntil(t *testing.T, br *bufio.Reader, want func(apitest.Event) bool) apitest.Event {
	t.Helper()
	for {
		if ev := readEvent(t, br); want(ev) {
			return ev
		}
	}
}

// readComment reads lines up to the next comment line and returns it.
func readComment(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		if strings.HasPrefix(line, ":") {
			return strings.TrimSuffix(line, "\n")
		}
	}
}

func parseEvents(t *testing.T, body []byte) []apitest.Event {
	t.Helper()
	evs, err := apitest.ReadEvents(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	return evs
}

func types(evs []apitest.Event) string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return strings.Join(out, " ")
}

func decode(t *testing.T, ev apitest.Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(ev.Data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// eventually polls cond (liveness only, with a generous bound).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not so after 30s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settledGoroutines is the goroutine count once it stops moving (a finished request's
// connection goroutines take a moment to exit).
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for i := 0; i < 50; i++ {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}
