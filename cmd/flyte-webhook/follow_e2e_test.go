package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sseEvent is one Server-Sent Event as a client reads it off the wire.
type sseEvent struct {
	id, typ string
	data    map[string]any
}

// readSSE reads events until want says stop (returning that event) or the stream ends (io.EOF).
func readSSE(br *bufio.Reader, want func(sseEvent) bool) (sseEvent, []sseEvent, error) {
	var seen []sseEvent
	var ev sseEvent
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return sseEvent{}, seen, err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if ev.typ != "" {
				seen = append(seen, ev)
				if want(ev) {
					return ev, seen, nil
				}
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.typ = line[7:]
		case strings.HasPrefix(line, "data: "):
			_ = json.Unmarshal([]byte(line[6:]), &ev.data)
		}
	}
}

func openSSE(t *testing.T, p *proc, path string) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, _ := http.NewRequest("GET", p.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+p.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%s: %d %s", path, res.StatusCode, res.Header.Get("Content-Type"))
	}
	return res, bufio.NewReader(res.Body)
}

// TestFollowE2E: with the real binary, run-task?wait=60s answers the outputs in one call, and
// `curl -N .../run/NAME/events` reads a short run's events to its end event.
func TestFollowE2E(t *testing.T) {
	t.Parallel()
	p := startServer(t, t.TempDir(), "")
	status, r := p.do(t, "POST", "/run-task/development/examples/greet?wait=60s", `{"name": "CI", "times": 2}`)
	outputs, _ := r["outputs"].(map[string]any)
	if status != 200 || r["phase"] != "succeeded" || r["done"] != true || outputs["greeting"] != "Hello, CI! Hello, CI!" {
		t.Fatalf("run-task?wait=60s: %d %v", status, r)
	}

	// A run started without waiting, followed live from its start to its end.
	status, r = p.do(t, "POST", "/run-task/development/examples/greet", `{"name": "SSE"}`)
	if status != 200 {
		t.Fatalf("run-task: %d %v", status, r)
	}
	res, br := openSSE(t, p, "/run/"+r["name"].(string)+"/events?logs=true")
	defer res.Body.Close()
	_, events, err := readSSE(br, func(sseEvent) bool { return false })
	if err != io.EOF {
		t.Fatalf("the stream did not end after its end event: %v", err)
	}
	var types []string
	for _, ev := range events {
		types = append(types, ev.typ)
	}
	if got := strings.Join(types, " "); got != "phase attempt_started phase log attempt_ended phase end" {
		t.Fatalf("events %s", got)
	}
	if end := events[len(events)-1]; end.data["phase"] != "succeeded" || end.id == "" {
		t.Errorf("end event %+v", end)
	}
	if events[3].data["line"] != "Hello, SSE!" {
		t.Errorf("log event %+v", events[3])
	}
}

// TestFollowSIGTERM: on SIGTERM a wait answers at once with the run as it is (still running),
// and a stream ends with a reconnect event, both before the server has stopped: neither
// holds up the drain (without that, they would be cut at shutdown_timeout, unanswered).
func TestFollowSIGTERM(t *testing.T) {
	t.Parallel()
	p := startServer(t, t.TempDir(), "shutdown_timeout: 5s\n")
	status, r := p.do(t, "POST", "/run-task/development/examples/slow", `{"seconds": 600}`)
	if status != 200 {
		t.Fatalf("run-task: %d %v", status, r)
	}
	name := r["name"].(string)

	// The wait, on a connection of its own, sent first.
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /run/%s?wait=60s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", name, p.token)

	res, br := openSSE(t, p, "/run/"+name+"/events?logs=true")
	defer res.Body.Close()
	if _, _, err := readSSE(br, func(ev sseEvent) bool { return ev.typ == "log" }); err != nil {
		t.Fatalf("the run never wrote its first line: %v", err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the wait was not answered: %v\n%s", err, p.stderr.String())
	}
	var run map[string]any
	_ = json.NewDecoder(waited.Body).Decode(&run)
	waited.Body.Close()
	if waited.StatusCode != 200 || run["done"] != false {
		t.Errorf("the wait answered %d %v; want 200 with the run still running", waited.StatusCode, run)
	}
	last, _, err := readSSE(br, func(ev sseEvent) bool { return ev.typ == "reconnect" })
	if err != nil {
		t.Fatalf("the stream ended without a reconnect event: %v", err)
	}
	if last.id != "" {
		t.Errorf("the reconnect event has id %q", last.id)
	}
	if _, err := br.ReadString('\n'); err != io.EOF {
		t.Errorf("the stream goes on after the reconnect event (%v)", err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop after SIGTERM")
	}
}
