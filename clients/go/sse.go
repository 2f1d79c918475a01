package client

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// maxEventBytes bounds one event (its lines together): an event carries a run's outputs at
// most, which the server bounds far below this.
const maxEventBytes = 8 << 20

// sseEvent is one Server-Sent Event as the HTML standard's parsing rules read it.
type sseEvent struct {
	id    string // the last event ID after this event (an id field carries over until changed)
	hasID bool   // whether this event itself had an id field
	typ   string // the event field; "" means "message"
	data  string // the data lines joined by "\n"
}

// sseReader reads events from a text/event-stream: lines end with "\n", "\r\n" or "\r";
// a line starting with ":" is a comment (a heartbeat); "field: value" loses one space after
// the colon; several data lines join with "\n"; a blank line dispatches the event unless it
// has no data (then only its id counts); unknown fields and retry are ignored.
type sseReader struct {
	sc     *bufio.Scanner
	lastID string
	// touch, when set, is called for every line read (a heartbeat too): the connection lives.
	touch func()
}

func newSSEReader(r io.Reader, lastID string) *sseReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxEventBytes)
	sc.Split(scanSSELine)
	return &sseReader{sc: sc, lastID: lastID}
}

// next returns the next event, or io.EOF when the stream ended (an event not ended by a
// blank line is dropped, as the standard says), or the read's error.
func (r *sseReader) next() (sseEvent, error) {
	var ev sseEvent
	var data strings.Builder
	hasData := false
	size := 0
	for r.sc.Scan() {
		line := r.sc.Bytes()
		if r.touch != nil {
			r.touch()
		}
		size += len(line)
		if size > maxEventBytes {
			return sseEvent{}, bufio.ErrTooLong
		}
		if len(line) == 0 {
			if !hasData {
				ev, data, size = sseEvent{}, strings.Builder{}, 0
				continue
			}
			ev.id, ev.data = r.lastID, data.String()
			return ev, nil
		}
		if line[0] == ':' {
			continue // a comment: the server's heartbeat
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		switch string(field) {
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		case "event":
			ev.typ = string(value)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				r.lastID = string(value)
				ev.hasID = true
			}
		}
	}
	if err := r.sc.Err(); err != nil {
		return sseEvent{}, err
	}
	return sseEvent{}, io.EOF
}

// scanSSELine is a bufio.SplitFunc for the three line endings of event streams.
func scanSSELine(data []byte, atEOF bool) (advance int, token []byte, err error) {
	i := bytes.IndexAny(data, "\r\n")
	switch {
	case i < 0 && atEOF && len(data) > 0:
		return len(data), data, nil
	case i < 0:
		return 0, nil, nil
	case data[i] == '\n':
		return i + 1, data[:i], nil
	case i+1 < len(data):
		if data[i+1] == '\n' {
			return i + 2, data[:i], nil
		}
		return i + 1, data[:i], nil
	case atEOF:
		return i + 1, data[:i], nil
	}
	return 0, nil, nil // a "\r" last: wait for what follows, it may be "\r\n"
}
