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
// (WatchActionDetails, TailLogs) and leaves no goroutine behind. Not parallel (goroutine
// counts).
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
	baseline := settledGoroutines()

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
		eventually(t, target+": goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= baseline })
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
	eventually(t, "wait: goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= baseline })
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
