package flyte

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// literal is flyteidl2.core.Literal. Exactly one of its value fields is set.
type literal struct {
	Scalar            *scalar            `json:"scalar,omitempty"`
	Collection        *literalCollection `json:"collection,omitempty"`
	Map               *literalMap        `json:"map,omitempty"`
	OffloadedMetadata *offloaded         `json:"offloadedMetadata,omitempty"`
}

type literalCollection struct {
	Literals []*literal `json:"literals"`
}

type literalMap struct {
	Literals map[string]*literal `json:"literals"`
}

type offloaded struct {
	URI       string `json:"uri"`
	SizeBytes int64s `json:"sizeBytes"`
}

// scalar is flyteidl2.core.Scalar. Exactly one field is set.
type scalar struct {
	Primitive         *primitive         `json:"primitive,omitempty"`
	Blob              *blob              `json:"blob,omitempty"`
	Binary            *binary            `json:"binary,omitempty"`
	Schema            *uriValue          `json:"schema,omitempty"`
	NoneType          *struct{}          `json:"noneType,omitempty"`
	Error             *literalError      `json:"error,omitempty"`
	Generic           json.RawMessage    `json:"generic,omitempty"`
	StructuredDataset *structuredDataset `json:"structuredDataset,omitempty"`
	Union             *union             `json:"union,omitempty"`
}

// primitive is flyteidl2.core.Primitive. Pointers, because a oneof member is written even
// when it holds its type's zero value ("integer": "0", "boolean": false).
type primitive struct {
	Integer     *protoInt64  `json:"integer,omitempty"`
	FloatValue  *protoDouble `json:"floatValue,omitempty"`
	StringValue *string      `json:"stringValue,omitempty"`
	Boolean     *bool        `json:"boolean,omitempty"`
	Datetime    *string      `json:"datetime,omitempty"`
	Duration    *string      `json:"duration,omitempty"`
}

type blob struct {
	Metadata *blobMetadata `json:"metadata,omitempty"`
	URI      string        `json:"uri"`
}

type blobMetadata struct {
	Type *blobType `json:"type,omitempty"`
}

type blobType struct {
	Format         string `json:"format,omitempty"`
	Dimensionality string `json:"dimensionality,omitempty"`
}

type binary struct {
	Value protoBytes `json:"value"`
	Tag   string     `json:"tag,omitempty"`
}

type uriValue struct {
	URI string `json:"uri"`
}

type literalError struct {
	FailedNodeID string `json:"failedNodeId"`
	Message      string `json:"message"`
}

type structuredDataset struct {
	URI      string          `json:"uri"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

type union struct {
	Value *literal        `json:"value"`
	Type  json.RawMessage `json:"type,omitempty"`
}

// literalType is flyteidl2.core.LiteralType. Raw keeps it as it came, so a union literal can
// name its variant's type exactly as the interface declares it.
type literalType struct {
	Simple                *string         `json:"simple,omitempty"`
	Schema                json.RawMessage `json:"schema,omitempty"`
	CollectionType        *literalType    `json:"collectionType,omitempty"`
	MapValueType          *literalType    `json:"mapValueType,omitempty"`
	Blob                  *blobType       `json:"blob,omitempty"`
	EnumType              *enumType       `json:"enumType,omitempty"`
	StructuredDatasetType json.RawMessage `json:"structuredDatasetType,omitempty"`
	UnionType             *unionType      `json:"unionType,omitempty"`
	Annotation            *struct {
		Annotations map[string]json.RawMessage `json:"annotations"`
	} `json:"annotation,omitempty"`
	Structure *struct {
		Tag string `json:"tag"`
	} `json:"structure,omitempty"`

	Raw json.RawMessage `json:"-"`
}

type enumType struct {
	Values []string `json:"values"`
}

type unionType struct {
	Variants []literalType `json:"variants"`
}

func (t *literalType) UnmarshalJSON(b []byte) error {
	type plain literalType
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*t = literalType(p)
	t.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// msgpackStruct reports whether a STRUCT type asks for MessagePack, as the Python SDK's types
// do (annotation cache-key-metadata.serialization-format = msgpack).
func (t *literalType) msgpackStruct() bool {
	if t.Annotation == nil {
		return false
	}
	var meta struct {
		Format string `json:"serialization-format"`
	}
	raw, ok := t.Annotation.Annotations["cache-key-metadata"]
	return ok && json.Unmarshal(raw, &meta) == nil && meta.Format == "msgpack"
}

// protoInt64 is a protojson int64 kept as its decimal text, so no value is rounded on the
// way: written as a string, read from a string or a number.
type protoInt64 string

func (n protoInt64) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(string(n))), nil }

func (n *protoInt64) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	if _, err := strconv.ParseInt(s, 10, 64); err != nil {
		return fmt.Errorf("integer literal: want a 64-bit integer, got %s", b)
	}
	*n = protoInt64(s)
	return nil
}

// protoDouble is a protojson double kept as its JSON text: a number, or one of the strings
// "NaN", "Infinity" and "-Infinity" (read also as a quoted number).
type protoDouble string

func (d protoDouble) MarshalJSON() ([]byte, error) {
	switch s := string(d); s {
	case "NaN", "Infinity", "-Infinity":
		return []byte(strconv.Quote(s)), nil
	default:
		return []byte(s), nil
	}
}

func (d *protoDouble) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	switch s {
	case "NaN", "Infinity", "-Infinity":
		*d = protoDouble(s)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("float literal: want a number, got %s", b)
	}
	*d = protoDouble(formatFloat(f))
	return nil
}

// formatFloat writes a float the shortest way that reads back the same; the three values
// JSON has no number for as protojson names them.
func formatFloat(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		switch {
		case math.IsNaN(f):
			return "NaN"
		case f > 0:
			return "Infinity"
		default:
			return "-Infinity"
		}
	}
	b, _ := json.Marshal(f) // the shortest form, written as JavaScript and encoding/json do
	return string(b)
}

// protoBytes is a protojson bytes field: standard base64 with padding when written; standard
// or URL-safe, padded or not, when read.
type protoBytes []byte

func (p protoBytes) MarshalJSON() ([]byte, error) {
	return []byte(`"` + base64.StdEncoding.EncodeToString(p) + `"`), nil
}

func (p *protoBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if v, err := enc.DecodeString(s); err == nil {
			*p = v
			return nil
		}
	}
	return fmt.Errorf("bytes: not base64")
}
