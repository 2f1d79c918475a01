package local_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/api/apitest"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// call_app through the whole webhook (impl's handler, middleware included) over the local
// backend and a real app: every answer is checked against openapi.yaml.

var (
	contractOnce sync.Once
	contract     *apitest.Contract
	contractErr  error
)

type webhook struct {
	url string
	b   *local.Backend
}

// newWebhook serves the webhook over a backend with the given apps, each activated.
func newWebhook(t *testing.T, apps []helperApp, adjust func(*local.Config)) *webhook {
	t.Helper()
	contractOnce.Do(func() { contract, contractErr = apitest.New() })
	if contractErr != nil {
		t.Fatal(contractErr)
	}
	b, _ := openWithApps(t, []helperTask{}, apps, func(c *local.Config) {
		c.WebhookName = "test-webhook"
		if adjust != nil {
			adjust(c)
		}
	})
	for _, a := range apps {
		setActive(t, b, a.name, true)
	}
	h, err := impl.NewHandler(impl.Config{Name: "test-webhook"}, b)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &webhook{url: srv.URL, b: b}
}

type answer struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

// noRedirects answers each response as it came: a relayed redirect is looked at, not followed.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// call POSTs to call_app of app with the given path, method and body, with a bearer token
// unless headers say otherwise, and checks the answer against the spec.
func (w *webhook) call(t *testing.T, app, path, method string, body any, headers map[string]string) answer {
	t.Helper()
	q := url.Values{"path": {path}}
	if method != "" {
		q.Set("method", method)
	}
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest("POST", w.url+"/app/"+app+"/call?"+q.Encode(), bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer caller-token")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	a := answer{status: res.StatusCode, header: res.Header}
	if a.body, err = io.ReadAll(res.Body); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(a.body))
	dec.UseNumber()
	_ = dec.Decode(&a.json)
	if _, err := contract.Check(req, raw, a.status, a.header, a.body); err != nil {
		t.Error(err)
	}
	return a
}

func (a answer) str(key string) string {
	s, _ := a.json[key].(string)
	return s
}

// headersOf is what the echo app saw of the request's headers.
func (a answer) headersOf() map[string]any {
	h, _ := a.json["headers"].(map[string]any)
	return h
}

// TestCallAppRelays: the app's answers as the webhook relays them.
func TestCallAppRelays(t *testing.T) {
	t.Parallel()
	w := newWebhook(t, []helperApp{{name: "web"}}, func(c *local.Config) { c.CallMaxBytes = 1000 })
	endpoint := getApp(t, w.b, "web").Endpoint

	t.Run("JSON, with the path's query merged under query_params and the payload's integers exact", func(t *testing.T) {
		a := w.call(t, "web", "echo?a=1&b=1", "post", map[string]any{"payload": json.RawMessage(`{"n": 9007199254740993}`), "query_params": map[string]any{"b": "2"}}, nil)
		if a.status != 200 || a.str("method") != "POST" || a.str("path") != "/echo" || !bytes.Contains(a.body, []byte(`"n":9007199254740993`)) {
			t.Fatalf("%d %s", a.status, a.body)
		}
		if q, _ := a.json["query"].(map[string]any); q["a"] != "1" || q["b"] != "2" {
			t.Errorf("query %v", a.json["query"])
		}
	})
	t.Run("only Content-Type and User-Agent reach the app", func(t *testing.T) {
		a := w.call(t, "web", "/echo", "GET", nil, map[string]string{
			"Cookie": "flyte_webhook_token=secret", "X-Custom": "x", "Proxy-Authorization": "Basic eA==", "Connection": "X-Custom, keep-alive",
			"Keep-Alive": "timeout=5", "Te": "trailers", "X-Forwarded-For": "10.0.0.1",
		})
		h := a.headersOf()
		if h["User-Agent"] != "flyte-webhook/test-webhook" || h["Content-Type"] != "application/json" {
			t.Errorf("headers %v", h)
		}
		for k := range h {
			if k != "User-Agent" && k != "Content-Type" && k != "Accept-Encoding" {
				t.Errorf("the app received %s: %v", k, h)
			}
		}
		if a.str("authorization") != "" {
			t.Errorf("credentials reached an app that did not opt in: %s", a.body)
		}
	})
	t.Run("text", func(t *testing.T) {
		if a := w.call(t, "web", "/text", "", nil, nil); a.status != 200 || string(a.body) != `{"response":"hello"}` {
			t.Errorf("%d %s", a.status, a.body)
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		if a := w.call(t, "web", "/echo", "head", nil, nil); a.status != 200 || string(a.body) != `{"response":""}` {
			t.Errorf("%d %s", a.status, a.body)
		}
	})
	t.Run("binary is 502", func(t *testing.T) {
		if a := w.call(t, "web", "/binary", "", nil, nil); a.status != 502 || !strings.Contains(a.str("detail"), "binary") {
			t.Errorf("%d %s", a.status, a.body)
		}
	})
	for _, c := range []struct {
		path   string
		status int
		want   string // the body of a 2xx or 3xx, a part of the detail otherwise
	}{
		{"/status/201", 201, `{"status":201}`},
		{"/status/202", 202, `{"status":202}`},
		{"/status/204", 204, ``},
		{"/status/400", 400, `Target app returned error: {"status":400}`},
		{"/status/404", 404, `Target app returned error: {"status":404}`},
		{"/status/418", 418, `Target app returned error: {"status":418}`},
		{"/status/500", 500, `Target app returned error: {"status":500}`},
		{"/status/503", 503, `Target app returned error: {"status":503}`},
	} {
		t.Run("status "+c.path, func(t *testing.T) {
			a := w.call(t, "web", c.path, "", nil, nil)
			switch {
			case a.status != c.status:
				t.Errorf("%d %s, want %d", a.status, a.body, c.status)
			case c.status < 300 && string(bytes.TrimSpace(a.body)) != c.want:
				t.Errorf("body %s, want %s", a.body, c.want)
			case c.status >= 400 && !strings.Contains(a.str("detail"), c.want):
				t.Errorf("detail %q, want %q in it", a.str("detail"), c.want)
			}
		})
	}
	for _, c := range []struct{ name, to, code, location string }{
		{"relative, to the app: dropped", "/echo", "302", ""},
		{"the app's own address: dropped", endpoint + "/echo", "307", ""},
		{"localhost: dropped", strings.Replace(endpoint, "127.0.0.1", "localhost", 1) + "/x", "302", ""},
		{"another loopback address: dropped", "http://127.0.0.2:9/x", "302", ""},
		{"elsewhere: relayed", "https://login.example.com/next?x=1", "301", "https://login.example.com/next?x=1"},
	} {
		t.Run("redirect not followed, "+c.name, func(t *testing.T) {
			a := w.call(t, "web", "/redirect?"+url.Values{"to": {c.to}, "code": {c.code}}.Encode(), "", nil, nil)
			if strconv.Itoa(a.status) != c.code || a.header.Get("Location") != c.location || a.json["moved"] != true {
				t.Errorf("%d Location %q %s, want %s Location %q", a.status, a.header.Get("Location"), a.body, c.code, c.location)
			}
		})
	}
	t.Run("an answer of call_max_bytes passes", func(t *testing.T) {
		if a := w.call(t, "web", "/big?n=990", "", nil, nil); a.status != 200 || len(a.str("response")) != 990 {
			t.Errorf("%d, %d bytes", a.status, len(a.body))
		}
	})
	t.Run("an answer over call_max_bytes is 502", func(t *testing.T) {
		if a := w.call(t, "web", "/big?n=1001", "", nil, nil); a.status != 502 || !strings.Contains(a.str("detail"), "call_max_bytes") {
			t.Errorf("%d %s", a.status, a.body)
		}
	})
	t.Run("no answer is 502", func(t *testing.T) {
		a := w.call(t, "web", "/hangup", "", nil, nil)
		if a.status != 502 || !strings.Contains(a.str("detail"), "did not answer") || strings.Contains(string(a.body), "127.0.0.1") {
			t.Errorf("%d %s", a.status, a.body)
		}
	})
	t.Run("path tricks are 400 before the app is called", func(t *testing.T) {
		for _, p := range []string{"../env", "/%2e%2e/env", "//127.0.0.1/env", "http://example.com/", "/a%2Fb", "/a\\b", "/a#b", "/a\r\nX: y"} {
			if a := w.call(t, "web", p, "", nil, nil); a.status != 400 {
				t.Errorf("%q: %d %s", p, a.status, a.body)
			}
		}
	})
	t.Run("unknown app is 404", func(t *testing.T) {
		if a := w.call(t, "web-nope", "/echo", "", nil, nil); a.status != 404 {
			t.Errorf("%d %s", a.status, a.body)
		}
	})
	t.Run("an app that is not active is 409", func(t *testing.T) {
		setActive(t, w.b, "web", false)
		if a := w.call(t, "web", "/echo", "", nil, nil); a.status != 409 || !strings.Contains(a.str("detail"), "not active") {
			t.Errorf("%d %s", a.status, a.body)
		}
	})
}

// TestCallAppTimeout: an app slower than call_timeout is 504, saying so.
func TestCallAppTimeout(t *testing.T) {
	t.Parallel()
	w := newWebhook(t, []helperApp{{name: "web"}}, func(c *local.Config) { c.CallTimeout = 200 * time.Millisecond })
	if a := w.call(t, "web", "/slow", "", nil, nil); a.status != 504 || !strings.Contains(a.str("detail"), "call_timeout") {
		t.Errorf("%d %s", a.status, a.body)
	}
}

// TestCallAppCredentials: the caller's Authorization and Cookie reach an app declared with
// forward_credentials: true, and no other.
func TestCallAppCredentials(t *testing.T) {
	t.Parallel()
	w := newWebhook(t, []helperApp{{name: "closed"}, {name: "trusting", extra: "    forward_credentials: true\n"}}, nil)
	creds := map[string]string{"Cookie": "flyte_webhook_token=secret; theme=dark"}
	a := w.call(t, "trusting", "/echo", "", nil, creds)
	if a.str("authorization") != "Bearer caller-token" || a.headersOf()["Cookie"] != creds["Cookie"] {
		t.Errorf("an app that opted in received %s", a.body)
	}
	a = w.call(t, "closed", "/echo", "", nil, creds)
	if a.str("authorization") != "" || a.headersOf()["Cookie"] != nil {
		t.Errorf("an app that did not opt in received %s", a.body)
	}
}
