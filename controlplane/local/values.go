package local

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// bindInputs checks inputs against the task's interface and applies defaults. The result is
// ready to store: numbers are json.Number, integers exact.
func bindInputs(t *task, in map[string]any) (map[string]any, error) {
	declared := map[string]bool{}
	for _, v := range t.Inputs {
		declared[v.Name] = true
	}
	var unknown []string
	for name := range in {
		if !declared[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, controlplane.Errorf(controlplane.CodeInvalidInput, "input %q: the task has no such input (it takes: %s)", unknown[0], inputNames(t))
	}
	out := make(map[string]any, len(t.Inputs))
	for _, v := range t.Inputs {
		val, ok := in[v.Name]
		if !ok {
			if !v.HasDefault {
				return nil, controlplane.Errorf(controlplane.CodeInvalidInput, "input %q: required (%s)", v.Name, v.Type)
			}
			out[v.Name] = v.Default
			continue
		}
		if val == nil && v.HasDefault && v.Default == nil {
			out[v.Name] = nil
			continue
		}
		norm, err := checkValue(v.Type, val)
		if err != nil {
			return nil, controlplane.Errorf(controlplane.CodeInvalidInput, "input %q: %v", v.Name, err)
		}
		out[v.Name] = norm
	}
	return out, nil
}

func inputNames(t *task) string {
	if len(t.Inputs) == 0 {
		return "none"
	}
	names := make([]string, len(t.Inputs))
	for i, v := range t.Inputs {
		names[i] = v.Name
	}
	return strings.Join(names, ", ")
}

// checkValue checks one value against a type and returns it in its stored form.
func checkValue(typ string, v any) (any, error) {
	switch typ {
	case "string":
		if s, ok := v.(string); ok {
			return s, nil
		}
	case "boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case "integer":
		return toInteger(v)
	case "float":
		return toFloat(v)
	case "list":
		if l, ok := v.([]any); ok {
			return l, nil
		}
	case "object":
		if m, ok := v.(map[string]any); ok {
			return m, nil
		}
	case "datetime":
		if s, ok := v.(string); ok {
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				return nil, fmt.Errorf("want an RFC 3339 date-time like 2026-11-26T12:00:00Z, got %q", s)
			}
			return s, nil
		}
	case "duration":
		if s, ok := v.(string); ok {
			if _, err := time.ParseDuration(s); err != nil {
				return nil, fmt.Errorf("want a duration like 90s or 1h30m, got %q", s)
			}
			return s, nil
		}
	default:
		return nil, fmt.Errorf("unknown type %q", typ)
	}
	return nil, fmt.Errorf("want %s, got %s", typ, controlplane.JSONKind(v))
}

// jsonNumber is JSON's number syntax: a json.Number from a direct caller may hold anything, and
// strconv and math/big accept more (hex, "NaN", "1/2").
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

func toInteger(v any) (any, error) {
	var s string
	switch n := v.(type) {
	case json.Number:
		if !jsonNumber.MatchString(string(n)) {
			return nil, fmt.Errorf("want integer, got %q", string(n))
		}
		s = n.String()
	case int:
		return json.Number(strconv.Itoa(n)), nil
	case int64:
		return json.Number(strconv.FormatInt(n, 10)), nil
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return nil, fmt.Errorf("want integer, got %v", n)
		}
		return json.Number(strconv.FormatInt(int64(n), 10)), nil
	default:
		return nil, fmt.Errorf("want integer, got %s", controlplane.JSONKind(v))
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return json.Number(strconv.FormatInt(i, 10)), nil
	}
	// 3.0 and 1e3 are integers written as floats; 3.5 is not; beyond int64 is out of range.
	// A huge exponent is refused before math/big would compute 10 to its power.
	if m := jsonNumber.FindStringSubmatch(s); m[3] != "" {
		if e, err := strconv.Atoi(m[3][1:]); err != nil || e > 1000 || e < -1000 {
			return nil, fmt.Errorf("integer %s is out of the 64-bit range", s)
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || !r.IsInt() {
		return nil, fmt.Errorf("want integer, got %s", s)
	}
	if !r.Num().IsInt64() {
		return nil, fmt.Errorf("integer %s is out of the 64-bit range", s)
	}
	return json.Number(r.Num().String()), nil
}

func toFloat(v any) (any, error) {
	switch n := v.(type) {
	case json.Number:
		if !jsonNumber.MatchString(string(n)) {
			return nil, fmt.Errorf("want float, got %q", string(n))
		}
		if f, err := strconv.ParseFloat(n.String(), 64); err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("float %s is out of the 64-bit range", n)
		}
		return n, nil
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, fmt.Errorf("want a finite float, got %v", n)
		}
		return json.Number(strconv.FormatFloat(n, 'g', -1, 64)), nil
	case int:
		return json.Number(strconv.Itoa(n)), nil
	case int64:
		return json.Number(strconv.FormatInt(n, 10)), nil
	}
	return nil, fmt.Errorf("want float, got %s", controlplane.JSONKind(v))
}

// checkOutputs holds a task's outputs to its declared outputs: each present, of its type,
// nothing undeclared.
func checkOutputs(t *task, out map[string]any) (map[string]any, error) {
	declared := map[string]string{}
	for _, v := range t.Outputs {
		declared[v.Name] = v.Type
	}
	for name := range out {
		if _, ok := declared[name]; !ok {
			return nil, fmt.Errorf("output %q is not declared by the task", name)
		}
	}
	res := make(map[string]any, len(out))
	for _, v := range t.Outputs {
		val, ok := out[v.Name]
		if !ok {
			return nil, fmt.Errorf("output %q is missing", v.Name)
		}
		norm, err := checkValue(v.Type, val)
		if err != nil {
			return nil, fmt.Errorf("output %q: %v", v.Name, err)
		}
		res[v.Name] = norm
	}
	return res, nil
}
