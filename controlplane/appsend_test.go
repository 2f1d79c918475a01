package controlplane_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// seen is what the app received.
type seen struct {
	Method, Path, Query, Body string
	Header                    http.Header
}

func TestSendAppCall(t *testing.T) {
	t.Parallel()
	got := make(chan seen, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.Path, r.URL.RawQuery, string(b), r.Header.Clone()}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	mux.HandleFunc("/to-self", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	mux.HandleFunc("/to-outside", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://login.example/sso?x=1", http.StatusFound)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, strings.Repeat("x", 2048)) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(10 * time.Second):
		case <-r.Context().Done():
		}
	})
	app := httptest.NewServer(mux)
	t.Cleanup(app.Close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	target := controlplane.AppTarget{Name: "web", BaseURL: app.URL, UserAgent: "flyte-webhook/hook",
		Timeout: 5 * time.Second, TimeoutKey: "call_timeout", MaxBytes: 1024, MaxBytesKey: "call_max_bytes"}
	creds := controlplane.Credentials{Authorization: "Bearer secret", Cookie: "s=1"}
	ctx := controlplane.WithCredentials(context.Background(), creds)
	payload := map[string]any{"n": json.Number("9007199254740993")}

	t.Run("POST with payload, credentials not forwarded", func(t *testing.T) {
		res, err := controlplane.SendAppCall(ctx, client, controlplane.AppCall{Method: "post", Path: "/echo", RawQuery: "a=1", Payload: payload}, target)
		if err != nil || res.Status != 200 || string(res.Body) != `{"ok":true}` {
			t.Fatalf("%+v %v", res, err)
		}
		s := <-got
		if s.Method != "POST" || s.Query != "a=1" || s.Body != `{"n":9007199254740993}` {
			t.Errorf("the app got %+v", s)
		}
		for k := range s.Header {
			switch k {
			case "Content-Type", "User-Agent", "Content-Length", "Accept-Encoding":
			default:
				t.Errorf("header %s reached the app", k)
			}
		}
		if s.Header.Get("Content-Type") != "application/json" || s.Header.Get("User-Agent") != "flyte-webhook/hook" {
			t.Errorf("headers %v", s.Header)
		}
	})
	t.Run("GET drops the payload; credentials forwarded when opted in", func(t *testing.T) {
		fwd := target
		fwd.ForwardCredentials = true
		if _, err := controlplane.SendAppCall(ctx, client, controlplane.AppCall{Method: "GET", Path: "/echo", Payload: payload}, fwd); err != nil {
			t.Fatal(err)
		}
		s := <-got
		if s.Body != "" || s.Header.Get("Authorization") != creds.Authorization || s.Header.Get("Cookie") != creds.Cookie {
			t.Errorf("the app got %+v", s)
		}
	})
	t.Run("redirects relayed, never followed; loopback Location left out", func(t *testing.T) {
		res, err := controlplane.SendAppCall(ctx, client, controlplane.AppCall{Method: "GET", Path: "/to-self"}, target)
		if err != nil || res.Status != http.StatusFound || res.Location != "" {
			t.Errorf("to self: %+v %v", res, err)
		}
		res, err = controlplane.SendAppCall(ctx, client, controlplane.AppCall{Method: "GET", Path: "/to-outside"}, target)
		if err != nil || res.Status != http.StatusFound || res.Location != "https://login.example/sso?x=1" {
			t.Errorf("to outside: %+v %v", res, err)
		}
	})
	cases := []struct {
		name   string
		call   controlplane.AppCall
		target func(controlplane.AppTarget) controlplane.AppTarget
		code   controlplane.Code
		says   string
	}{
		{"method", controlplane.AppCall{Method: "TRACE", Path: "/echo"}, nil, controlplane.CodeInvalidInput, "method"},
		{"path not clean", controlplane.AppCall{Method: "GET", Path: "echo"}, nil, controlplane.CodeInvalidInput, "path"},
		{"query in the path", controlplane.AppCall{Method: "GET", Path: "/echo?x=1"}, nil, controlplane.CodeInvalidInput, "RawQuery"},
		{"path trick", controlplane.AppCall{Method: "GET", Path: "//evil.example/x"}, nil, controlplane.CodeInvalidInput, "//"},
		{"bad query", controlplane.AppCall{Method: "GET", Path: "/echo", RawQuery: "x=%zz"}, nil, controlplane.CodeInvalidInput, "query"},
		{"too large", controlplane.AppCall{Method: "GET", Path: "/big"}, nil, controlplane.CodeBadGateway, "call_max_bytes"},
		{"too slow", controlplane.AppCall{Method: "GET", Path: "/slow"}, func(t controlplane.AppTarget) controlplane.AppTarget {
			t.Timeout = 100 * time.Millisecond
			return t
		}, controlplane.CodeDeadlineExceeded, "call_timeout"},
		{"no answer", controlplane.AppCall{Method: "GET", Path: "/"}, func(t controlplane.AppTarget) controlplane.AppTarget {
			t.BaseURL = "http://127.0.0.1:1"
			return t
		}, controlplane.CodeBadGateway, "did not answer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := target
			if c.target != nil {
				tg = c.target(tg)
			}
			_, err := controlplane.SendAppCall(ctx, client, c.call, tg)
			if controlplane.CodeOf(err) != c.code || !strings.Contains(controlplane.MessageOf(err), c.says) {
				t.Errorf("%v (%s), want %s saying %q", err, controlplane.CodeOf(err), c.code, c.says)
			}
			if strings.Contains(controlplane.MessageOf(err), "127.0.0.1") {
				t.Errorf("the message shows the app's address: %q", controlplane.MessageOf(err))
			}
		})
	}
}
