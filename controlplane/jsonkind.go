package controlplane

import (
	"encoding/json"
	"fmt"
)

// JSONKind names the JSON kind of a decoded value ("a string", "a number", "null", …), for
// errors that say what an input was instead of what it should have been.
func JSONKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64, int, int64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
