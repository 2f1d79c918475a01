package client

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// The parser against the HTML standard's rules, on streams the server does not send itself
// (several data lines, other line endings, fields without a space) but a proxy or another
// server may.
func TestSSEReader(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []sseEvent
	}{
		{"one event", "id: 1.1.0\nevent: phase\ndata: {}\n\n",
			[]sseEvent{{id: "1.1.0", hasID: true, typ: "phase", data: "{}"}}},
		{"comments and retry skipped", ": heartbeat\nretry: 2000\n\n: heartbeat\n\nevent: x\ndata: a\n\n",
			[]sseEvent{{typ: "x", data: "a"}}},
		{"several data lines join with newlines", "data: {\"a\":\ndata:1}\n\n",
			[]sseEvent{{data: "{\"a\":\n1}"}}},
		{"CRLF and CR line endings", "id: 7\r\ndata: a\r\n\r\nid: 8\rdata: b\r\r",
			[]sseEvent{{id: "7", hasID: true, data: "a"}, {id: "8", hasID: true, data: "b"}}},
		{"the id carries over to later events", "id: 5\ndata: a\n\ndata: b\n\n",
			[]sseEvent{{id: "5", hasID: true, data: "a"}, {id: "5", data: "b"}}},
		{"an event without data only moves the id", "id: 9\nevent: x\n\ndata: b\n\n",
			[]sseEvent{{id: "9", data: "b"}}},
		{"one space only is dropped after the colon", "data:  two\n\n",
			[]sseEvent{{data: " two"}}},
		{"an unfinished last event is dropped", "data: a\n\ndata: b\n",
			[]sseEvent{{data: "a"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One byte at a time, so a CR at the end of a read is seen before its LF.
			r := newSSEReader(iotest.OneByteReader(strings.NewReader(tc.in)), "")
			var got []sseEvent
			for {
				ev, err := r.next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, ev)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("event %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestSSEReaderTooLong(t *testing.T) {
	r := newSSEReader(strings.NewReader("data: "+strings.Repeat("x", maxEventBytes+1)+"\n\n"), "")
	if _, err := r.next(); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("an event beyond %d bytes: %v, want an error", maxEventBytes, err)
	}
}
