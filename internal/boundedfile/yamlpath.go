package boundedfile

import (
	"encoding"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// FieldError is DecodeYAML's refusal of one value, said in the file's own terms: the YAML
// path of the key ("backend.local.port", "tasks[2].timeout"), its line, and what is wrong,
// never a Go type name.
type FieldError struct {
	// File is the path of the file.
	File string
	// Line is the line of the offending key or value, from 1.
	Line int
	// Path is the key's YAML path: dot-separated keys and [i] list indexes; "" for the
	// document itself.
	Path string
	// Msg says what is wrong and what is allowed there.
	Msg string
}

func (e *FieldError) Error() string {
	p := e.Path
	if p == "" {
		p = "the document"
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, p, e.Msg)
}

// maxFieldErrors bounds how many errors one file reports: enough to fix a file in one go,
// not thousands of lines for one repeated mistake.
const maxFieldErrors = 20

// maxVisits bounds the walk: aliases can make a small file a huge tree ("billion laughs").
// Past it the walk stops and yaml.v3's own decoding (which limits alias expansion) decides.
const maxVisits = 1 << 20

// checker walks a parsed document against the Go type it will be decoded into, by the same
// rules yaml.v3 decodes with (yaml tags, inline structs and maps, pointers, slices, maps,
// yaml.Node and Unmarshaler fields), and records every key that has no field and every
// value of the wrong kind.
type checker struct {
	file    string
	errs    []*FieldError
	more    int                 // errors past maxFieldErrors
	visits  int                 // nodes visited
	aliases map[*yaml.Node]bool // alias targets being walked (a recursive alias ends the walk)
}

func (c *checker) fail(n *yaml.Node, path, format string, args ...any) {
	if len(c.errs) >= maxFieldErrors {
		c.more++
		return
	}
	c.errs = append(c.errs, &FieldError{File: c.file, Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

var (
	unmarshalerType     = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	nodeType            = reflect.TypeFor[yaml.Node]()
	durationType        = reflect.TypeFor[time.Duration]()
)

func (c *checker) walk(n *yaml.Node, t reflect.Type, path string) {
	if c.visits++; c.visits > maxVisits {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 1 {
			c.walk(n.Content[0], t, path)
		}
		return
	case yaml.AliasNode:
		if n.Alias == nil || c.aliases[n.Alias] {
			return // yaml.v3 reports a recursive alias when it decodes
		}
		c.aliases[n.Alias] = true
		c.walk(n.Alias, t, path)
		delete(c.aliases, n.Alias)
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // null is the zero value of any type
	}
	if t == nodeType {
		return
	}
	if implementsAny(t, unmarshalerType) || n.Kind == yaml.ScalarNode && implementsAny(t, textUnmarshalerType) {
		c.decodeLeaf(n, t, path)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		c.walk(n, t.Elem(), path)
	case reflect.Interface:
		// Anything goes.
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			c.fail(n, path, "want a mapping with the keys %s, got %s", strings.Join(structKeys(t), ", "), describe(n))
			return
		}
		fields := map[string]reflect.Type{}
		var rest reflect.Type // the element type of an inline map: any other key goes there
		collectFields(t, fields, &rest)
		c.mapping(n, path, func(key *yaml.Node, keyPath string) (reflect.Type, bool) {
			if ft, ok := fields[key.Value]; ok {
				return ft, true
			}
			if rest != nil {
				return rest, true
			}
			c.fail(key, keyPath, "unknown key; the keys here are %s", strings.Join(structKeys(t), ", "))
			return nil, false
		}, t)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.fail(n, path, "want a mapping, got %s", describe(n))
			return
		}
		c.mapping(n, path, func(key *yaml.Node, keyPath string) (reflect.Type, bool) {
			c.walk(key, t.Key(), keyPath)
			return t.Elem(), true
		}, t)
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			c.fail(n, path, "want a list, got %s", describe(n))
			return
		}
		for i, item := range n.Content {
			c.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	default:
		if n.Kind != yaml.ScalarNode {
			c.fail(n, path, "want %s, got %s", want(t), describe(n))
			return
		}
		c.decodeLeaf(n, t, path)
	}
}

// mapping walks the pairs of a mapping node: field gives the type of a key's value (false:
// the key is refused and its value not walked). Merge keys ("<<: *base") are walked as part
// of this mapping, as yaml.v3 merges them.
func (c *checker) mapping(n *yaml.Node, path string, field func(key *yaml.Node, keyPath string) (reflect.Type, bool), t reflect.Type) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if key.Kind == yaml.ScalarNode && key.ShortTag() == "!!merge" {
			if val.Kind == yaml.SequenceNode {
				for _, m := range val.Content {
					c.walk(m, t, path)
				}
			} else {
				c.walk(val, t, path)
			}
			continue
		}
		keyPath := join(path, key.Value)
		if key.Kind == yaml.ScalarNode {
			if line, dup := seen[key.Value]; dup {
				c.fail(key, keyPath, "set twice (first on line %d)", line)
				continue
			}
			seen[key.Value] = key.Line
		}
		if vt, ok := field(key, keyPath); ok {
			c.walk(val, vt, keyPath)
		}
	}
}

var linePrefix = regexp.MustCompile(`^(yaml: )?(unmarshal errors:\s*)?(line \d+: )?`)

// decodeLeaf decodes a value yaml.v3 (or the type itself) decodes in one piece, and says
// what it wanted when that fails.
func (c *checker) decodeLeaf(n *yaml.Node, t reflect.Type, path string) {
	err := n.Decode(reflect.New(t).Interface())
	if err == nil {
		return
	}
	if _, typeErr := err.(*yaml.TypeError); !typeErr && implementsAny(t, unmarshalerType, textUnmarshalerType) {
		// The type's own message speaks the file's language already.
		c.fail(n, path, "%s", linePrefix.ReplaceAllString(err.Error(), ""))
		return
	}
	// yaml.v3's message names the Go type: say it in the file's terms instead.
	c.fail(n, path, "want %s, got %s", want(t), describe(n))
}

func implementsAny(t reflect.Type, ifaces ...reflect.Type) bool {
	for _, i := range ifaces {
		if t.Implements(i) || reflect.PointerTo(t).Implements(i) {
			return true
		}
	}
	return false
}

// want describes what a value of type t is written as.
func want(t reflect.Type) string {
	if t == durationType {
		return `a duration like "30s" or "1h30m"`
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return "a different value"
}

// describe says what a node is, quoting short scalars.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "…"
	}
	return strconv.Quote(v)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// collectFields maps the YAML keys of struct t to their types, following inline structs;
// an inline map's element type goes to rest.
func collectFields(t reflect.Type, fields map[string]reflect.Type, rest *reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, inline, skip := fieldKey(f)
		if skip {
			continue
		}
		if inline {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch ft.Kind() {
			case reflect.Struct:
				collectFields(ft, fields, rest)
			case reflect.Map:
				*rest = ft.Elem()
			}
			continue
		}
		fields[name] = f.Type
	}
}

// structKeys lists the YAML keys of struct t in declaration order (inline structs in place).
func structKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, inline, skip := fieldKey(f)
		switch {
		case skip:
		case inline:
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				keys = append(keys, structKeys(ft)...)
			}
		default:
			keys = append(keys, name)
		}
	}
	return keys
}

// fieldKey reads a struct field's yaml tag as yaml.v3 does: unexported fields and "-" are
// skipped; an empty name is the field's name in lower case.
func fieldKey(f reflect.StructField) (name string, inline, skip bool) {
	if !f.IsExported() && !f.Anonymous {
		return "", false, true
	}
	tag := f.Tag.Get("yaml")
	if tag == "" && !strings.Contains(string(f.Tag), ":") {
		tag = string(f.Tag)
	}
	if tag == "-" {
		return "", false, true
	}
	name, opts, _ := strings.Cut(tag, ",")
	for _, o := range strings.Split(opts, ",") {
		if o == "inline" {
			inline = true
		}
	}
	if name == "" && !inline {
		name = strings.ToLower(f.Name)
	}
	return name, inline, false
}
