package client

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
)

// Result is what every generated *XxxResult has: the status, content type and raw body of the
// answer. ProblemOf and ErrorOf take any of them.
type Result interface {
	StatusCode() int
	ContentType() string
	GetBody() []byte
}

// ProblemOf returns nil when res is a 2xx answer, and otherwise the RFC 9457 problem the
// server sent. An error answer whose body is not a problem+json object (a proxy's HTML page, a
// plain "404 page not found" for an operation this deployment does not enable) gives a
// synthesized Problem with the status, its standard title, type "about:blank" and up to 512
// bytes of the body as detail, so callers can always switch on Status.
func ProblemOf(res Result) *Problem {
	code := res.StatusCode()
	if code >= 200 && code < 300 {
		return nil
	}
	body := res.GetBody()
	if isJSONType(res.ContentType()) {
		var p Problem
		if err := json.Unmarshal(body, &p); err == nil && (p.Status != 0 || p.Detail != "" || p.Title != "") {
			if p.Status == 0 {
				p.Status = code
			}
			if p.Title == "" {
				p.Title = http.StatusText(code)
			}
			if p.Type == "" {
				p.Type = "about:blank"
			}
			return &p
		}
	}
	detail := strings.TrimSpace(string(body))
	if len(detail) > 512 {
		detail = detail[:512]
	}
	return &Problem{Type: "about:blank", Title: http.StatusText(code), Status: code, Detail: detail}
}

// ErrorOf returns nil when res is a 2xx answer and ProblemOf(res) as an error otherwise, for
// the common `if err := client.ErrorOf(res); err != nil { return err }`. Recover the problem
// with errors.As(err, new(*client.Problem)).
func ErrorOf(res Result) error {
	if p := ProblemOf(res); p != nil {
		return p
	}
	return nil
}

// Error makes a *Problem an error: "404 Not Found: task development/examples/x not found
// (request_id r-…)".
func (p *Problem) Error() string {
	s := fmt.Sprintf("%d %s", p.Status, p.Title)
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	for _, e := range deref(p.Errors) {
		s += fmt.Sprintf("; %s %q: %s", e.In, e.Name, e.Reason)
	}
	if p.RequestId != nil && *p.RequestId != "" {
		s += " (request_id " + *p.RequestId + ")"
	}
	return s
}

func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "application/problem+json" || strings.HasSuffix(mt, "+json")
}

func deref[T any](p *[]T) []T {
	if p == nil {
		return nil
	}
	return *p
}
