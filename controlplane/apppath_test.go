package controlplane_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

func TestAppPath(t *testing.T) {
	ok := []struct{ in, path, query string }{
		{"predict", "/predict", ""},
		{"/predict", "/predict", ""},
		{"", "/", ""},
		{"/", "/", ""},
		{"v1/models/m:predict", "/v1/models/m:predict", ""},
		{"/items/", "/items/", ""},
		{"/a%20b/c", "/a%20b/c", ""},
		{"/users/me@home", "/users/me@home", ""},
		{"/search?q=flyte&n=2", "/search", "n=2&q=flyte"},
		{"...", "/...", ""},
		{"/a/.hidden", "/a/.hidden", ""},
	}
	for _, c := range ok {
		t.Run("ok "+c.in, func(t *testing.T) {
			p, q, err := controlplane.AppPath(c.in)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if p != c.path || q.Encode() != c.query {
				t.Errorf("= %q ? %q, want %q ? %q", p, q.Encode(), c.path, c.query)
			}
		})
	}
	bad := []struct{ in, rule string }{
		{"//evil.example/x", "//"},
		{"///x", "//"},
		{"/a//b", "//"},
		{"/a/../b", ".."},
		{"..", ".."},
		{"/a/./b", `"."`},
		{"/%2e%2e/admin", ".."},
		{"/%2E%2e/admin", ".."},
		{"/a/%2e", `"."`},
		{"http://evil.example/", "scheme"},
		{"javascript:alert(1)", "scheme"},
		{"HTTPS:x", "scheme"},
		{"user:pass@evil.example/x", "scheme"},
		{"user@evil.example/x", "userinfo"},
		{"%40evil.example", "userinfo"},
		{`/a\b`, "backslash"},
		{`\\evil.example`, "backslash"},
		{"/a%5cb", "backslash"},
		{"/a%2fb", "slash"},
		{"/a%2F..%2Fb", "slash"},
		{"/a#frag", "fragment"},
		{"/a\r\nX-Injected: 1", "control"},
		{"/a\nb", "control"},
		{"/a\x00b", "control"},
		{"/a%0d%0aX: 1", "control"},
		{"/a%00", "control"},
		{"/a%zz", "percent-escape"},
		{"/a?x=%zz", "query"},
	}
	for _, c := range bad {
		t.Run("bad "+c.in, func(t *testing.T) {
			p, _, err := controlplane.AppPath(c.in)
			if err == nil {
				t.Fatalf("accepted as %q", p)
			}
			if controlplane.CodeOf(err) != controlplane.CodeInvalidInput || !strings.Contains(controlplane.MessageOf(err), c.rule) {
				t.Errorf("%v (code %s), want invalid input naming %q", err, controlplane.CodeOf(err), c.rule)
			}
			if strings.ContainsAny(controlplane.MessageOf(err), "\r\n\x00") {
				t.Errorf("the message carries a control character: %q", controlplane.MessageOf(err))
			}
		})
	}
}

func TestMergeQuery(t *testing.T) {
	fromPath, _ := url.ParseQuery("q=path&keep=1&list=a")
	got, err := controlplane.MergeQuery(fromPath, map[string]any{
		"q":    "params win",
		"n":    json.Number("9007199254740993"),
		"f":    1.5,
		"b":    true,
		"list": []any{"x", json.Number("2")},
		"sp":   "a b&c=d",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "b=true&f=1.5&keep=1&list=x&list=2&n=9007199254740993&q=params+win&sp=a+b%26c%3Dd"
	if got != want {
		t.Errorf("= %s\nwant %s", got, want)
	}
	for _, bad := range []map[string]any{{"o": map[string]any{"x": 1}}, {"l": []any{[]any{1}}}, {"n": nil}} {
		if _, err := controlplane.MergeQuery(nil, bad); controlplane.CodeOf(err) != controlplane.CodeInvalidInput {
			t.Errorf("%v: %v, want invalid input", bad, err)
		}
	}
	if got, err := controlplane.MergeQuery(nil, nil); got != "" || err != nil {
		t.Errorf("empty: %q %v", got, err)
	}
}
