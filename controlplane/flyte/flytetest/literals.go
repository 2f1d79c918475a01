package flytetest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var (
	int64Text    = regexp.MustCompile(`^-?[0-9]+$`)
	durationText = regexp.MustCompile(`^-?[0-9]+(\.[0-9]{1,9})?s$`)
)

// checkLiteral refuses what is not a flyteidl2.core.Literal in protojson's shape, as this
// fake writes it: one value member set, 64-bit integers as strings, timestamps in RFC 3339,
// durations as "<seconds>s", bytes in base64.
func checkLiteral(raw json.RawMessage, path string) error {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil {
		return errorf(codeInvalidArgument, "%s: not a literal", path)
	}
	return checkLiteralValue(m, path, 0)
}

func checkLiteralValue(m map[string]any, path string, depth int) error {
	if depth > 50 {
		return errorf(codeInvalidArgument, "%s: nested too deep", path)
	}
	bad := func(format string, args ...any) error {
		return errorf(codeInvalidArgument, "%s: %s", path, fmt.Sprintf(format, args...))
	}
	member, err := oneOf(m, []string{"scalar", "collection", "map", "offloadedMetadata"}, []string{"hash", "metadata", "artifactId"})
	if err != nil {
		return bad("%v", err)
	}
	switch member {
	case "collection":
		c, _ := m["collection"].(map[string]any)
		list, ok := c["literals"].([]any)
		if c == nil || (c["literals"] != nil && !ok) {
			return bad("collection: want {literals: [...]}")
		}
		for i, item := range list {
			lm, ok := item.(map[string]any)
			if !ok {
				return bad("collection[%d]: not a literal", i)
			}
			if err := checkLiteralValue(lm, fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
				return err
			}
		}
		return nil
	case "map":
		c, _ := m["map"].(map[string]any)
		entries, ok := c["literals"].(map[string]any)
		if c == nil || (c["literals"] != nil && !ok) {
			return bad("map: want {literals: {...}}")
		}
		for k, item := range entries {
			lm, ok := item.(map[string]any)
			if !ok {
				return bad("map.%s: not a literal", k)
			}
			if err := checkLiteralValue(lm, path+"."+k, depth+1); err != nil {
				return err
			}
		}
		return nil
	case "offloadedMetadata":
		o, _ := m["offloadedMetadata"].(map[string]any)
		if o == nil || o["uri"] == nil {
			return bad("offloadedMetadata: want a uri")
		}
		return nil
	}
	sc, ok := m["scalar"].(map[string]any)
	if !ok {
		return bad("scalar: not an object")
	}
	member, err = oneOf(sc, []string{"primitive", "blob", "binary", "schema", "noneType", "error", "generic", "structuredDataset", "union"}, nil)
	if err != nil {
		return bad("scalar: %v", err)
	}
	v := sc[member]
	switch member {
	case "primitive":
		p, _ := v.(map[string]any)
		kind, err := oneOf(p, []string{"integer", "floatValue", "stringValue", "boolean", "datetime", "duration"}, nil)
		if err != nil {
			return bad("primitive: %v", err)
		}
		x := p[kind]
		switch kind {
		case "integer":
			s, ok := x.(string)
			if !ok || !int64Text.MatchString(s) {
				return bad("integer: want a 64-bit integer as a string, got %v", x)
			}
			if _, err := strconv.ParseInt(s, 10, 64); err != nil {
				return bad("integer: %s is out of range", s)
			}
		case "floatValue":
			switch f := x.(type) {
			case json.Number:
			case string:
				if f != "NaN" && f != "Infinity" && f != "-Infinity" {
					return bad("floatValue: %q", f)
				}
			default:
				return bad("floatValue: want a number, got %v", x)
			}
		case "stringValue":
			if _, ok := x.(string); !ok {
				return bad("stringValue: want a string")
			}
		case "boolean":
			if _, ok := x.(bool); !ok {
				return bad("boolean: want true or false")
			}
		case "datetime":
			s, _ := x.(string)
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				return bad("datetime: want RFC 3339, got %v", x)
			}
		case "duration":
			s, _ := x.(string)
			if !durationText.MatchString(s) {
				return bad("duration: want like \"90s\", got %v", x)
			}
		}
	case "binary":
		b, _ := v.(map[string]any)
		s, _ := b["value"].(string)
		if b == nil {
			return bad("binary: not an object")
		}
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			return bad("binary.value: not base64")
		}
	case "noneType", "generic":
		if _, ok := v.(map[string]any); !ok {
			return bad("%s: want an object", member)
		}
	case "union":
		u, _ := v.(map[string]any)
		lv, ok := u["value"].(map[string]any)
		if !ok {
			return bad("union: want a value")
		}
		if _, ok := u["type"].(map[string]any); !ok {
			return bad("union: want a type")
		}
		return checkLiteralValue(lv, path, depth+1)
	case "blob", "structuredDataset", "schema":
		b, _ := v.(map[string]any)
		if s, _ := b["uri"].(string); s == "" {
			return bad("%s: want a uri", member)
		}
	}
	return nil
}

// oneOf returns the one member of m that is set among members; others may be present too.
func oneOf(m map[string]any, members, others []string) (string, error) {
	if m == nil {
		return "", fmt.Errorf("not an object")
	}
	allowed := map[string]bool{}
	for _, k := range append(append([]string(nil), members...), others...) {
		allowed[k] = true
	}
	var set []string
	for k := range m {
		if !allowed[k] {
			return "", fmt.Errorf("unknown field %q", k)
		}
		for _, mem := range members {
			if k == mem {
				set = append(set, k)
			}
		}
	}
	if len(set) != 1 {
		return "", fmt.Errorf("want one of %s, got %d", strings.Join(members, ", "), len(set))
	}
	return set[0], nil
}

// The fake's own readers of input literals, for its tasks' behaviours.

func literalOf(raw json.RawMessage) map[string]any {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&m)
	// An optional input comes wrapped in a union.
	if sc, ok := m["scalar"].(map[string]any); ok {
		if u, ok := sc["union"].(map[string]any); ok {
			if v, ok := u["value"].(map[string]any); ok {
				return v
			}
		}
	}
	return m
}

func primitiveOf(raw json.RawMessage) map[string]any {
	sc, _ := literalOf(raw)["scalar"].(map[string]any)
	p, _ := sc["primitive"].(map[string]any)
	return p
}

func stringOf(raw json.RawMessage) (string, bool) {
	s, ok := primitiveOf(raw)["stringValue"].(string)
	return s, ok
}

func intOf(raw json.RawMessage) (*big.Int, bool) {
	var text string
	switch x := primitiveOf(raw)["integer"].(type) {
	case string:
		text = x
	case json.Number:
		text = x.String()
	default:
		return nil, false
	}
	return new(big.Int).SetString(text, 10)
}

func stringLiteral(s string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"scalar": map[string]any{"primitive": map[string]any{"stringValue": s}}})
	return b
}

func intLiteral(n *big.Int) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"scalar": map[string]any{"primitive": map[string]any{"integer": n.String()}}})
	return b
}
