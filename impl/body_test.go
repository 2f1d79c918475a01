package impl_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/impl"
)

// rawCall sends head (request line and headers, without the blank line) and body exactly as
// given, the way curl and other clients put them on the wire (no Go client adding a
// Content-Length or a Content-Type), and validates the answer against the spec.
func (s *testServer) rawCall(t *testing.T, head, body string) response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head+"\r\nHost: x\r\nConnection: close\r\n\r\n"+body); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := response{Status: res.StatusCode, Header: res.Header}
	if out.Body, err = io.ReadAll(res.Body); err != nil {
		t.Fatal(err)
	}
	// The same request as the contract checker sees it.
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head + "\r\nHost: x\r\n\r\n" + body)))
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Scheme, req.URL.Host, req.RequestURI = "http", "x", ""
	validateAgainstSpec(t, req, []byte(body), out, s.enabled)
	return out
}

// TestRunTaskBody: run_task's body is optional. No body, or an empty one, whatever the
// Content-Type, is the inputs {} (`curl -X POST` runs a task whose inputs all have defaults);
// a body without a Content-Type is read as JSON, as the Python app does; a body that is there
// must be a JSON object.
func TestRunTaskBody(t *testing.T) {
	t.Parallel()
	const (
		post   = "POST /run-task/d/p/greet HTTP/1.1\r\nAuthorization: " + token
		ctJSON = "\r\nContent-Type: application/json"
		ctForm = "\r\nContent-Type: application/x-www-form-urlencoded" // what curl -d sends
	)
	cases := []struct {
		name, head, body string
		status           int
		inputs           string // what reached the backend, as JSON
	}{
		{"curl -X POST: no body, no Content-Length, no Content-Type", post, "", 200, `{}`},
		{"Content-Length 0 without Content-Type", post + "\r\nContent-Length: 0", "", 200, `{}`},
		{"Content-Length 0, JSON", post + ctJSON + "\r\nContent-Length: 0", "", 200, `{}`},
		{"curl -d '': empty form body", post + ctForm + "\r\nContent-Length: 0", "", 200, `{}`},
		{"chunked, empty", post + ctJSON + "\r\nTransfer-Encoding: chunked", "0\r\n\r\n", 200, `{}`},
		{"an object", post + ctJSON + "\r\nContent-Length: 15", `{"name": "Ada"}`, 200, `{"name":"Ada"}`},
		{"an object without Content-Type is JSON", post + "\r\nContent-Length: 15", `{"name": "Ada"}`, 200, `{"name":"Ada"}`},
		{"an empty object", post + ctJSON + "\r\nContent-Length: 2", `{}`, 200, `{}`},
		{"JSON sent as a form (curl -d without -H)", post + ctForm + "\r\nContent-Length: 15", `{"name": "Ada"}`, 422, ""},
		{"null", post + ctJSON + "\r\nContent-Length: 4", `null`, 422, ""},
		{"a list", post + ctJSON + "\r\nContent-Length: 3", `[1]`, 422, ""},
		{"a list without Content-Type", post + "\r\nContent-Length: 3", `[1]`, 422, ""},
		{"blank", post + ctJSON + "\r\nContent-Length: 1", ` `, 422, ""},
		{"not JSON", post + ctJSON + "\r\nContent-Length: 5", `{"a":`, 422, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, impl.Config{})
			r := s.rawCall(t, c.head, c.body)
			expectStatus(t, r, c.status)
			s.fake.mu.Lock()
			inputs := s.fake.inputs
			s.fake.mu.Unlock()
			if c.status != 200 {
				if s.fake.called("RunTask") {
					t.Fatal("a body that does not fit reached the backend")
				}
				return
			}
			if inputs == nil || !equalJSON(inputs, jsonValue(t, c.inputs)) {
				t.Fatalf("backend got inputs %#v, want %s", inputs, c.inputs)
			}
		})
	}

	t.Run("no body and no credentials is 401, not 422", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, impl.Config{})
		r := s.rawCall(t, "POST /run-task/d/p/greet HTTP/1.1", "")
		expectStatus(t, r, http.StatusUnauthorized)
	})
}

func jsonValue(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}
