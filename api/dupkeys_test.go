package api

import (
	"fmt"
	"strings"
	"testing"
)

// TestCheckKeys: a key twice in one object is found at any depth and named by JSON pointer;
// equal keys in different objects, and anything that is not JSON, are not its business.
func TestCheckKeys(t *testing.T) {
	t.Parallel()
	many := func(n int, dup bool) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			fmt.Fprintf(&b, `"k%d": %d,`, i, i)
		}
		if dup {
			b.WriteString(`"k3": 0,`)
		}
		b.WriteString(`"last": true}`)
		return b.String()
	}
	cases := []struct {
		name, body string
		place      string // "" when nothing is wrong
		reason     string
	}{
		{"flat", `{"x": 1, "y": 2}`, "", ""},
		{"empty", `{}`, "", ""},
		{"top level", `{"x": 1, "x": 2}`, "/x", "duplicate key"},
		{"same value", `{"x": 1, "x": 1}`, "/x", "duplicate key"},
		{"escaped spelling", `{"a": 1, "\u0061": 2}`, "/a", "duplicate key"},
		{"case differs", `{"a": 1, "A": 2}`, "", ""},
		{"nested object", `{"payload": {"a": 1, "b": {"c": 1, "c": 2}}}`, "/payload/b/c", "duplicate key"},
		{"in an array", `{"xs": [{"a": 1}, {"a": 1, "a": 2}]}`, "/xs/1/a", "duplicate key"},
		{"top-level array", `[{"a": 1}, {"b": 1, "b": 2}]`, "/1/b", "duplicate key"},
		{"sibling objects may share keys", `{"a": {"k": 1}, "b": {"k": 2}, "k": 3}`, "", ""},
		{"after a closed child", `{"a": {"b": 1}, "b": 2, "a": 3}`, "/a", "duplicate key"},
		{"key escaping in the pointer", `{"a/b": {"~": 1, "~": 2}}`, "/a~1b/~0", "duplicate key"},
		{"many keys", many(40, false), "", ""},
		{"many keys, one twice", many(40, true), "/k3", "duplicate key"},
		{"not JSON", `{"a": 1, "b"`, "", ""},
		{"duplicate before a syntax error", `{"a": 1, "a"`, "/a", "duplicate key"},
		{"trailing value", `{"a": 1} {"a": 1, "a": 2}`, "", ""},
		{"scalar", `3`, "", ""},
		{"deep but within bounds", strings.Repeat("[", MaxBodyDepth) + strings.Repeat("]", MaxBodyDepth), "", ""},
		{"too deep", strings.Repeat("[", MaxBodyDepth+1) + strings.Repeat("]", MaxBodyDepth+1), "/" + strings.TrimSuffix(strings.Repeat("0/", MaxBodyDepth), "/"), "nested more than 128 levels deep"},
		{"too deep in objects", `{"a": ` + strings.Repeat(`{"b": `, MaxBodyDepth) + `1` + strings.Repeat("}", MaxBodyDepth+1), "/a" + strings.Repeat("/b", MaxBodyDepth-1), "nested more than 128 levels deep"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, bad := checkKeys([]byte(c.body))
			if bad != (c.place != "") || e.Name != c.place || e.Reason != c.reason {
				t.Errorf("checkKeys = %+v, %v; want name %q reason %q", e, bad, c.place, c.reason)
			}
			if bad && e.In != "body" {
				t.Errorf("in = %q, want body", e.In)
			}
		})
	}
}

// FuzzCheckKeys: the walk never panics, and what it reports as a duplicate really is one.
func FuzzCheckKeys(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `[{"a":{"b":[1,{"c":1,"c":2}]}}]`, `{"a":{}}`, `[[[]]]`, `{"\u0061":1,"a":2}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		e, bad := checkKeys([]byte(body))
		if bad && e.Reason == "duplicate key" && e.Name == "" {
			t.Fatalf("a duplicate without a place: %q", body)
		}
	})
}

func BenchmarkCheckKeys(b *testing.B) {
	body := []byte(`{"name": "Ada", "times": 3, "tags": ["a", "b"], "opts": {"loud": true}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, bad := checkKeys(body); bad {
			b.Fatal("reported a problem")
		}
	}
}
