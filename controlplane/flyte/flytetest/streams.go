package flytetest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"
)

// The server-streaming procedures, as Connect speaks them over JSON: the request is one
// enveloped message (a flags byte, a 4-byte big-endian length, the JSON) with Content-Type
// application/connect+json; the answer is 200 with the same content type, a message envelope
// per message and a last end-of-stream envelope (flags 0x02) holding {} or {"error": {code,
// message}}. Errors come that way too, never as an HTTP status.
//
//   - RunService/WatchActionDetails sends the action's details at once and again on each
//     change, and ends once the run has ended (its last attempt's phase is terminal: the
//     status may still lag, as the real control plane's does).
//   - DataProxyService/TailLogs sends an attempt's log lines (each message keeps its line
//     terminator) as they are written, and ends when the attempt has ended. Task echo writes
//     "hello <name>" per greeting, fail a line with "boom", sleep "sleeping <n>"; the lines
//     are written when the attempt starts.

const (
	procWatchActionDetails = "/flyteidl2.workflow.RunService/WatchActionDetails"
	procTailLogs           = "/flyteidl2.dataproxy.DataProxyService/TailLogs"
	connectStreamJSON      = "application/connect+json"
	flagEndStream          = 0x02
	streamPoll             = 5 * time.Millisecond
)

type streamHandler func(w *streamWriter, r *http.Request, u *User, msg []byte) error

func (s *Server) streamProcedures() map[string]streamHandler {
	return map[string]streamHandler{
		procWatchActionDetails: s.watchActionDetails,
		procTailLogs:           s.tailLogs,
	}
}

// serveStream answers a server-streaming procedure. body is the request's, read already.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, body []byte, h streamHandler, injected http.HandlerFunc) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != connectStreamJSON {
		w.Header().Set("Accept-Post", "application/connect+json, application/connect+proto")
		http.Error(w, "unsupported content type "+ct, http.StatusUnsupportedMediaType)
		return
	}
	if injected != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		injected(w, r)
		return
	}
	sw := &streamWriter{w: w}
	w.Header().Set("Content-Type", connectStreamJSON)
	w.WriteHeader(http.StatusOK)
	msg, err := unenvelope(body)
	if err == nil {
		var u *User
		if u = s.authenticate(r); u == nil {
			err = errorf(codeUnauthenticated, "no valid credentials")
		} else {
			err = h(sw, r, u, msg)
		}
	}
	sw.end(err)
}

// unenvelope reads the one message of a request.
func unenvelope(body []byte) ([]byte, error) {
	if len(body) < 5 {
		return nil, errorf(codeInvalidArgument, "invalid request: want one enveloped message")
	}
	n := binary.BigEndian.Uint32(body[1:5])
	if body[0] != 0 || int(n) != len(body)-5 {
		return nil, errorf(codeInvalidArgument, "invalid request: want one uncompressed enveloped message")
	}
	return body[5:], nil
}

// streamWriter writes the envelopes of an answer.
type streamWriter struct {
	w      http.ResponseWriter
	failed bool
}

func (sw *streamWriter) envelope(flags byte, js []byte) {
	var head [5]byte
	head[0] = flags
	binary.BigEndian.PutUint32(head[1:], uint32(len(js)))
	if _, err := sw.w.Write(append(head[:], js...)); err != nil {
		sw.failed = true
		return
	}
	if f, ok := sw.w.(http.Flusher); ok {
		f.Flush()
	}
}

// send writes a message; false when the caller has gone.
func (sw *streamWriter) send(v any) bool {
	js, _ := json.Marshal(v)
	sw.envelope(0, js)
	return !sw.failed
}

func (sw *streamWriter) end(err error) {
	if err == nil {
		sw.envelope(flagEndStream, []byte("{}"))
		return
	}
	ce, ok := err.(*connectError)
	if !ok {
		ce = &connectError{code: "internal", message: err.Error()}
	}
	js, _ := json.Marshal(map[string]any{"error": map[string]string{"code": ce.code, "message": ce.message}})
	sw.envelope(flagEndStream, js)
}

type actionIDJSON struct {
	Run  *runIDJSON `json:"run"`
	Name string     `json:"name"`
}

// pollRun calls f with the run under s.mu, moved along, every streamPoll until f says stop
// or the caller goes.
func (s *Server) pollRun(r *http.Request, id *actionIDJSON, f func(rn *run, now time.Time) (stop bool, err error)) error {
	if id == nil {
		return errorf(codeInvalidArgument, "invalid request: actionId is required")
	}
	tick := time.NewTicker(streamPoll)
	defer tick.Stop()
	for {
		s.mu.Lock()
		now := s.now()
		s.advance(now)
		rn, err := s.findRun(id.Run)
		if err == nil && id.Name != "a0" {
			err = errorf(codeNotFound, "action not found")
		}
		var stop bool
		if err == nil {
			stop, err = f(rn, now)
		}
		s.mu.Unlock()
		if err != nil || stop {
			return err
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-tick.C:
		}
	}
}

func (rn *run) over() bool {
	return rn.phase == phaseSucceeded || rn.phase == phaseFailed || rn.phase == phaseAborted
}

func (s *Server) watchActionDetails(w *streamWriter, r *http.Request, _ *User, msg []byte) error {
	var req struct {
		ActionID *actionIDJSON `json:"actionId"`
	}
	if err := decodeStrict(msg, &req); err != nil {
		return err
	}
	var last []byte
	return s.pollRun(r, req.ActionID, func(rn *run, now time.Time) (bool, error) {
		js, _ := json.Marshal(map[string]any{"details": s.actionDetails(rn, req.ActionID.Run.Org, now)})
		if !bytes.Equal(js, last) {
			last = js
			w.envelope(0, js)
		}
		return w.failed || rn.over(), nil
	})
}

func (s *Server) tailLogs(w *streamWriter, r *http.Request, _ *User, msg []byte) error {
	var req struct {
		ActionID          *actionIDJSON `json:"actionId"`
		Attempt           int64         `json:"attempt"`
		PrimaryPod        *bool         `json:"primaryPod"`
		AllPods           *bool         `json:"allPods"`
		PodName           *string       `json:"podName"`
		ConnectorEndpoint *string       `json:"connectorEndpoint"`
	}
	if err := decodeStrict(msg, &req); err != nil {
		return err
	}
	if req.Attempt <= 0 {
		return errorf(codeInvalidArgument, "invalid TailLogsRequest.Attempt: value must be greater than 0")
	}
	sent := 0
	return s.pollRun(r, req.ActionID, func(rn *run, now time.Time) (bool, error) {
		if req.Attempt != 1 || rn.started.IsZero() {
			return false, errorf(codeNotFound, "no logs for attempt %d", req.Attempt)
		}
		lines := rn.logLines()
		if sent < len(lines) {
			var out []map[string]any
			for _, l := range lines[sent:] {
				out = append(out, map[string]any{"timestamp": ts(rn.started), "message": l + "\n", "originator": "USER"})
			}
			sent = len(lines)
			w.send(map[string]any{"logs": []any{map[string]any{"lines": out}}})
		}
		return w.failed || rn.over(), nil
	})
}

// logLines is what the run's task writes to its log (all of it once it has started).
func (rn *run) logLines() []string {
	switch rn.task.name {
	case "echo":
		name, _ := stringOf(rn.input("name"))
		times, ok := intOf(rn.input("times"))
		if !ok || !times.IsInt64() || times.Int64() < 0 || times.Int64() > 1000 {
			return []string{"echo: bad inputs"}
		}
		out := make([]string, times.Int64())
		for i := range out {
			out[i] = "hello " + name
		}
		return out
	case "fail":
		return []string{"about to fail", "boom: the fail task fails on purpose"}
	case "sleep":
		n, _ := intOf(rn.input("seconds"))
		if n == nil {
			return []string{"sleeping 0"}
		}
		return []string{"sleeping " + strconv.FormatInt(n.Int64(), 10)}
	}
	return nil
}
