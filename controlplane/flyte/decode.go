package flyte

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// maxDepth bounds the nesting of a literal or a MessagePack value this backend decodes.
const maxDepth = 100

// decodeLiteral turns a literal into a JSON value: integers as json.Number (exact), floats as
// json.Number (or "NaN", "Infinity", "-Infinity"), datetimes as RFC 3339 strings, durations
// as protojson writes them ("5400s"), collections as lists, maps and structs as objects,
// MessagePack binaries as what they hold, none as null, files, directories and data frames
// as their URI. An offloaded literal is {"offloaded": {"uri", "size_bytes"}}; a binary of
// another tag is {"binary": {"tag", "base64"}}; an error is {"error": {"message",
// "failed_node_id"}}.
func decodeLiteral(l *literal) (any, error) { return decodeAt(l, 0) }

func decodeAt(l *literal, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("literal nested deeper than %d", maxDepth)
	}
	switch {
	case l == nil:
		return nil, nil
	case l.Scalar != nil:
		return decodeScalar(l.Scalar, depth)
	case l.Collection != nil:
		out := make([]any, len(l.Collection.Literals))
		for i, item := range l.Collection.Literals {
			v, err := decodeAt(item, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case l.Map != nil:
		out := make(map[string]any, len(l.Map.Literals))
		for k, item := range l.Map.Literals {
			v, err := decodeAt(item, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case l.OffloadedMetadata != nil:
		return map[string]any{"offloaded": map[string]any{
			"uri":        l.OffloadedMetadata.URI,
			"size_bytes": json.Number(strconv.FormatInt(int64(l.OffloadedMetadata.SizeBytes), 10)),
		}}, nil
	}
	// An empty literal: nothing is set, which protojson writes for a literal of none.
	return nil, nil
}

func decodeScalar(s *scalar, depth int) (any, error) {
	switch {
	case s.Primitive != nil:
		return decodePrimitive(s.Primitive)
	case s.NoneType != nil:
		return nil, nil
	case s.Generic != nil:
		dec := json.NewDecoder(bytes.NewReader(s.Generic))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("generic literal: %w", err)
		}
		return v, nil
	case s.Binary != nil:
		if s.Binary.Tag == "msgpack" {
			return fromMsgpack(s.Binary.Value)
		}
		return map[string]any{"binary": map[string]any{
			"tag": s.Binary.Tag, "base64": base64.StdEncoding.EncodeToString(s.Binary.Value),
		}}, nil
	case s.Union != nil:
		return decodeAt(s.Union.Value, depth+1)
	case s.Blob != nil:
		return s.Blob.URI, nil
	case s.StructuredDataset != nil:
		return s.StructuredDataset.URI, nil
	case s.Schema != nil:
		return s.Schema.URI, nil
	case s.Error != nil:
		return map[string]any{"error": map[string]any{
			"message": s.Error.Message, "failed_node_id": s.Error.FailedNodeID,
		}}, nil
	}
	return nil, nil
}

func decodePrimitive(p *primitive) (any, error) {
	switch {
	case p.Integer != nil:
		return json.Number(*p.Integer), nil
	case p.FloatValue != nil:
		switch s := string(*p.FloatValue); s {
		case "NaN", "Infinity", "-Infinity":
			return s, nil
		default:
			return json.Number(s), nil
		}
	case p.StringValue != nil:
		return *p.StringValue, nil
	case p.Boolean != nil:
		return *p.Boolean, nil
	case p.Datetime != nil:
		return *p.Datetime, nil
	case p.Duration != nil:
		return *p.Duration, nil
	}
	return nil, nil
}

// fromMsgpack reads one MessagePack value as a JSON value: integers exact as json.Number,
// binary strings as base64, timestamps as RFC 3339, map keys written as strings.
func fromMsgpack(b []byte) (any, error) {
	r := bytes.NewReader(b)
	dec := msgpack.NewDecoder(r)
	v, err := readMsgpack(dec, 0)
	if err != nil {
		return nil, fmt.Errorf("msgpack literal: %w", err)
	}
	if _, err := dec.PeekCode(); err != io.EOF {
		return nil, fmt.Errorf("msgpack literal: bytes after the value")
	}
	return v, nil
}

func readMsgpack(dec *msgpack.Decoder, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxDepth)
	}
	c, err := dec.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case c == msgpcode.Nil:
		return nil, dec.DecodeNil()
	case c == msgpcode.False || c == msgpcode.True:
		return dec.DecodeBool()
	case msgpcode.IsFixedNum(c), c == msgpcode.Int8, c == msgpcode.Int16, c == msgpcode.Int32, c == msgpcode.Int64:
		i, err := dec.DecodeInt64()
		return json.Number(strconv.FormatInt(i, 10)), err
	case c == msgpcode.Uint8, c == msgpcode.Uint16, c == msgpcode.Uint32, c == msgpcode.Uint64:
		u, err := dec.DecodeUint64()
		return json.Number(strconv.FormatUint(u, 10)), err
	case c == msgpcode.Float || c == msgpcode.Double:
		f, err := dec.DecodeFloat64()
		if err != nil {
			return nil, err
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return formatFloat(f), nil
		}
		return json.Number(formatFloat(f)), nil
	case msgpcode.IsString(c):
		return dec.DecodeString()
	case msgpcode.IsBin(c):
		b, err := dec.DecodeBytes()
		return base64.StdEncoding.EncodeToString(b), err
	case msgpcode.IsFixedArray(c), c == msgpcode.Array16, c == msgpcode.Array32:
		n, err := dec.DecodeArrayLen()
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, 0, min(n, 1024))
		for range n {
			v, err := readMsgpack(dec, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case msgpcode.IsFixedMap(c), c == msgpcode.Map16, c == msgpcode.Map32:
		n, err := dec.DecodeMapLen()
		if err != nil || n < 0 {
			return nil, err
		}
		out := make(map[string]any, min(n, 1024))
		for range n {
			k, err := readMsgpack(dec, depth+1)
			if err != nil {
				return nil, err
			}
			v, err := readMsgpack(dec, depth+1)
			if err != nil {
				return nil, err
			}
			out[mapKey(k)] = v
		}
		return out, nil
	case msgpcode.IsExt(c):
		// The one extension a Python or Go writer uses for plain data is the timestamp (-1).
		t, err := dec.DecodeTime()
		if err != nil {
			return nil, fmt.Errorf("an extension type other than timestamp: %w", err)
		}
		return t.UTC().Format(time.RFC3339Nano), nil
	}
	return nil, fmt.Errorf("unknown code %#x", c)
}

// mapKey writes a MessagePack map key (a string, or a number or boolean in Python dicts) as a
// JSON object key.
func mapKey(k any) string {
	switch x := k.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case nil:
		return "null"
	}
	return fmt.Sprint(k)
}
