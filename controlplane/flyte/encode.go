package flyte

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// typeName returns the API's name for a Flyte type: string, integer, float, boolean,
// datetime, duration, list, object, or one of this backend's own names (file, directory,
// dataframe, binary, none, union, schema, error, unknown). An optional type (a union of a type
// and none) is named after its type.
func typeName(t *literalType) string {
	switch {
	case t.Simple != nil:
		switch *t.Simple {
		case "INTEGER":
			return "integer"
		case "FLOAT":
			return "float"
		case "STRING":
			return "string"
		case "BOOLEAN":
			return "boolean"
		case "DATETIME":
			return "datetime"
		case "DURATION":
			return "duration"
		case "STRUCT":
			return "object"
		case "BINARY":
			return "binary"
		case "NONE":
			return "none"
		case "ERROR":
			return "error"
		}
	case t.CollectionType != nil:
		return "list"
	case t.MapValueType != nil:
		return "object"
	case t.EnumType != nil:
		return "string"
	case t.UnionType != nil:
		var some []string
		for i := range t.UnionType.Variants {
			if v := &t.UnionType.Variants[i]; !v.isNone() {
				some = append(some, typeName(v))
			}
		}
		if len(some) == 1 {
			return some[0]
		}
		return "union"
	case t.Blob != nil:
		if t.Blob.Dimensionality == "MULTIPART" {
			return "directory"
		}
		return "file"
	case t.StructuredDatasetType != nil:
		return "dataframe"
	case t.Schema != nil:
		return "schema"
	}
	return "unknown"
}

func (t *literalType) isNone() bool { return t.Simple != nil && *t.Simple == "NONE" }

// encodeValue encodes a JSON value (as encoding/json decodes it with UseNumber, or a Go
// number from a direct caller) as a literal of type t. Errors say what was wanted and what
// came, for the caller; path locates a value inside a list or an object.
func encodeValue(t *literalType, v any, path string) (*literal, error) {
	if t.UnionType != nil {
		return encodeUnion(t, v, path)
	}
	if v == nil {
		if t.isNone() {
			return &literal{Scalar: &scalar{NoneType: &struct{}{}}}, nil
		}
		return nil, wantGot(path, typeName(t), v)
	}
	switch {
	case t.Simple != nil:
		return encodeSimple(t, *t.Simple, v, path)
	case t.CollectionType != nil:
		list, ok := v.([]any)
		if !ok {
			return nil, wantGot(path, "list", v)
		}
		out := &literalCollection{Literals: make([]*literal, len(list))}
		for i, item := range list {
			lit, err := encodeValue(t.CollectionType, item, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out.Literals[i] = lit
		}
		return &literal{Collection: out}, nil
	case t.MapValueType != nil:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, wantGot(path, "object", v)
		}
		out := &literalMap{Literals: make(map[string]*literal, len(obj))}
		for k, item := range obj {
			lit, err := encodeValue(t.MapValueType, item, path+"."+k)
			if err != nil {
				return nil, err
			}
			out.Literals[k] = lit
		}
		return &literal{Map: out}, nil
	case t.EnumType != nil:
		s, ok := v.(string)
		if !ok {
			return nil, wantGot(path, "string", v)
		}
		for _, allowed := range t.EnumType.Values {
			if s == allowed {
				return stringLiteral(s), nil
			}
		}
		return nil, fmt.Errorf("%swant one of %s, got %q", prefix(path), strings.Join(t.EnumType.Values, ", "), s)
	case t.Blob != nil:
		uri, ok := v.(string)
		if !ok || uri == "" {
			return nil, wantGot(path, "the URI of a "+typeName(t), v)
		}
		bt := *t.Blob
		return &literal{Scalar: &scalar{Blob: &blob{Metadata: &blobMetadata{Type: &bt}, URI: uri}}}, nil
	case t.StructuredDatasetType != nil:
		uri, ok := v.(string)
		if !ok || uri == "" {
			return nil, wantGot(path, "the URI of a dataframe", v)
		}
		meta, _ := json.Marshal(map[string]json.RawMessage{"structuredDatasetType": t.StructuredDatasetType})
		return &literal{Scalar: &scalar{StructuredDataset: &structuredDataset{URI: uri, Metadata: meta}}}, nil
	}
	return nil, fmt.Errorf("%sa value of type %s cannot be given as JSON", prefix(path), typeName(t))
}

func encodeUnion(t *literalType, v any, path string) (*literal, error) {
	var names []string
	for i := range t.UnionType.Variants {
		variant := &t.UnionType.Variants[i]
		names = append(names, typeName(variant))
		if (v == nil) != variant.isNone() {
			continue
		}
		lit, err := encodeValue(variant, v, path)
		if err != nil {
			continue
		}
		return &literal{Scalar: &scalar{Union: &union{Value: lit, Type: variant.Raw}}}, nil
	}
	return nil, fmt.Errorf("%swant one of %s, got %s", prefix(path), strings.Join(names, ", "), controlplane.JSONKind(v))
}

func encodeSimple(t *literalType, simple string, v any, path string) (*literal, error) {
	switch simple {
	case "INTEGER":
		n, err := toInteger(v)
		if err != nil {
			return nil, fmt.Errorf("%s%w", prefix(path), err)
		}
		p := protoInt64(n)
		return &literal{Scalar: &scalar{Primitive: &primitive{Integer: &p}}}, nil
	case "FLOAT":
		f, err := toFloat(v)
		if err != nil {
			return nil, fmt.Errorf("%s%w", prefix(path), err)
		}
		d := protoDouble(formatFloat(f))
		return &literal{Scalar: &scalar{Primitive: &primitive{FloatValue: &d}}}, nil
	case "STRING":
		s, ok := v.(string)
		if !ok {
			return nil, wantGot(path, "string", v)
		}
		return stringLiteral(s), nil
	case "BOOLEAN":
		b, ok := v.(bool)
		if !ok {
			return nil, wantGot(path, "boolean", v)
		}
		return &literal{Scalar: &scalar{Primitive: &primitive{Boolean: &b}}}, nil
	case "DATETIME":
		s, ok := v.(string)
		if !ok {
			return nil, wantGot(path, "datetime", v)
		}
		at, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf("%swant an RFC 3339 date-time like 2026-11-26T12:00:00Z, got %q", prefix(path), s)
		}
		ts := at.UTC().Format(time.RFC3339Nano)
		return &literal{Scalar: &scalar{Primitive: &primitive{Datetime: &ts}}}, nil
	case "DURATION":
		s, ok := v.(string)
		if !ok {
			return nil, wantGot(path, "duration", v)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("%swant a duration like 90s or 1h30m, got %q", prefix(path), s)
		}
		ds := protoDuration(d)
		return &literal{Scalar: &scalar{Primitive: &primitive{Duration: &ds}}}, nil
	case "STRUCT":
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, wantGot(path, "object", v)
		}
		if t.msgpackStruct() {
			b, err := toMsgpack(obj)
			if err != nil {
				return nil, fmt.Errorf("%s%w", prefix(path), err)
			}
			return &literal{Scalar: &scalar{Binary: &binary{Value: b, Tag: "msgpack"}}}, nil
		}
		if err := checkStructNumbers(obj, path); err != nil {
			return nil, err
		}
		b, err := json.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("%sthe object cannot be written as JSON: %v", prefix(path), err)
		}
		return &literal{Scalar: &scalar{Generic: b}}, nil
	case "NONE":
		return nil, wantGot(path, "null", v)
	}
	return nil, fmt.Errorf("%sa value of type %s cannot be given as JSON", prefix(path), typeName(t))
}

func stringLiteral(s string) *literal {
	return &literal{Scalar: &scalar{Primitive: &primitive{StringValue: &s}}}
}

// protoDuration writes d as protojson writes a google.protobuf.Duration: seconds with up to
// nine fractional digits and an "s".
func protoDuration(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	secs, nanos := int64(d/time.Second), int64(d%time.Second)
	if nanos == 0 {
		return sign + strconv.FormatInt(secs, 10) + "s"
	}
	frac := strings.TrimRight(fmt.Sprintf("%09d", nanos), "0")
	return sign + strconv.FormatInt(secs, 10) + "." + frac + "s"
}

// jsonNumber is JSON's number syntax: a json.Number from a direct caller may hold anything,
// and strconv and math/big accept more (hex, "NaN", "1/2").
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

// toInteger returns v as the decimal text of a 64-bit integer. 3, 3.0 and 3e0 are integers;
// 3.5 is not; a Go float64 is one only while it is exact (up to 2^53).
func toInteger(v any) (string, error) {
	var s string
	switch n := v.(type) {
	case json.Number:
		if !jsonNumber.MatchString(string(n)) {
			return "", fmt.Errorf("want integer, got %q", string(n))
		}
		s = n.String()
	case int:
		return strconv.Itoa(n), nil
	case int64:
		return strconv.FormatInt(n, 10), nil
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return "", fmt.Errorf("want integer, got %v", n)
		}
		return strconv.FormatInt(int64(n), 10), nil
	default:
		return "", fmt.Errorf("want integer, got %s", controlplane.JSONKind(v))
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return strconv.FormatInt(i, 10), nil
	}
	// A huge exponent is refused before math/big would compute 10 to its power.
	if m := jsonNumber.FindStringSubmatch(s); m[3] != "" {
		if e, err := strconv.Atoi(m[3][1:]); err != nil || e > 1000 || e < -1000 {
			return "", fmt.Errorf("integer %s is out of the 64-bit range", s)
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || !r.IsInt() {
		return "", fmt.Errorf("want integer, got %s", s)
	}
	if !r.Num().IsInt64() {
		return "", fmt.Errorf("integer %s is out of the 64-bit range", s)
	}
	return r.Num().String(), nil
}

func toFloat(v any) (float64, error) {
	switch n := v.(type) {
	case json.Number:
		if !jsonNumber.MatchString(string(n)) {
			return 0, fmt.Errorf("want float, got %q", string(n))
		}
		f, err := strconv.ParseFloat(n.String(), 64)
		if err != nil || math.IsInf(f, 0) {
			return 0, fmt.Errorf("float %s is out of the 64-bit range", n)
		}
		return f, nil
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return 0, fmt.Errorf("want a finite float, got %v", n)
		}
		return n, nil
	case int:
		return float64(n), nil
	case int64:
		return float64(n), nil
	}
	return 0, fmt.Errorf("want float, got %s", controlplane.JSONKind(v))
}

// checkStructNumbers refuses what a protobuf Struct (numbers are doubles) would change: an
// integer beyond 2^53, a float that is not finite.
func checkStructNumbers(v any, path string) error {
	switch x := v.(type) {
	case json.Number:
		if !jsonNumber.MatchString(string(x)) {
			return fmt.Errorf("%swant a number, got %q", prefix(path), string(x))
		}
		if !strings.ContainsAny(string(x), ".eE") {
			if i, err := strconv.ParseInt(string(x), 10, 64); err != nil || i > 1<<53 || i < -(1<<53) {
				return fmt.Errorf("%sinteger %s cannot be held exactly in this object (its numbers are doubles)", prefix(path), x)
			}
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%swant a finite number, got %v", prefix(path), x)
		}
	case []any:
		for i, item := range x {
			if err := checkStructNumbers(item, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, item := range x {
			if err := checkStructNumbers(item, path+"."+k); err != nil {
				return err
			}
		}
	}
	return nil
}

// toMsgpack writes a JSON value as MessagePack, as the Python SDK's msgpack.dumps would write
// the same value: integers as integers (exact to 64 bits), other numbers as doubles, map keys
// sorted so the same value gives the same bytes.
func toMsgpack(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	if err := writeMsgpack(enc, v, ""); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeMsgpack(enc *msgpack.Encoder, v any, path string) error {
	switch x := v.(type) {
	case nil:
		return enc.EncodeNil()
	case bool:
		return enc.EncodeBool(x)
	case string:
		return enc.EncodeString(x)
	case json.Number:
		if !jsonNumber.MatchString(string(x)) {
			return fmt.Errorf("%swant a number, got %q", prefix(path), string(x))
		}
		if !strings.ContainsAny(string(x), ".eE") {
			if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
				return enc.EncodeInt(i)
			}
			if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
				return enc.EncodeUint(u)
			}
			return fmt.Errorf("%sinteger %s is out of the 64-bit range", prefix(path), x)
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || math.IsInf(f, 0) {
			return fmt.Errorf("%snumber %s is out of the 64-bit range", prefix(path), x)
		}
		return enc.EncodeFloat64(f)
	case float64:
		return enc.EncodeFloat64(x)
	case int:
		return enc.EncodeInt(int64(x))
	case int64:
		return enc.EncodeInt(x)
	case []any:
		if err := enc.EncodeArrayLen(len(x)); err != nil {
			return err
		}
		for i, item := range x {
			if err := writeMsgpack(enc, item, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if err := enc.EncodeMapLen(len(keys)); err != nil {
			return err
		}
		for _, k := range keys {
			if err := enc.EncodeString(k); err != nil {
				return err
			}
			if err := writeMsgpack(enc, x[k], path+"."+k); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%sa %T cannot be written", prefix(path), v)
}

func wantGot(path, want string, v any) error {
	return fmt.Errorf("%swant %s, got %s", prefix(path), want, controlplane.JSONKind(v))
}

func prefix(path string) string {
	if path == "" {
		return ""
	}
	return strings.TrimPrefix(path, ".") + ": "
}
