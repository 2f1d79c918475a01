package api

import (
	"errors"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/gin-gonic/gin"

	"github.com/flyte-webhook/flyte-webhook/gen"
)

// Validate returns middleware that checks each request against route's operation in the
// filtered spec: path, query and header parameters, and the body. A request that does not fit
// gets a 422 problem listing where and what; a body over the size limit a 413. Credentials are
// not checked here (that is a later layer). The validated body is kept on the request so the
// generated code binds it without a second decode (numbers stay json.Number: integers exact).
func Validate(route Route) gin.HandlerFunc {
	// Credentials are a later layer's business: validate against a copy of the operation
	// without security requirements, so kin-openapi does not walk them on every request.
	// Parameters that are plain length-bounded strings are checked directly (see
	// simpleString); kin-openapi checks the others and the body.
	op := *route.Op
	op.Security = &openapi3.SecurityRequirements{}
	var simple []simpleString
	op.Parameters = nil
	for _, p := range route.Op.Parameters {
		if s, ok := asSimpleString(p.Value); ok {
			simple = append(simple, s)
		} else {
			op.Parameters = append(op.Parameters, p)
		}
	}
	kr := &routers.Route{
		Spec:      route.Spec,
		Path:      route.Path,
		PathItem:  route.PathItem,
		Method:    route.Method,
		Operation: &op,
	}
	opts := &openapi3filter.Options{
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		KeepValidatedValue: true,
		MultiError:         true,
		// Handlers apply the spec's defaults themselves (read once into Defaults); writing
		// them back into the request would only cost time.
		SkipSettingDefaults: true,
	}
	if len(route.Op.Parameters) == 0 && len(route.PathItem.Parameters) == 0 && route.Op.RequestBody == nil {
		// Nothing to validate (e.g. /health): don't pay for it on every request.
		return func(*gin.Context) {}
	}
	jsonBody := route.Op.RequestBody != nil && route.Op.RequestBody.Value != nil &&
		route.Op.RequestBody.Value.Content.Get("application/json") != nil
	return func(c *gin.Context) {
		if jsonBody && c.Request.Header.Get("Content-Type") == "" {
			// A body without a Content-Type is JSON, as the Python app (FastAPI) reads it:
			// scripts that post JSON without the header (Python requests' data=) keep
			// working. A body sent with another type (a form, curl -d) stays a 422.
			c.Request.Header.Set("Content-Type", "application/json")
		}
		// gin has unescaped the values once (UnescapePathValues); they are what handlers see.
		params := make(map[string]string, len(c.Params))
		for _, p := range c.Params {
			params[p.Key] = p.Value
		}
		var bad []gen.ProblemError
		for _, s := range simple {
			if e, ok := s.check(c.Request, params); !ok {
				bad = append(bad, e)
			}
		}
		if len(bad) > 0 {
			writeInvalid(c, bad)
			return
		}
		if route.Op.RequestBody != nil && !refuseDuplicateKeys(c) { // see dupkeys.go
			return
		}
		in := &openapi3filter.RequestValidationInput{
			Request:    c.Request,
			PathParams: params,
			Route:      kr,
			Options:    opts,
		}
		err := openapi3filter.ValidateRequest(c.Request.Context(), in)
		if err == nil {
			c.Next()
			return
		}
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			Fail(c, http.StatusRequestEntityTooLarge, "request body is larger than the limit of "+strconv.FormatInt(tooLarge.Limit, 10)+" bytes")
			return
		}
		writeInvalid(c, problemErrors(err))
	}
}

// simpleString is a parameter whose whole schema is {type: string} with optional minLength and
// maxLength: checking it takes a rune count, not a generic schema walk (which cost about a
// tenth of a run_task request).
type simpleString struct {
	in, name string
	required bool
	min      uint64
	max      *uint64
}

func asSimpleString(p *openapi3.Parameter) (simpleString, bool) {
	if p == nil || p.Schema == nil || p.Schema.Value == nil || p.Content != nil {
		return simpleString{}, false
	}
	sc := p.Schema.Value
	// What is left once the type, the length bounds and the parts that constrain nothing
	// are taken away must be empty.
	rest := *sc
	rest.Type, rest.MinLength, rest.MaxLength = nil, 0, nil
	rest.Title, rest.Description, rest.Example, rest.Default, rest.Deprecated = "", "", nil, nil, false
	rest.Extensions, rest.Origin = nil, nil
	if !sc.Type.Is("string") || !rest.IsEmpty() {
		return simpleString{}, false
	}
	switch p.In {
	case openapi3.ParameterInPath, openapi3.ParameterInQuery, openapi3.ParameterInHeader:
	default:
		return simpleString{}, false
	}
	return simpleString{in: p.In, name: p.Name, required: p.Required, min: sc.MinLength, max: sc.MaxLength}, true
}

// check applies the rules kin-openapi applies to such a parameter: presence when required,
// and length in runes.
func (s simpleString) check(r *http.Request, path map[string]string) (gen.ProblemError, bool) {
	var v string
	var present bool
	switch s.in {
	case openapi3.ParameterInPath:
		v, present = path[s.name]
	case openapi3.ParameterInQuery:
		var vs []string
		vs, present = r.URL.Query()[s.name]
		if present {
			v = vs[0]
		}
	case openapi3.ParameterInHeader:
		// Present means sent, even empty: Header.Get cannot tell an empty header from a
		// missing one, and the binder passes an empty one on as "" (an empty
		// Idempotency-Key made a new run instead of a 422). kin-openapi, which checks the
		// other header parameters, already counts an empty header as sent.
		var vs []string
		vs, present = r.Header[textproto.CanonicalMIMEHeaderKey(s.name)]
		if len(vs) > 1 {
			return gen.ProblemError{In: gen.ProblemErrorIn(s.in), Name: s.name, Reason: "sent more than once"}, false
		}
		if present {
			v = vs[0]
		}
	}
	fail := func(reason string) (gen.ProblemError, bool) {
		return gen.ProblemError{In: gen.ProblemErrorIn(s.in), Name: s.name, Reason: reason}, false
	}
	if !present {
		if s.required {
			return fail("value is required but missing")
		}
		return gen.ProblemError{}, true
	}
	n := uint64(utf8.RuneCountInString(v))
	if n < s.min {
		return fail("minimum string length is " + strconv.FormatUint(s.min, 10))
	}
	if s.max != nil && n > *s.max {
		return fail("maximum string length is " + strconv.FormatUint(*s.max, 10))
	}
	return gen.ProblemError{}, true
}

func writeInvalid(c *gin.Context, errs []gen.ProblemError) {
	reasons := make([]string, 0, len(errs))
	for _, e := range errs {
		where := string(e.In)
		if e.Name != "" {
			where += " " + e.Name
		}
		reasons = append(reasons, where+": "+e.Reason)
	}
	p := NewProblem(c, http.StatusUnprocessableEntity, "the request does not fit the API: "+strings.Join(reasons, "; "))
	p.Errors = &errs
	WriteProblem(c, p)
}

// problemErrors flattens kin-openapi's validation errors into where/what entries.
func problemErrors(err error) []gen.ProblemError {
	// Look at the error itself before unwrapping: a RequestError wraps a MultiError of schema
	// errors, and errors.As would find that inner MultiError first.
	switch e := err.(type) {
	case openapi3.MultiError:
		var out []gen.ProblemError
		for _, inner := range e {
			out = append(out, problemErrors(inner)...)
		}
		return out
	case *openapi3filter.RequestError:
		return requestErrors(e)
	}
	var re *openapi3filter.RequestError
	if errors.As(err, &re) {
		return requestErrors(re)
	}
	return []gen.ProblemError{{In: gen.Body, Reason: "invalid request"}}
}

func requestErrors(re *openapi3filter.RequestError) []gen.ProblemError {
	switch {
	case re.Parameter != nil:
		return []gen.ProblemError{{In: gen.ProblemErrorIn(re.Parameter.In), Name: re.Parameter.Name, Reason: reasonOf(re)}}
	case re.RequestBody != nil:
		var out []gen.ProblemError
		for _, se := range schemaErrors(re.Err) {
			out = append(out, gen.ProblemError{In: gen.Body, Name: pointer(se.JSONPointer()), Reason: se.Reason})
		}
		if len(out) == 0 {
			out = append(out, gen.ProblemError{In: gen.Body, Name: "", Reason: reasonOf(re)})
		}
		return out
	}
	return []gen.ProblemError{{In: gen.Body, Reason: reasonOf(re)}}
}

func schemaErrors(err error) []*openapi3.SchemaError {
	var multi openapi3.MultiError
	if errors.As(err, &multi) {
		var out []*openapi3.SchemaError
		for _, e := range multi {
			out = append(out, schemaErrors(e)...)
		}
		return out
	}
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		return []*openapi3.SchemaError{se}
	}
	return nil
}

func reasonOf(re *openapi3filter.RequestError) string {
	if ses := schemaErrors(re.Err); len(ses) > 0 {
		rs := make([]string, len(ses))
		for i, se := range ses {
			rs[i] = se.Reason
		}
		return strings.Join(rs, "; ")
	}
	var pe *openapi3filter.ParseError
	if errors.As(re.Err, &pe) {
		if pe.Reason != "" {
			return pe.Reason
		}
		return "not valid JSON"
	}
	if re.Reason != "" {
		return re.Reason
	}
	if re.Err != nil {
		return re.Err.Error()
	}
	return "invalid"
}

func pointer(parts []string) string {
	if len(parts) == 0 {
		return ""
	}
	esc := make([]string, len(parts))
	for i, p := range parts {
		esc[i] = strings.NewReplacer("~", "~0", "/", "~1").Replace(p)
	}
	return "/" + strings.Join(esc, "/")
}
