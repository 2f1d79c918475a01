package impl_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// TestCallAppPathRules: every path trick is refused with 400 naming the rule, through the
// whole handler, before the backend sees the call.
func TestCallAppPathRules(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{})
	cases := []struct{ name, path, rule string }{
		{"double slash", "//evil.example/x", `"//"`},
		{"inner empty segment", "/a//b", `"//"`},
		{"dot dot", "/a/../admin", `".."`},
		{"dot", "/./x", `".."`},
		{"encoded dot dot", "/a/%2e%2E/admin", `".."`},
		{"scheme", "http://evil.example/", "scheme"},
		{"javascript scheme", "javascript:alert(1)", "scheme"},
		{"userinfo", "user@evil.example/x", "userinfo"},
		{"backslash", `/a\b`, "backslash"},
		{"encoded slash", "/a%2Fb", "encoded slash"},
		{"encoded backslash", "/a%5Cb", "encoded slash"},
		{"fragment", "/a#frag", "fragment"},
		{"CR LF", "/a\r\nX-Injected: 1", "control characters"},
		{"encoded CR LF", "/a%0d%0aX-Injected:%201", "control characters"},
		{"NUL", "/a%00b", "control characters"},
		{"bad escape", "/a%zz", "percent-escape"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.call(t, "POST", "/app/my-app/call?path="+url.QueryEscape(c.path), nil, nil)
			expectStatus(t, r, http.StatusBadRequest)
			if !strings.Contains(r.str("detail"), c.rule) {
				t.Errorf("detail %q does not name the rule (%s)", r.str("detail"), c.rule)
			}
		})
	}
	if s.fake.called("CallApp") {
		t.Fatal("a refused path reached the backend")
	}
}

// TestCallAppRequest: what reaches the backend: the path with its leading "/" (optional, as
// in the Python app), the query from the path merged under query_params (which win), the
// method upper-cased, the payload only for methods with a body.
func TestCallAppRequest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, target string
		body         any
		method, path string
		query        string
		payload      bool
	}{
		{"leading slash optional", "/app/a/call?path=predict", nil, "GET", "/predict", "", false},
		{"lower-case method", "/app/a/call?path=/p&method=post", map[string]any{"payload": map[string]any{"x": 1}}, "POST", "/p", "", true},
		{"mixed-case method", "/app/a/call?path=/p&method=pAtCh", map[string]any{"payload": map[string]any{"x": 1}}, "PATCH", "/p", "", true},
		{"HEAD", "/app/a/call?path=/p&method=head", nil, "HEAD", "/p", "", false},
		{"no payload for GET", "/app/a/call?path=/p", map[string]any{"payload": map[string]any{"x": 1}}, "GET", "/p", "", false},
		{"no payload for DELETE", "/app/a/call?path=/p&method=DELETE", map[string]any{"payload": map[string]any{"x": 1}}, "DELETE", "/p", "", false},
		{"query from the path, merged, params win", "/app/a/call?path=" + url.QueryEscape("/p?a=1&b=2&b=3"),
			map[string]any{"query_params": map[string]any{"a": "x", "c": []any{1, true}}}, "GET", "/p", "a=x&b=2&b=3&c=1&c=true", false},
		{"escaped path kept", "/app/a/call?path=" + url.QueryEscape("/files/a%20b"), nil, "GET", "/files/a%20b", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, impl.Config{})
			expectStatus(t, s.call(t, "POST", c.target, c.body, nil), http.StatusOK)
			got, _ := s.fake.got("CallApp").(controlplane.AppCall)
			if got.Method != c.method || got.Path != c.path || got.RawQuery != c.query || (got.Payload != nil) != c.payload {
				t.Errorf("the backend got %+v; want method %s, path %s, query %q, payload %v", got, c.method, c.path, c.query, c.payload)
			}
		})
	}
	t.Run("unknown method is 422", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, impl.Config{})
		expectStatus(t, s.call(t, "POST", "/app/a/call?path=/p&method=TRACE", nil, nil), http.StatusUnprocessableEntity)
	})
	t.Run("a query_params value that is an object is 400", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, impl.Config{})
		r := s.call(t, "POST", "/app/a/call?path=/p", map[string]any{"query_params": map[string]any{"o": map[string]any{}}}, nil)
		expectStatus(t, r, http.StatusBadRequest)
		if !strings.Contains(r.str("detail"), "query_params.o") {
			t.Errorf("detail %q", r.str("detail"))
		}
	})
}

// TestCallAppRelay: the app's answer, relayed: its status (every class), JSON as it came,
// text as {"response": text}, a binary body refused, an error status as a problem carrying
// the app's text (the Python app's HTTPException(status_code=<the app's>, detail=...)).
func TestCallAppRelay(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{})
	cases := []struct {
		name, path string
		status     int
		body       string // the exact body for 2xx and 3xx, a substring of detail otherwise
		location   string
	}{
		{"JSON object", "/echo", 200, `{"ok":true,"method":"GET"}`, ""},
		{"JSON list", "/list", 200, `[1,2,3]`, ""},
		{"JSON under another Content-Type", "/plainjson", 200, `{"a": 1}`, ""},
		{"text", "/text", 200, `{"response":"pong"}`, ""},
		{"empty", "/empty", 200, `{"response":""}`, ""},
		{"text with control characters", "/ansi", 200, `{"response":"\u001b[32mok\u001b[0m"}`, ""},
		{"201", "/status/201", 201, `{"status": 201}`, ""},
		{"202", "/status/202", 202, `{"status": 202}`, ""},
		{"204 without a body", "/status/204", 204, ``, ""},
		{"301 with its Location", "/status/301", 301, `{"status": 301}`, "https://example.com/next"},
		{"302", "/status/302", 302, `{"status": 302}`, "https://example.com/next"},
		{"307", "/status/307", 307, `{"status": 307}`, "https://example.com/next"},
		{"304 without a body", "/status/304", 304, ``, "https://example.com/next"},
		{"400", "/status/400", 400, `Target app returned error: {"status": 400}`, ""},
		{"401", "/status/401", 401, `Target app returned error: {"status": 401}`, ""},
		{"404", "/status/404", 404, `Target app returned error: {"status": 404}`, ""},
		{"418", "/status/418", 418, `Target app returned error: {"status": 418}`, ""},
		{"429", "/status/429", 429, `Target app returned error: {"status": 429}`, ""},
		{"500 with its text", "/broken", 500, `Target app returned error: boom`, ""},
		{"503", "/status/503", 503, `Target app returned error: {"status": 503}`, ""},
		{"binary error", "/binary-error", 503, `a binary body (application/octet-stream, 3 bytes)`, ""},
		{"binary", "/binary", 502, `binary body`, ""},
		{"binary media type", "/png", 502, `binary body (image/png`, ""},
		{"a status outside 200-599", "/status/600", 502, `cannot be relayed`, ""},
		{"unreachable", "/unreachable", 502, `cannot be reached`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.call(t, "POST", "/app/my-app/call?path="+c.path, nil, nil)
			expectStatus(t, r, c.status)
			if got := r.Header.Get("Location"); got != c.location {
				t.Errorf("Location %q, want %q", got, c.location)
			}
			switch {
			case c.status >= 400:
				if !strings.Contains(r.str("detail"), c.body) {
					t.Errorf("detail %q, want it to contain %q", r.str("detail"), c.body)
				}
			case string(r.Body) != c.body:
				t.Errorf("body %s, want %s", r.Body, c.body)
			case c.body != "" && r.Header.Get("Content-Type") != "application/json":
				t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
			}
		})
	}
}

// TestGetAppStatus: status, restarts and last_error appear when the backend says what the
// app's process does, and are left out when it does not (the Python app's answer).
func TestGetAppStatus(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{})
	r := s.call(t, "GET", "/app/crashy", nil, nil)
	expectStatus(t, r, http.StatusOK)
	if r.str("status") != "crashed" || r.JSON["restarts"] != 2.0 || r.str("last_error") != "exit code 1" || r.JSON["endpoint"] != nil {
		t.Errorf("get_app %s", r.Body)
	}
	r = s.call(t, "GET", "/app/my-app", nil, nil)
	for _, k := range []string{"status", "restarts", "last_error"} {
		if _, ok := r.JSON[k]; ok {
			t.Errorf("get_app of a backend that does not say: %s present: %s", k, r.Body)
		}
	}
}
