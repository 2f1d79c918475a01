package controlplane

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// schemeLike is how a URL scheme starts a reference (RFC 3986 section 3.1).
var schemeLike = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)

// AppPath checks the path a caller wants to call on an app and returns it as an escaped
// absolute path, with the query it carried after a '?'. These are the rules every backend
// relies on, so they live here, once:
//
//   - a leading "/" is optional, as in the seed ("predict" and "/predict" are the same);
//     "" is "/";
//   - refused, each with CodeInvalidInput naming the rule: an empty segment ("//" anywhere,
//     which a URL parser reads as a host), a "." or ".." segment (also percent-encoded), a
//     scheme ("http:", "javascript:"), userinfo or a host ("@" in the first segment), a
//     backslash or an encoded slash or backslash (which servers decode into segments), '#',
//     and control characters (CR, LF and NUL among them), raw or percent-encoded; a bad
//     percent-escape;
//   - a '?' splits off a query, returned parsed (CallApp merges it under the caller's
//     query_params, which win: see MergeQuery).
func AppPath(raw string) (string, url.Values, error) {
	refuse := func(rule string) (string, url.Values, error) {
		return "", nil, Errorf(CodeInvalidInput, "path %q: %s", shorten(raw), rule)
	}
	p, rawQuery, hasQuery := strings.Cut(raw, "?")
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c < 0x20 || c == 0x7f:
			return refuse("control characters (CR, LF, NUL, …) are not allowed")
		case c == '\\':
			return refuse("a backslash is not allowed")
		case c == '#':
			return refuse("a fragment ('#') is not allowed")
		}
	}
	if schemeLike.MatchString(p) {
		return refuse("a scheme is not allowed: give a path on the app, not a URL")
	}
	p = strings.TrimPrefix(p, "/")
	if strings.HasPrefix(p, "/") {
		return refuse(`"//" is not allowed (it would name another host)`)
	}
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return refuse("it has a bad percent-escape")
		}
		switch {
		case seg == "" && i < len(segs)-1:
			return refuse(`an empty segment ("//") is not allowed`)
		case dec == "." || dec == "..":
			return refuse(`"." and ".." segments are not allowed`)
		case strings.ContainsAny(dec, "/\\"):
			return refuse("an encoded slash or backslash is not allowed")
		case strings.IndexFunc(dec, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
			return refuse("control characters (CR, LF, NUL, …) are not allowed")
		case i == 0 && strings.Contains(dec, "@"):
			return refuse("userinfo or a host ('@' in the first segment) is not allowed")
		}
	}
	var query url.Values
	if hasQuery {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return refuse("its query does not parse")
		}
		query = q
	}
	return "/" + p, query, nil
}

// MergeQuery returns the query string of an app call: the query that came inside the path,
// then the caller's query_params, which replace a key of the same name. params values are
// strings, numbers, booleans or lists of them; anything else is CodeInvalidInput naming the
// key. Keys are sorted, so the same call makes the same URL.
func MergeQuery(fromPath url.Values, params map[string]any) (string, error) {
	out := url.Values{}
	for k, vs := range fromPath {
		out[k] = append([]string(nil), vs...)
	}
	for k, v := range params {
		var vals []string
		if list, ok := v.([]any); ok {
			for _, item := range list {
				s, ok := scalarString(item)
				if !ok {
					return "", Errorf(CodeInvalidInput, "query_params.%s: a list of strings, numbers or booleans is allowed, not %T", k, item)
				}
				vals = append(vals, s)
			}
		} else {
			s, ok := scalarString(v)
			if !ok {
				return "", Errorf(CodeInvalidInput, "query_params.%s: a string, number, boolean or list of them is allowed, not %T", k, v)
			}
			vals = []string{s}
		}
		out[k] = vals
	}
	keys := make([]string, 0, len(out))
	for k := range out {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range out[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(k))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
		}
	}
	return b.String(), nil
}

func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case fmt.Stringer: // json.Number keeps integers exact
		return x.String(), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	}
	return "", false
}

func shorten(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
