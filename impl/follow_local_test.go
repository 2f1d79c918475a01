package impl_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/api/apitest"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// The waits, event streams and logs over the real local backend (the example workspace's node
// tasks, real SQLite, real processes), every answer validated against openapi.yaml.

func TestLocalWaitEventsLogs(t *testing.T) {
	t.Parallel()
	b := openLocal(t, t.TempDir(), nil)
	s := newServerWith(t, impl.Config{}, b, nil)

	// run_task?wait: the outcome and outputs in one call.
	r := s.call(t, "POST", "/run-task/development/examples/greet?wait=60s", map[string]any{"name": "Ada", "times": 2}, bearer(localCI))
	expectStatus(t, r, http.StatusOK)
	expectJSON(t, r, map[string]any{"phase": "succeeded", "done": true, "outputs": map[string]any{"greeting": "Hello, Ada! Hello, Ada!"}})
	name := r.str("name")

	// Its events, with its log, to the end; again after each event's id.
	events := parseEvents(t, s.call(t, "GET", "/run/"+name+"/events?logs=true", nil, bearer(localCI)).Body)
	if got := types(events); got != "phase attempt_started phase log attempt_ended phase end" {
		t.Fatalf("events %s", got)
	}
	if line := decode(t, events[3]); line["line"] != "Hello, Ada! Hello, Ada!" || line["stream"] != "stdout" {
		t.Errorf("log event %v", line)
	}
	if end := decode(t, events[len(events)-1]); !equalJSON(end["outputs"], map[string]any{"greeting": "Hello, Ada! Hello, Ada!"}) {
		t.Errorf("end %v", end)
	}
	for i, ev := range events[:len(events)-1] {
		h := bearer(localCI)
		h["Last-Event-ID"] = ev.ID
		rest := parseEvents(t, s.call(t, "GET", "/run/"+name+"/events?logs=true", nil, h).Body)
		if got, want := types(rest), types(events[i+1:]); got != want {
			t.Errorf("after %s: %s, want %s", ev.ID, got, want)
		}
	}
	h := bearer(localCI)
	h["Last-Event-ID"] = events[len(events)-1].ID
	expectStatus(t, s.call(t, "GET", "/run/"+name+"/events", nil, h), http.StatusNoContent)

	// Logs: text, by stream, a tail, followed.
	fail := s.call(t, "POST", "/run-task/development/examples/fail?wait=true", nil, bearer(localCI))
	expectJSON(t, fail, map[string]any{"phase": "failed", "done": true, "outputs": nil})
	for query, want := range map[string]string{
		"/run/" + name + "/logs":                              "Hello, Ada! Hello, Ada!\n",
		"/run/" + fail.str("name") + "/logs":                  "error: something went wrong\n",
		"/run/" + fail.str("name") + "/logs?stream=stdout":    "",
		"/run/" + fail.str("name") + "/logs?stream=stderr":    "error: something went wrong\n",
		"/run/" + fail.str("name") + "/logs?tail=1&attempt=1": "error: something went wrong\n",
	} {
		r := s.call(t, "GET", query, nil, bearer(localCI))
		expectStatus(t, r, http.StatusOK)
		if string(r.Body) != want {
			t.Errorf("%s: %q, want %q", query, r.Body, want)
		}
	}
	if got := types(parseEvents(t, s.call(t, "GET", "/run/"+name+"/logs?follow=true", nil, bearer(localCI)).Body)); got != "log attempt_ended end" {
		t.Errorf("follow of an ended run: %s", got)
	}
	expectStatus(t, s.call(t, "GET", "/run/"+name+"/logs?attempt=2", nil, bearer(localCI)), http.StatusNotFound)

	// A wait that ends first answers the run as it is; a live stream tells the run's log
	// and its end as they happen.
	slow := s.call(t, "POST", "/run-task/development/examples/slow?wait=50ms", map[string]any{"seconds": 600}, bearer(localCI))
	expectStatus(t, slow, http.StatusOK)
	expectJSON(t, slow, map[string]any{"done": false, "outputs": nil})
	expectJSON(t, s.call(t, "GET", "/run/"+slow.str("name")+"?wait=50ms", nil, bearer(localCI)), map[string]any{"done": false})
	res, br := openLocalStream(t, s, "/run/"+slow.str("name")+"/logs?follow=true")
	defer res.Body.Close()
	readUntil(t, br, func(ev apitest.Event) bool {
		return ev.Type == "log" && strings.Contains(string(ev.Data), "working for 600s")
	})
	expectStatus(t, s.call(t, "POST", "/run/"+slow.str("name")+"/abort", nil, bearer(localCI)), http.StatusOK)
	end := readUntil(t, br, func(ev apitest.Event) bool { return ev.Type == "end" })
	if d := decode(t, end); d["phase"] != "aborted" {
		t.Errorf("end %v", d)
	}
}

// TestLocalDisconnectLeavesNothing: over the local backend, a client that goes away during a
// wait and during a stream leaves no goroutine of the server's or the backend's behind. Not
// parallel (goroutine counts).
func TestLocalDisconnectLeavesNothing(t *testing.T) {
	b := openLocal(t, t.TempDir(), nil)
	s := newServerWith(t, impl.Config{}, b, nil)
	r := s.call(t, "POST", "/run-task/development/examples/slow", map[string]any{"seconds": 600}, bearer(localCI))
	expectStatus(t, r, http.StatusOK)
	name := r.str("name")
	res, br := openLocalStream(t, s, "/run/"+name+"/events")
	readUntil(t, br, func(ev apitest.Event) bool { return ev.Type == "phase" && strings.Contains(string(ev.Data), "running") })
	res.Body.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	baseline := settledOurs() // the running attempt's among them

	for _, target := range []string{"/run/" + name + "?wait=60s", "/run/" + name + "/events?logs=true", "/run/" + name + "/logs?follow=true"} {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+target, nil)
		req.Header.Set("Authorization", "Bearer "+localCI)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if res, err := client.Do(req); err == nil {
				_, _ = bufio.NewReader(res.Body).ReadString('\n') // the stream has begun
				<-ctx.Done()
				res.Body.Close()
			}
		}()
		eventually(t, target+" is being served", func() bool { return ourGoroutines() > baseline })
		cancel()
		<-done
		eventually(t, target+": goroutines back to the baseline", func() bool { return ourGoroutines() <= baseline })
	}
	expectStatus(t, s.call(t, "POST", "/run/"+name+"/abort", nil, bearer(localCI)), http.StatusOK)
}

func openLocalStream(t *testing.T, s *testServer, target string) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+target, nil)
	req.Header.Set("Authorization", "Bearer "+localCI)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", target, res.Status)
	}
	return res, bufio.NewReader(res.Body)
}
