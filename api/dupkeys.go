package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/flyte-webhook/flyte-webhook/gen"
)

// MaxBodyDepth is how deeply a request body may nest objects and arrays: deeper is a 422.
// The seed has no such bound short of Python's recursion limit; no task input comes close.
const MaxBodyDepth = 128

// manyKeys is the number of keys from which an object's keys are looked up in a map rather
// than compared one by one.
const manyKeys = 16

// refuseDuplicateKeys reads the request body, puts it back for the validator, and answers
// 422 when an object in it has the same key twice (at any depth) or it nests deeper than
// MaxBodyDepth; 413 when it is over the size limit. It reports whether the request may go on.
//
// Why: encoding/json and kin-openapi keep the last of two equal keys, other parsers the
// first, so a body with a duplicate key means different things to different readers (the
// validator, the generated binder, a backend, a task). Keys are compared after unescaping,
// so {"a": 1, "\u0061": 2} is a duplicate too; they are case-sensitive, as task inputs are.
func refuseDuplicateKeys(c *gin.Context) bool {
	if c.Request.Body == nil || c.Request.Body == http.NoBody {
		return true
	}
	data, err := io.ReadAll(c.Request.Body)
	_ = c.Request.Body.Close()
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			Fail(c, http.StatusRequestEntityTooLarge, "request body is larger than the limit of "+strconv.FormatInt(tooLarge.Limit, 10)+" bytes")
		} else {
			writeInvalid(c, []gen.ProblemError{{In: gen.Body, Reason: "the body could not be read"}})
		}
		return false
	}
	rb := new(readBody)
	rb.Reset(data)
	c.Request.Body = rb
	if e, bad := checkKeys(data); bad {
		writeInvalid(c, []gen.ProblemError{e})
		return false
	}
	return true
}

// readBody is a body already read, for the validator to read again.
type readBody struct{ bytes.Reader }

func (*readBody) Close() error { return nil }

// keyFrame is one open object or array of the scan.
type keyFrame struct {
	object    bool
	expectKey bool   // object: a key, a comma or the closing brace comes next
	key       []byte // object: the key whose value is being read
	index     int    // array: the index of the element being read
	first     int    // object: where its keys start in the scan's shared key list
	set       map[string]struct{}
}

// checkKeys scans data and returns the first duplicate key, or the place where the nesting
// gets too deep, named by JSON pointer as the validator names places. It only finds keys:
// data that is not JSON is the validator's business (which parses every body after it), so
// it stops at the first thing that cannot be JSON and reports nothing.
//
// It is a scanner of its own rather than a json.Decoder token walk because the decoder
// allocates several times per scalar value (74 allocations for a five-input run_task body,
// taking the whole request from 109 allocations to 190); this one allocates only for keys
// that need unescaping and for objects with many keys. A fuzz test holds it to a json.Decoder
// token walk on every valid JSON document. Keys are compared as encoding/json decodes them.
func checkKeys(data []byte) (gen.ProblemError, bool) {
	var stackBuf [16]keyFrame
	var keysBuf [32][]byte
	stack := stackBuf[:0]
	keys := keysBuf[:0] // the keys of the open objects, each object's after its first
	for i := 0; ; {
		i = skipSpace(data, i)
		if i >= len(data) {
			return gen.ProblemError{}, false
		}
		c := data[i]
		n := len(stack)
		if n > 0 && stack[n-1].expectKey {
			top := &stack[n-1]
			switch c {
			case ',':
				i++
			case '}':
				i++
				keys = keys[:top.first]
				stack = stack[:n-1]
				if !valueDone(stack) {
					return gen.ProblemError{}, false
				}
			case '"':
				k, end, ok := scanString(data, i, true)
				if !ok {
					return gen.ProblemError{}, false
				}
				if top.has(k, keys) {
					return gen.ProblemError{In: gen.Body, Name: place(stack[:n-1], string(k)), Reason: "duplicate key"}, true
				}
				if i = skipSpace(data, end); i >= len(data) || data[i] != ':' {
					return gen.ProblemError{}, false
				}
				i++
				keys = top.add(k, keys)
				top.key, top.expectKey = k, false
			default:
				return gen.ProblemError{}, false
			}
			continue
		}
		switch {
		case c == '{' || c == '[':
			if n >= MaxBodyDepth {
				return gen.ProblemError{In: gen.Body, Name: place(stack), Reason: "nested more than " + strconv.Itoa(MaxBodyDepth) + " levels deep"}, true
			}
			stack = append(stack, keyFrame{object: c == '{', expectKey: c == '{', first: len(keys)})
			i++
			continue
		case c == ',' && n > 0 && !stack[n-1].object: // between array elements
			i++
			continue
		case c == ']' && n > 0 && !stack[n-1].object:
			stack = stack[:n-1]
			i++
		case c == '"':
			_, end, ok := scanString(data, i, false)
			if !ok {
				return gen.ProblemError{}, false
			}
			i = end
		case c == '-' || c >= '0' && c <= '9' || c == 't' || c == 'f' || c == 'n':
			// A number, true, false or null: its value does not matter here.
			for i++; i < len(data) && !endsScalar(data[i]); i++ {
			}
		default:
			return gen.ProblemError{}, false
		}
		if !valueDone(stack) {
			return gen.ProblemError{}, false
		}
	}
}

// valueDone records that a value of the innermost open object or array is complete. It
// reports false once the top-level value is complete: whatever follows is for the validator
// to refuse.
func valueDone(stack []keyFrame) bool {
	if len(stack) == 0 {
		return false
	}
	top := &stack[len(stack)-1]
	if top.object {
		top.expectKey = true
	} else {
		top.index++
	}
	return true
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

func endsScalar(b byte) bool {
	switch b {
	case ',', ']', '}', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// scanString reads the string starting at data[i] (a quote) and returns the index after its
// closing quote and, when decode is set, its value as encoding/json decodes it. A string
// without escapes and in valid UTF-8 is its own bytes (no allocation); any other is decoded
// by encoding/json itself, so escapes and invalid UTF-8 (U+FFFD) come out exactly as the
// validator sees them.
func scanString(data []byte, i int, decode bool) ([]byte, int, bool) {
	plain := true
	for j := i + 1; j < len(data); j++ {
		switch b := data[j]; {
		case b == '"':
			raw := data[i+1 : j]
			if !decode || plain && (!hasHighBit(raw) || utf8.Valid(raw)) {
				return raw, j + 1, true
			}
			var s string
			if json.Unmarshal(data[i:j+1], &s) != nil {
				return nil, 0, false
			}
			return []byte(s), j + 1, true
		case b == '\\':
			plain = false
			j++ // the escaped byte cannot end the string
		case b < 0x20:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

func hasHighBit(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

func (f *keyFrame) has(k []byte, keys [][]byte) bool {
	if f.set != nil {
		_, ok := f.set[string(k)]
		return ok
	}
	for _, seen := range keys[f.first:] {
		if bytes.Equal(seen, k) {
			return true
		}
	}
	return false
}

// add records k; an object with many keys moves them to a map, so a body of one huge object
// costs linear time, not quadratic.
func (f *keyFrame) add(k []byte, keys [][]byte) [][]byte {
	if f.set != nil {
		f.set[string(k)] = struct{}{}
		return keys
	}
	keys = append(keys, k)
	if len(keys)-f.first >= manyKeys {
		f.set = make(map[string]struct{}, 2*manyKeys)
		for _, seen := range keys[f.first:] {
			f.set[string(seen)] = struct{}{}
		}
		keys = keys[:f.first]
	}
	return keys
}

// place returns the JSON pointer of the value being read in the innermost frame of stack
// (each frame's current key or index), followed by extra segments.
func place(stack []keyFrame, extra ...string) string {
	parts := make([]string, 0, len(stack)+len(extra))
	for _, f := range stack {
		if f.object {
			parts = append(parts, string(f.key))
		} else {
			parts = append(parts, strconv.Itoa(f.index))
		}
	}
	return pointer(append(parts, extra...))
}
