package apitest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// openapi.yaml describes a text/event-stream answer (watch_run, get_run_logs with follow) as
// the list of its events' data objects. kin-openapi has no decoder for the media type; this
// one turns a stream into that list, so a stream is validated like any other answer: its
// framing (every event has an event and one JSON data line, ids only where they belong) and
// each event's data against the schema.

func init() {
	openapi3filter.RegisterBodyDecoder("text/event-stream", decodeEventStream)
}

// Event is one Server-Sent Event as read from a stream.
type Event struct {
	ID, Type string
	// Data is the data line (the stream's events have exactly one).
	Data []byte
}

// ReadEvents splits an event stream into its events; comment lines and retry fields are
// skipped. It fails on a field it does not expect or an event without exactly one data
// line.
func ReadEvents(r io.Reader) ([]Event, error) {
	var out []Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var cur Event
	datas := 0
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if datas == 0 && cur.Type == "" && cur.ID == "" {
				continue // the end of a retry field or a comment
			}
			if datas != 1 || cur.Type == "" {
				return out, fmt.Errorf("event %d (%q): want one event field and one data line, got %d data lines", len(out), cur.Type, datas)
			}
			out = append(out, cur)
			cur, datas = Event{}, 0
		case strings.HasPrefix(line, ":"), strings.HasPrefix(line, "retry: "):
		case strings.HasPrefix(line, "id: "):
			cur.ID = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			cur.Type = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.Data = []byte(strings.TrimPrefix(line, "data: "))
			datas++
		default:
			return out, fmt.Errorf("event stream: unexpected line %q", line)
		}
	}
	if err := sc.Err(); err != nil {
		return out, err
	}
	if datas > 0 || cur.Type != "" {
		return out, fmt.Errorf("event stream: the last event (%q) is not ended by a blank line", cur.Type)
	}
	return out, nil
}

// decodeEventStream is the body decoder: each event's data, checked against its framing
// (the event field is the data's type, the id field its id).
func decodeEventStream(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	events, err := ReadEvents(body)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(events))
	for i, ev := range events {
		var data map[string]any
		dec := json.NewDecoder(bytes.NewReader(ev.Data))
		if err := dec.Decode(&data); err != nil {
			return nil, fmt.Errorf("event %d: data is not a JSON object: %w", i, err)
		}
		if data["type"] != ev.Type {
			return nil, fmt.Errorf("event %d: event field %q, data type %v", i, ev.Type, data["type"])
		}
		if id, _ := data["id"].(string); id != ev.ID {
			return nil, fmt.Errorf("event %d: id field %q, data id %q", i, ev.ID, id)
		}
		out = append(out, data)
	}
	return out, nil
}

// CheckEvent validates one event's data against the RunEvent schema, for tests that read a
// live stream event by event (a stream that never ends cannot be checked whole).
func (c *Contract) CheckEvent(data []byte) error {
	s := c.Doc.Components.Schemas["RunEvent"]
	if s == nil || s.Value == nil {
		return fmt.Errorf("apitest: openapi.yaml has no RunEvent schema")
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("event data %s: %w", data, err)
	}
	if err := s.Value.VisitJSON(v); err != nil {
		return fmt.Errorf("event data %s does not fit RunEvent: %w", data, err)
	}
	return nil
}
