package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/gen"
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

// checkKeysReference is the plain json.Decoder token walk that checkKeys must agree with on
// every valid JSON document: slow (it allocates per token) but obviously right.
func checkKeysReference(data []byte) (gen.ProblemError, bool) {
	type frame struct {
		object, expectKey bool
		key               string
		index             int
		seen              map[string]bool
	}
	var stack []*frame
	path := func(frames []*frame, extra ...string) string {
		var parts []string
		for _, f := range frames {
			if f.object {
				parts = append(parts, f.key)
			} else {
				parts = append(parts, strconv.Itoa(f.index))
			}
		}
		return pointer(append(parts, extra...))
	}
	done := func() bool {
		if len(stack) == 0 {
			return false
		}
		if top := stack[len(stack)-1]; top.object {
			top.expectKey = true
		} else {
			top.index++
		}
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return gen.ProblemError{}, false
		}
		if n := len(stack); n > 0 && stack[n-1].expectKey {
			top := stack[n-1]
			k, isKey := tok.(string)
			if !isKey {
				stack = stack[:n-1]
				if !done() {
					return gen.ProblemError{}, false
				}
				continue
			}
			if top.seen[k] {
				return gen.ProblemError{In: gen.Body, Name: path(stack[:n-1], k), Reason: "duplicate key"}, true
			}
			top.seen[k], top.key, top.expectKey = true, k, false
			continue
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= MaxBodyDepth {
				return gen.ProblemError{In: gen.Body, Name: path(stack), Reason: "nested more than " + strconv.Itoa(MaxBodyDepth) + " levels deep"}, true
			}
			obj := tok == json.Delim('{')
			stack = append(stack, &frame{object: obj, expectKey: obj, seen: map[string]bool{}})
			continue
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if !done() {
			return gen.ProblemError{}, false
		}
	}
}

var keySeeds = []string{
	`{"a":1,"a":2}`, `[{"a":{"b":[1,{"c":1,"c":2}]}}]`, `{"a":{}}`, `[[[]]]`, `{"\u0061":1,"a":2}`,
	`{"a\"b":1,"a\u0022b":2}`, "{\"\xff\":1,\"\xfe\":2}", `{"é":1,"\u00e9":2}`, `{"x":[1,-2.5e3,true,false,null,"s"],"y":{"x":1}}`,
	`{"k": "v", "k2": "a,b}c", "k": 0}`, ` [ { "a" : 1 , "b" : [ ] , "a" : null } ] `, `"top"`, `-1`, `{"a":1} {"a":2}`,
}

// TestCheckKeysAgreesWithDecoder: on the seeds, and each body of TestCheckKeys, the scanner
// answers what the json.Decoder token walk answers.
func TestCheckKeysAgreesWithDecoder(t *testing.T) {
	t.Parallel()
	for _, s := range keySeeds {
		if !json.Valid([]byte(s)) {
			continue
		}
		want, wantBad := checkKeysReference([]byte(s))
		got, gotBad := checkKeys([]byte(s))
		if got != want || gotBad != wantBad {
			t.Errorf("%q: checkKeys = %+v, %v; the decoder walk says %+v, %v", s, got, gotBad, want, wantBad)
		}
	}
}

// FuzzCheckKeys: the scanner never panics, and on every valid JSON document it answers what
// the json.Decoder token walk answers (duplicate, place and depth alike).
func FuzzCheckKeys(f *testing.F) {
	for _, s := range keySeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, gotBad := checkKeys([]byte(body))
		if !json.Valid([]byte(body)) {
			return // the validator refuses it anyway
		}
		want, wantBad := checkKeysReference([]byte(body))
		if got != want || gotBad != wantBad {
			t.Fatalf("%q: checkKeys = %+v, %v; the decoder walk says %+v, %v", body, got, gotBad, want, wantBad)
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

// TestCheckKeysRandomDocuments: random valid documents (small key alphabet, so duplicates are
// common; escaped and non-ASCII spellings of the same key; arbitrary white space) get the
// same answer from the scanner and the json.Decoder token walk.
func TestCheckKeysRandomDocuments(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(8, 9))
	keys := []string{`"a"`, `"\u0061"`, `"b"`, `"a\"b"`, `"a\u0022b"`, `"é"`, `"\u00e9"`, `"/~"`, `""`, "\"\xff\"", "\"\xfe\""}
	ws := []string{"", " ", "\n\t ", "\r\n"}
	var build func(b *strings.Builder, depth int)
	build = func(b *strings.Builder, depth int) {
		b.WriteString(ws[rng.IntN(len(ws))])
		switch k := rng.IntN(10); {
		case k < 3 && depth < 8:
			b.WriteString("{")
			for i := range rng.IntN(4) {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString(ws[rng.IntN(len(ws))] + keys[rng.IntN(len(keys))] + ws[rng.IntN(len(ws))] + ":")
				build(b, depth+1)
			}
			b.WriteString("}")
		case k < 5 && depth < 8:
			b.WriteString("[")
			for i := range rng.IntN(4) {
				if i > 0 {
					b.WriteString(",")
				}
				build(b, depth+1)
			}
			b.WriteString("]")
		default:
			b.WriteString([]string{`1`, `-2.5e-3`, `true`, `false`, `null`, `"s"`, `"a,b}]"`, `"\\"`}[rng.IntN(8)])
		}
		b.WriteString(ws[rng.IntN(len(ws))])
	}
	dups := 0
	for range 20000 {
		var b strings.Builder
		build(&b, 0)
		doc := []byte(b.String())
		if !json.Valid(doc) {
			t.Fatalf("generated invalid JSON: %q", doc)
		}
		want, wantBad := checkKeysReference(doc)
		got, gotBad := checkKeys(doc)
		if got != want || gotBad != wantBad {
			t.Fatalf("%q: checkKeys = %+v, %v; the decoder walk says %+v, %v", doc, got, gotBad, want, wantBad)
		}
		if wantBad {
			dups++
		}
	}
	if dups < 1000 {
		t.Fatalf("only %d of 20000 documents had a duplicate: the generator tests little", dups)
	}
}
