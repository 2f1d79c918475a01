package impl_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/impl"
)

// rawRequest sends a request line exactly as given (no client-side cleaning) and returns the
// status code.
func rawRequest(t *testing.T, base, method, target string, headers map[string]string) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\n", method, target)
	for k, v := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n{}")
	if _, err := conn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestPathTricks: no spelling of a path reaches a handler around auth or an allowlist.
func TestPathTricks(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{TaskAllowlist: &[]string{"dev/proj/allowed"}})
	auth := map[string]string{"Authorization": token}
	cases := []struct {
		name, method, target string
		headers              map[string]string
		want                 int
	}{
		{"control: allowed task", "POST", "/run-task/dev/proj/allowed", auth, 200},
		{"control: no credentials", "POST", "/run-task/dev/proj/allowed", nil, 401},
		{"double slash", "POST", "//run-task/dev/proj/allowed", nil, 404},
		{"double slash inside", "POST", "/run-task//dev/proj/allowed", nil, 404},
		{"trailing slash", "POST", "/run-task/dev/proj/allowed/", nil, 404},
		{"upper case", "POST", "/RUN-TASK/dev/proj/allowed", nil, 404},
		{"dot segment", "POST", "/health/../run-task/dev/proj/allowed", nil, 404},
		{"dot segment with auth", "POST", "/run-task/dev/proj/x/../allowed", auth, 404},
		{"encoded dot segment", "POST", "/run-task/dev/proj/%2e%2e/allowed", auth, 404},
		{"encoded slash stays in the name", "POST", "/run-task/dev/proj%2Fallowed/x", auth, 403},
		{"encoded slash in name", "POST", "/run-task/dev/proj/allowed%2F..", auth, 403},
		{"double encoding decoded once", "POST", "/run-task/dev/proj/allowe%2564", auth, 403},
		{"encoded letters decode to the allowed name", "POST", "/run-task/dev/proj/allow%65d", auth, 200},
		{"health trailing slash", "GET", "/health/", nil, 404},
		{"semicolon", "POST", "/run-task/dev/proj/allowed;x", auth, 403},
		{"bad escape", "POST", "/run-task/dev/proj/%zz", auth, 400}, // refused by net/http itself
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := rawRequest(t, s.URL, c.method, c.target, c.headers); got != c.want {
				t.Errorf("%s %s → %d, want %d", c.method, c.target, got, c.want)
			}
		})
	}
}
