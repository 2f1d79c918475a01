package flytetest_test

import (
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
)

// envelope wraps a message as a Connect stream does: flags, a big-endian length, the JSON.
func envelope(flags byte, js string) string {
	var head [5]byte
	head[0] = flags
	binary.BigEndian.PutUint32(head[1:], uint32(len(js)))
	return string(head[:]) + js
}

// unenvelope splits a stream's answer into its messages and its end-of-stream message.
func unenvelope(t *testing.T, body string) (msgs []map[string]any, end map[string]any) {
	t.Helper()
	b := []byte(body)
	for len(b) > 0 {
		if len(b) < 5 {
			t.Fatalf("a truncated envelope: %q", b)
		}
		n := binary.BigEndian.Uint32(b[1:5])
		var m map[string]any
		if err := json.Unmarshal(b[5:5+n], &m); err != nil {
			t.Fatalf("envelope %q: %v", b[5:5+n], err)
		}
		if b[0] == 0x02 {
			if len(b) != int(5+n) {
				t.Fatalf("data after the end of the stream: %q", b[5+n:])
			}
			return msgs, m
		}
		msgs = append(msgs, m)
		b = b[5+n:]
	}
	t.Fatal("no end-of-stream message")
	return nil, nil
}

// TestStreams: WatchActionDetails and TailLogs as Connect server streams over JSON.
func TestStreams(t *testing.T) {
	s := start(t, flytetest.Options{RunTime: 5 * time.Millisecond, QueueDelay: time.Millisecond})
	const stream = "application/connect+json"
	status, _, _ := post(t, s, "/flyteidl2.workflow.RunService/CreateRun", "application/json",
		`{"runId":{"project":"p","domain":"d","name":"r1"},"taskId":{"project":"p","domain":"d","name":"echo","version":"v1"},`+
			`"inputs":{"literals":[{"name":"name","value":{"scalar":{"primitive":{"stringValue":"Ada"}}}},{"name":"times","value":{"scalar":{"primitive":{"integer":"2"}}}}]}}`)
	if status != 200 {
		t.Fatalf("CreateRun %d", status)
	}
	action := `{"actionId":{"run":{"project":"p","domain":"d","name":"r1"},"name":"a0"}}`

	// A unary content type is refused, as the real server refuses it for a stream.
	if status, _, _ := post(t, s, "/flyteidl2.workflow.RunService/WatchActionDetails", "application/json", action); status != http.StatusUnsupportedMediaType {
		t.Errorf("WatchActionDetails as application/json: %d, want 415", status)
	}

	status, ct, body := post(t, s, "/flyteidl2.workflow.RunService/WatchActionDetails", stream, envelope(0, action))
	msgs, end := unenvelope(t, body)
	if status != 200 || ct != stream || len(end) != 0 || len(msgs) < 2 {
		t.Fatalf("WatchActionDetails: %d %s, %d messages, end %v", status, ct, len(msgs), end)
	}
	last := msgs[len(msgs)-1]["details"].(map[string]any)
	attempts, _ := last["attempts"].([]any)
	if len(attempts) != 1 || attempts[0].(map[string]any)["phase"] != "ACTION_PHASE_SUCCEEDED" {
		t.Errorf("the stream ended before the last attempt did: %v", last)
	}

	status, ct, body = post(t, s, "/flyteidl2.dataproxy.DataProxyService/TailLogs", stream, envelope(0, `{"actionId":{"run":{"project":"p","domain":"d","name":"r1"},"name":"a0"},"attempt":1}`))
	msgs, end = unenvelope(t, body)
	js, _ := json.Marshal(msgs)
	if status != 200 || ct != stream || len(end) != 0 || strings.Count(string(js), `"message":"hello Ada\n"`) != 2 {
		t.Errorf("TailLogs: %d %s, messages %s, end %v", status, ct, js, end)
	}

	// Errors come in the end-of-stream message, with 200.
	status, _, body = post(t, s, "/flyteidl2.dataproxy.DataProxyService/TailLogs", stream, envelope(0, `{"actionId":{"run":{"project":"p","domain":"d","name":"nope"},"name":"a0"},"attempt":1}`))
	_, end = unenvelope(t, body)
	if e, _ := end["error"].(map[string]any); status != 200 || e["code"] != "not_found" {
		t.Errorf("TailLogs of an unknown run: %d, end %v", status, end)
	}
	_, _, body = post(t, s, "/flyteidl2.dataproxy.DataProxyService/TailLogs", stream, envelope(0, `{"actionId":{"run":{"project":"p","domain":"d","name":"r1"},"name":"a0"},"attempt":0}`))
	if _, end = unenvelope(t, body); end["error"].(map[string]any)["code"] != "invalid_argument" {
		t.Errorf("TailLogs of attempt 0: end %v", end)
	}
}
