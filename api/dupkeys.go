package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

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
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		Fail(c, http.StatusRequestEntityTooLarge, "request body is larger than the limit of "+strconv.FormatInt(tooLarge.Limit, 10)+" bytes")
		return false
	case err != nil:
		writeInvalid(c, []gen.ProblemError{{In: gen.Body, Reason: "the body could not be read"}})
		return false
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(data))
	if e, bad := checkKeys(data); bad {
		writeInvalid(c, []gen.ProblemError{e})
		return false
	}
	return true
}

// keyFrame is one open object or array of the walk.
type keyFrame struct {
	object    bool
	expectKey bool   // object: the next token is a key or the closing brace
	key       string // object: the key whose value is being read
	index     int    // array: the index of the element being read
	first     int    // object: where its keys start in the walk's shared key list
	set       map[string]struct{}
}

// checkKeys walks data as a stream of JSON tokens and returns the first duplicate key, or
// the place where the nesting gets too deep, named by JSON pointer as the validator names
// places. Data that is not JSON is not its business: it reports nothing and leaves the
// syntax error to the validator.
func checkKeys(data []byte) (gen.ProblemError, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers stay strings: nothing here needs their value
	var stack []keyFrame
	var keys []string // the keys of the open objects, each object's after its first
	for {
		tok, err := dec.Token()
		if err != nil {
			return gen.ProblemError{}, false // io.EOF or not JSON
		}
		if n := len(stack); n > 0 && stack[n-1].expectKey {
			top := &stack[n-1]
			k, isKey := tok.(string)
			if !isKey { // the object's closing brace
				keys = keys[:top.first]
				stack = stack[:n-1]
				if !valueDone(stack) {
					return gen.ProblemError{}, false
				}
				continue
			}
			if top.has(k, keys) {
				return gen.ProblemError{In: gen.Body, Name: place(stack[:n-1], k), Reason: "duplicate key"}, true
			}
			keys = top.add(k, keys)
			top.key, top.expectKey = k, false
			continue
		}
		d, isDelim := tok.(json.Delim)
		switch {
		case isDelim && (d == '{' || d == '['):
			if len(stack) >= MaxBodyDepth {
				return gen.ProblemError{In: gen.Body, Name: place(stack), Reason: "nested more than " + strconv.Itoa(MaxBodyDepth) + " levels deep"}, true
			}
			stack = append(stack, keyFrame{object: d == '{', expectKey: d == '{', first: len(keys)})
			continue
		case isDelim: // ']': objects close in the branch above
			stack = stack[:len(stack)-1]
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

func (f *keyFrame) has(k string, keys []string) bool {
	if f.set != nil {
		_, ok := f.set[k]
		return ok
	}
	for _, seen := range keys[f.first:] {
		if seen == k {
			return true
		}
	}
	return false
}

// add records k; an object with many keys moves them to a map, so a body of one huge object
// costs linear time, not quadratic.
func (f *keyFrame) add(k string, keys []string) []string {
	if f.set != nil {
		f.set[k] = struct{}{}
		return keys
	}
	keys = append(keys, k)
	if len(keys)-f.first >= manyKeys {
		f.set = make(map[string]struct{}, 2*manyKeys)
		for _, seen := range keys[f.first:] {
			f.set[seen] = struct{}{}
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
			parts = append(parts, f.key)
		} else {
			parts = append(parts, strconv.Itoa(f.index))
		}
	}
	return pointer(append(parts, extra...))
}
