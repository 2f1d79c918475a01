package flyte

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// typeOf parses a LiteralType from its protojson.
func typeOf(t *testing.T, js string) *literalType {
	t.Helper()
	var lt literalType
	if err := json.Unmarshal([]byte(js), &lt); err != nil {
		t.Fatalf("type %s: %v", js, err)
	}
	return &lt
}

// jsonValue parses JSON the way the webhook receives inputs: numbers as json.Number.
func jsonValue(t *testing.T, js string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("value %s: %v", js, err)
	}
	return v
}

func canonical(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	return string(b)
}

// overTheWire writes a literal as JSON and reads it back, as it travels to the control plane
// and back in an answer.
func overTheWire(t *testing.T, l *literal) (*literal, string) {
	t.Helper()
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var back literal
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&back); err != nil {
		t.Fatalf("read back %s: %v", b, err)
	}
	return &back, string(b)
}

const msgpackStructType = `{"simple":"STRUCT","annotation":{"annotations":{"cache-key-metadata":{"serialization-format":"msgpack"}}}}`

// TestRoundTrip: a JSON value encoded for its type, sent, and decoded from the answer is the
// value again (normalized where Flyte's form is canonical: UTC datetimes, durations in
// seconds), and its wire form is what protojson writes.
func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name, typ, in, out string
		wire               string // a fragment the literal's JSON must contain
	}{
		{"integer beyond 2^53", `{"simple":"INTEGER"}`, `9007199254740993`, `9007199254740993`, `"integer":"9007199254740993"`},
		{"integer zero is written", `{"simple":"INTEGER"}`, `0`, `0`, `"integer":"0"`},
		{"smallest integer", `{"simple":"INTEGER"}`, `-9223372036854775808`, `-9223372036854775808`, `"integer":"-9223372036854775808"`},
		{"integer written as float", `{"simple":"INTEGER"}`, `3.0`, `3`, `"integer":"3"`},
		{"float", `{"simple":"FLOAT"}`, `1.5`, `1.5`, `"floatValue":1.5`},
		{"integer for float", `{"simple":"FLOAT"}`, `2`, `2`, `"floatValue":2`},
		{"large float", `{"simple":"FLOAT"}`, `1e300`, `1e+300`, `"floatValue":1e+300`},
		{"string", `{"simple":"STRING"}`, `"héllo\n\"x\""`, `"héllo\n\"x\""`, `"stringValue"`},
		{"empty string is written", `{"simple":"STRING"}`, `""`, `""`, `"stringValue":""`},
		{"false is written", `{"simple":"BOOLEAN"}`, `false`, `false`, `"boolean":false`},
		{"datetime to UTC", `{"simple":"DATETIME"}`, `"2026-11-26T12:00:00.5+02:00"`, `"2026-11-26T10:00:00.5Z"`, `"datetime":"2026-11-26T10:00:00.5Z"`},
		{"duration in seconds", `{"simple":"DURATION"}`, `"1h30m"`, `"5400s"`, `"duration":"5400s"`},
		{"fractional duration", `{"simple":"DURATION"}`, `"-250ms"`, `"-0.25s"`, `"duration":"-0.25s"`},
		{"nanosecond", `{"simple":"DURATION"}`, `"1ns"`, `"0.000000001s"`, `"0.000000001s"`},
		{"list", `{"collectionType":{"simple":"INTEGER"}}`, `[1,2,9007199254740993]`, `[1,2,9007199254740993]`, `"collection":{"literals":[`},
		{"empty list", `{"collectionType":{"simple":"INTEGER"}}`, `[]`, `[]`, `"collection":{"literals":[]}`},
		{"list of lists", `{"collectionType":{"collectionType":{"simple":"FLOAT"}}}`, `[[1.5],[]]`, `[[1.5],[]]`, `"collection"`},
		{"map", `{"mapValueType":{"simple":"STRING"}}`, `{"a":"x","b":""}`, `{"a":"x","b":""}`, `"map":{"literals":{`},
		{"struct as protobuf Struct", `{"simple":"STRUCT"}`, `{"a":1,"b":[true,null],"c":{"d":"e"},"f":0.5}`, `{"a":1,"b":[true,null],"c":{"d":"e"},"f":0.5}`, `"generic":{`},
		{"struct as msgpack", msgpackStructType, `{"big":9007199254740993,"f":1.5,"l":[1,"a",null],"m":{"k":false},"neg":-3}`, `{"big":9007199254740993,"f":1.5,"l":[1,"a",null],"m":{"k":false},"neg":-3}`, `"tag":"msgpack"`},
		{"optional given", `{"unionType":{"variants":[{"simple":"INTEGER"},{"simple":"NONE"}]}}`, `5`, `5`, `"union":{"value":{"scalar":{"primitive":{"integer":"5"}}},"type":{"simple":"INTEGER"}}`},
		{"optional none", `{"unionType":{"variants":[{"simple":"INTEGER"},{"simple":"NONE"}]}}`, `null`, `null`, `"union":{"value":{"scalar":{"noneType":{}}},"type":{"simple":"NONE"}}`},
		{"enum", `{"enumType":{"values":["red","green"]}}`, `"green"`, `"green"`, `"stringValue":"green"`},
		{"file", `{"blob":{"format":"csv"}}`, `"s3://bucket/data.csv"`, `"s3://bucket/data.csv"`, `"blob":{"metadata":{"type":{"format":"csv"}},"uri":"s3://bucket/data.csv"}`},
		{"directory", `{"blob":{"dimensionality":"MULTIPART"}}`, `"s3://bucket/dir/"`, `"s3://bucket/dir/"`, `"dimensionality":"MULTIPART"`},
		{"dataframe", `{"structuredDatasetType":{"format":"parquet"}}`, `"s3://bucket/df"`, `"s3://bucket/df"`, `"structuredDataset":{"uri":"s3://bucket/df","metadata":{"structuredDatasetType":{"format":"parquet"}}}`},
		{"none", `{"simple":"NONE"}`, `null`, `null`, `"noneType":{}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lit, err := encodeValue(typeOf(t, c.typ), jsonValue(t, c.in), "")
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			back, wire := overTheWire(t, lit)
			if !strings.Contains(wire, c.wire) {
				t.Errorf("wire form %s lacks %s", wire, c.wire)
			}
			v, err := decodeLiteral(back)
			if err != nil {
				t.Fatalf("decode %s: %v", wire, err)
			}
			if got, want := canonical(t, v), canonical(t, jsonValue(t, c.out)); got != want {
				t.Errorf("round trip = %s, want %s (wire %s)", got, want, wire)
			}
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	optInt := `{"unionType":{"variants":[{"simple":"INTEGER"},{"simple":"NONE"}]}}`
	cases := []struct {
		name, typ string
		in        any
		mention   string
	}{
		{"string for integer", `{"simple":"INTEGER"}`, "2", "want integer, got a string"},
		{"fraction", `{"simple":"INTEGER"}`, json.Number("2.5"), "want integer, got 2.5"},
		{"beyond int64", `{"simple":"INTEGER"}`, json.Number("9223372036854775808"), "out of the 64-bit range"},
		{"huge exponent", `{"simple":"INTEGER"}`, json.Number("1e100000"), "out of the 64-bit range"},
		{"not a JSON number", `{"simple":"INTEGER"}`, json.Number("0x10"), "want integer"},
		{"Go fraction", `{"simple":"INTEGER"}`, 3.5, "want integer, got 3.5"},
		{"float overflow", `{"simple":"FLOAT"}`, json.Number("1e400"), "out of the 64-bit range"},
		{"NaN", `{"simple":"FLOAT"}`, math.NaN(), "finite"},
		{"null for string", `{"simple":"STRING"}`, nil, "want string, got null"},
		{"number for boolean", `{"simple":"BOOLEAN"}`, json.Number("1"), "want boolean, got a number"},
		{"bad datetime", `{"simple":"DATETIME"}`, "tomorrow", "RFC 3339"},
		{"bad duration", `{"simple":"DURATION"}`, "soon", "like 90s"},
		{"list element", `{"collectionType":{"simple":"INTEGER"}}`, []any{json.Number("1"), "x"}, "[1]: want integer"},
		{"map value", `{"mapValueType":{"simple":"INTEGER"}}`, map[string]any{"k": true}, "k: want integer"},
		{"object for list", `{"collectionType":{"simple":"INTEGER"}}`, map[string]any{}, "want list, got an object"},
		{"inexact in a Struct", `{"simple":"STRUCT"}`, map[string]any{"n": json.Number("9007199254740993")}, "cannot be held exactly"},
		{"list for struct", `{"simple":"STRUCT"}`, []any{}, "want object"},
		{"msgpack out of range", msgpackStructType, map[string]any{"n": json.Number("1e400")}, "out of the 64-bit range"},
		{"enum value", `{"enumType":{"values":["red","green"]}}`, "blue", "want one of red, green"},
		{"optional of another type", optInt, "x", "want one of integer, none, got a string"},
		{"file as number", `{"blob":{}}`, json.Number("1"), "URI"},
		{"binary", `{"simple":"BINARY"}`, "AAAA", "cannot be given as JSON"},
		{"unknown type", `{}`, "x", "type unknown cannot be given as JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lit, err := encodeValue(typeOf(t, c.typ), c.in, "")
			if err == nil {
				_, wire := overTheWire(t, lit)
				t.Fatalf("accepted as %s", wire)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("error %q should mention %q", err, c.mention)
			}
		})
	}
}

// TestDecodeAnswers: literals as the control plane and the Python SDK write them.
func TestDecodeAnswers(t *testing.T) {
	packed, err := msgpack.Marshal(map[string]any{
		"big":   int64(9007199254740993),
		"max":   uint64(math.MaxUint64),
		"f":     2.25,
		"s":     "x",
		"ok":    true,
		"none":  nil,
		"list":  []any{int8(1), "two", []any{}},
		"bytes": []byte{0, 1, 2},
		"at":    time.Date(2026, 8, 21, 10, 0, 0, 500, time.UTC),
		"inner": map[string]any{"k": float32(0.5)},
	})
	if err != nil {
		t.Fatal(err)
	}
	intKeys, _ := msgpack.Marshal(map[int]string{1: "one"})
	b64 := base64.StdEncoding.EncodeToString
	cases := []struct{ name, literal, want string }{
		{"msgpack dataclass", `{"scalar":{"binary":{"value":"` + b64(packed) + `","tag":"msgpack"}}}`,
			`{"at":"2026-08-21T10:00:00.0000005Z","big":9007199254740993,"bytes":"AAEC","f":2.25,"inner":{"k":0.5},"list":[1,"two",[]],"max":18446744073709551615,"none":null,"ok":true,"s":"x"}`},
		{"msgpack int keys", `{"scalar":{"binary":{"value":"` + b64(intKeys) + `","tag":"msgpack"}}}`, `{"1":"one"}`},
		{"msgpack url-safe base64", `{"scalar":{"binary":{"value":"` + base64.RawURLEncoding.EncodeToString([]byte{0xa1, 0x78}) + `","tag":"msgpack"}}}`, `"x"`},
		{"other binary", `{"scalar":{"binary":{"value":"AAEC","tag":"pickle"}}}`, `{"binary":{"base64":"AAEC","tag":"pickle"}}`},
		{"offloaded", `{"offloadedMetadata":{"uri":"s3://b/o.pb","sizeBytes":"123456789012","inferredType":{"simple":"STRING"}}}`,
			`{"offloaded":{"size_bytes":123456789012,"uri":"s3://b/o.pb"}}`},
		{"error", `{"scalar":{"error":{"failedNodeId":"n0","message":"boom"}}}`, `{"error":{"failed_node_id":"n0","message":"boom"}}`},
		{"generic keeps numbers", `{"scalar":{"generic":{"n":12345678901234567890,"x":[1.0]}}}`, `{"n":12345678901234567890,"x":[1.0]}`},
		{"integer as a JSON number", `{"scalar":{"primitive":{"integer":42}}}`, `42`},
		{"NaN", `{"scalar":{"primitive":{"floatValue":"NaN"}}}`, `"NaN"`},
		{"-Infinity", `{"scalar":{"primitive":{"floatValue":"-Infinity"}}}`, `"-Infinity"`},
		{"small float", `{"scalar":{"primitive":{"floatValue":1e-7}}}`, `1e-7`},
		{"union", `{"scalar":{"union":{"value":{"scalar":{"primitive":{"stringValue":"v"}}},"type":{"simple":"STRING"}}}}`, `"v"`},
		{"dataframe", `{"scalar":{"structuredDataset":{"uri":"s3://b/df","metadata":{}}}}`, `"s3://b/df"`},
		{"schema", `{"scalar":{"schema":{"uri":"s3://b/s"}}}`, `"s3://b/s"`},
		{"empty literal", `{}`, `null`},
		{"map of lists", `{"map":{"literals":{"a":{"collection":{"literals":[{"scalar":{"primitive":{"boolean":true}}}]}}}}}`, `{"a":[true]}`},
		{"unknown fields ignored", `{"scalar":{"primitive":{"stringValue":"s"}},"hash":"h","metadata":{"k":"v"}}`, `"s"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var l literal
			dec := json.NewDecoder(strings.NewReader(c.literal))
			dec.UseNumber()
			if err := dec.Decode(&l); err != nil {
				t.Fatalf("read: %v", err)
			}
			v, err := decodeLiteral(&l)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got := canonical(t, v); got != c.want {
				t.Errorf("= %s, want %s", got, c.want)
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	deep := strings.Repeat(`{"collection":{"literals":[`, maxDepth+2) + strings.Repeat(`]}}`, maxDepth+2)
	trailing, _ := msgpack.Marshal("x")
	trailing = append(trailing, 0xc0)
	cases := []struct{ name, literal, mention string }{
		{"too deep", deep, "deeper"},
		{"msgpack with trailing bytes", `{"scalar":{"binary":{"value":"` + base64.StdEncoding.EncodeToString(trailing) + `","tag":"msgpack"}}}`, "after the value"},
		{"truncated msgpack", `{"scalar":{"binary":{"value":"` + base64.StdEncoding.EncodeToString([]byte{0x82, 0xa1}) + `","tag":"msgpack"}}}`, "msgpack"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var l literal
			if err := json.Unmarshal([]byte(c.literal), &l); err != nil {
				t.Fatalf("read: %v", err)
			}
			v, err := decodeLiteral(&l)
			if err == nil || !strings.Contains(err.Error(), c.mention) {
				t.Errorf("= %v, %v; want an error mentioning %q", v, err, c.mention)
			}
		})
	}
	for _, bad := range []string{`{"scalar":{"primitive":{"integer":"1.5"}}}`, `{"scalar":{"primitive":{"floatValue":"x"}}}`, `{"scalar":{"binary":{"value":"%%%"}}}`} {
		var l literal
		if err := json.Unmarshal([]byte(bad), &l); err == nil {
			t.Errorf("%s was read", bad)
		}
	}
}

func TestTypeNames(t *testing.T) {
	cases := map[string]string{
		`{"simple":"INTEGER"}`: "integer", `{"simple":"FLOAT"}`: "float", `{"simple":"STRING"}`: "string",
		`{"simple":"BOOLEAN"}`: "boolean", `{"simple":"DATETIME"}`: "datetime", `{"simple":"DURATION"}`: "duration",
		`{"simple":"STRUCT"}`: "object", msgpackStructType: "object", `{"simple":"BINARY"}`: "binary", `{"simple":"NONE"}`: "none",
		`{"collectionType":{"simple":"STRING"}}`: "list", `{"mapValueType":{"simple":"STRING"}}`: "object",
		`{"enumType":{"values":["a"]}}`: "string", `{"blob":{}}`: "file", `{"blob":{"dimensionality":"MULTIPART"}}`: "directory",
		`{"structuredDatasetType":{}}`: "dataframe", `{"schema":{}}`: "schema",
		`{"unionType":{"variants":[{"simple":"NONE"},{"simple":"FLOAT"}]}}`:                       "float",
		`{"unionType":{"variants":[{"simple":"STRING"},{"simple":"INTEGER"},{"simple":"NONE"}]}}`: "union",
		`{}`: "unknown",
	}
	for js, want := range cases {
		if got := typeName(typeOf(t, js)); got != want {
			t.Errorf("typeName(%s) = %s, want %s", js, got, want)
		}
	}
}

// TestVariablesInOrder: a task's variables come as an ordered list of entries, or (from an
// older control plane) as an object, whose order in the text is the declaration order.
func TestVariablesInOrder(t *testing.T) {
	for _, js := range []string{
		`{"variables":[{"key":"z","value":{"type":{"simple":"STRING"}}},{"key":"a","value":{"type":{"simple":"INTEGER"}}}]}`,
		`{"variables":{"z":{"type":{"simple":"STRING"}},"a":{"type":{"simple":"INTEGER"}}}}`,
	} {
		var m variableMap
		if err := json.Unmarshal([]byte(js), &m); err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		if len(m.Variables) != 2 || m.Variables[0].Key != "z" || m.Variables[1].Key != "a" || typeName(&m.Variables[1].Value.Type) != "integer" {
			t.Errorf("%s read as %+v", js, m.Variables)
		}
	}
	var m variableMap
	if err := json.Unmarshal([]byte(`{}`), &m); err != nil || len(m.Variables) != 0 {
		t.Errorf("no variables: %+v %v", m, err)
	}
}
