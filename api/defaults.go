package api

import (
	"fmt"
	"math"

	"github.com/getkin/kin-openapi/openapi3"
)

// Defaults are the defaults openapi.yaml declares: each parameter's schema default, by
// operation, and each property default of the component schemas. Request validation does not
// write defaults into requests (it would cost every request a re-encoding: see Validate), so
// handlers apply them; they take them from here, read once at start-up, instead of repeating
// the spec.
type Defaults struct {
	params map[string]map[string]any // operationId → parameter name → default
	props  map[string]map[string]any // component schema → property name → default
}

// NewDefaults reads doc's defaults. Read the whole spec, not a filtered one: a filtered spec
// has lost the operations and components it does not serve.
func NewDefaults(doc *openapi3.T) Defaults {
	d := Defaults{params: map[string]map[string]any{}, props: map[string]map[string]any{}}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, refs := range []openapi3.Parameters{item.Parameters, op.Parameters} {
				for _, p := range refs {
					if p.Value == nil || p.Value.Schema == nil || p.Value.Schema.Value == nil || p.Value.Schema.Value.Default == nil {
						continue
					}
					if d.params[op.OperationID] == nil {
						d.params[op.OperationID] = map[string]any{}
					}
					d.params[op.OperationID][p.Value.Name] = p.Value.Schema.Value.Default
				}
			}
		}
	}
	if doc.Components != nil {
		for name, s := range doc.Components.Schemas {
			if s.Value == nil {
				continue
			}
			for prop, ps := range s.Value.Properties {
				if ps.Value == nil || ps.Value.Default == nil {
					continue
				}
				if d.props[name] == nil {
					d.props[name] = map[string]any{}
				}
				d.props[name][prop] = ps.Value.Default
			}
		}
	}
	return d
}

// Params returns the parameters that have a default, by operationId, with their defaults.
// The maps are the Defaults' own: do not change them.
func (d Defaults) Params() map[string]map[string]any { return d.params }

// ParamDefault returns the default of operationID's parameter as a T (string, bool or int),
// and an error naming the parameter when the spec declares none or one of another type.
func ParamDefault[T any](d Defaults, operationID, param string) (T, error) {
	v, ok := d.params[operationID][param]
	return defaultAs[T](v, ok, "parameter "+param+" of "+operationID)
}

// PropertyDefault returns the default of a component schema's property as a T, and an error
// naming it when the spec declares none or one of another type.
func PropertyDefault[T any](d Defaults, schema, property string) (T, error) {
	v, ok := d.props[schema][property]
	return defaultAs[T](v, ok, "property "+property+" of schema "+schema)
}

func defaultAs[T any](v any, ok bool, where string) (T, error) {
	var zero T
	if !ok {
		return zero, fmt.Errorf("api: openapi.yaml declares no default for %s", where)
	}
	if f, isFloat := v.(float64); isFloat { // JSON and YAML numbers load as float64
		if _, wantInt := any(zero).(int); wantInt && f == math.Trunc(f) && math.Abs(f) <= math.MaxInt32 {
			v = int(f)
		}
	}
	t, isT := v.(T)
	if !isT {
		return zero, fmt.Errorf("api: the default of %s in openapi.yaml is %T %v, not a %T", where, v, v, zero)
	}
	return t, nil
}
