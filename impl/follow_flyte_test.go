package impl_test

import (
	"bufio"
	"context"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/api/apitest"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
)

// TestFlyteStreamDisconnectLeavesNothing: over the flyte backend, a client that goes away
// from a wait, an event stream with logs, and a followed log ends the control plane's streams
// (WatchActionDetails, TailLogs) and leaves no goroutine behind: none of the server's or the
// backend's (the pooled connections' come and go with the pool, so they are not counted).
// Not parallel (goroutine counts).
func TestFlyteStreamDisconnectLeavesNothing(t *testing.T) {
	s := newFlyteStack(t, stackOptions{fake: flytetest.Options{RunTime: 0}}, nil)
	r := s.call(t, "POST", "/run-task/development/flytesnacks/sleep", map[string]any{"seconds": 600}, nil)
	expectStatus(t, r, http.StatusOK)
	name := r.str("name")
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	open := func(ctx context.Context, target string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", s.url+target, nil)
		req.Header.Set("Authorization", "Bearer "+flyteCI)
		return client.Do(req)
	}
	// Warm up: a stream read until the run runs and its first line, then closed.
	res, err := open(context.Background(), "/run/"+name+"/events?logs=true")
	if err != nil {
		t.Fatal(err)
	}
	readUntil(t, bufio.NewReader(res.Body), func(ev apitest.Event) bool { return ev.Type == "log" })
	res.Body.Close()
	baseline := settledOurs()

	for _, target := range []string{"/run/" + name + "/events?logs=true", "/run/" + name + "/logs?follow=true"} {
		ctx, cancel := context.WithCancel(context.Background())
		res, err := open(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		readUntil(t, bufio.NewReader(res.Body), func(ev apitest.Event) bool {
			return ev.Type == "log" && strings.Contains(string(ev.Data), "sleeping 600")
		})
		cancel()
		res.Body.Close()
		eventually(t, target+": goroutines back to the baseline", func() bool { return ourGoroutines() <= baseline })
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	before := len(s.callsTo(procWatchAction))
	go func() {
		defer close(done)
		if res, err := open(ctx, "/run/"+name+"?wait=60s"); err == nil {
			res.Body.Close()
		}
	}()
	eventually(t, "the wait watches the run", func() bool { return len(s.callsTo(procWatchAction)) > before })
	cancel()
	<-done
	eventually(t, "wait: goroutines back to the baseline", func() bool { return ourGoroutines() <= baseline })
}

// TestFlyteWaitWithoutWatch: a control plane without WatchActionDetails (it answers a
// plain-text 404, which Connect reads as unimplemented) still serves waits, by polling; an
// event stream ends with a reconnect event naming the failure.
func TestFlyteWaitWithoutWatch(t *testing.T) {
	t.Parallel()
	s := newFlyteStack(t, stackOptions{fake: flytetest.Options{RunTime: 200 * time.Millisecond}}, nil)
	s.fake.Inject(procWatchAction, http.NotFound)
	r := s.call(t, "POST", "/run-task/development/flytesnacks/echo?wait=60s", map[string]any{"name": "Po"}, nil)
	expectStatus(t, r, http.StatusOK)
	expectJSON(t, r, map[string]any{"phase": "succeeded", "done": true, "outputs": map[string]any{"greeting": "hello Po"}})
	if len(s.callsTo(procWatchAction)) == 0 {
		t.Error("the wait never tried the watch stream")
	}
	// A finished run is told whole from its details; a live one needs the stream.
	if got := types(parseEvents(t, s.call(t, "GET", "/run/"+r.str("name")+"/events", nil, nil).Body)); !strings.HasSuffix(got, " end") {
		t.Errorf("events of a finished run: %s", got)
	}
	live := s.call(t, "POST", "/run-task/development/flytesnacks/sleep", map[string]any{"seconds": 600}, nil)
	events := parseEvents(t, s.call(t, "GET", "/run/"+live.str("name")+"/events", nil, nil).Body)
	if last := events[len(events)-1]; last.Type != "reconnect" || !strings.Contains(string(last.Data), "reconnect with the last event's id") {
		t.Errorf("events %s, the last %s: want a reconnect event", types(events), last.Data)
	}
}

// ourGoroutines counts the goroutines running the server's or a backend's code.
func ourGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "flyte-webhook/impl.") || strings.Contains(g, "flyte-webhook/controlplane/flyte.") ||
			strings.Contains(g, "flyte-webhook/controlplane/local.") {
			count++
		}
	}
	return count
}

// settledOurs is ourGoroutines once it stops moving (a finished request's handler takes a
// moment to see its connection closed).
func settledOurs() int {
	n := ourGoroutines()
	for i := 0; i < 50; i++ {
		time.Sleep(20 * time.Millisecond)
		m := ourGoroutines()
		if m == n {
			return n
		}
		n = m
	}
	return n
}
