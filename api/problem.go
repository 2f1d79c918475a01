package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/gen"
)

// ProblemContentType is the media type of every error body (RFC 9457).
const ProblemContentType = "application/problem+json"

// NewProblem returns a problem for status with the given detail, the request's id and path.
func NewProblem(c *gin.Context, status int, detail string) gen.Problem {
	p := gen.Problem{
		Type:   "about:blank",
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
	}
	if c != nil && c.Request != nil {
		inst := c.Request.URL.EscapedPath()
		p.Instance = &inst
		if id := RequestIDFrom(c.Request.Context()); id != "" {
			p.RequestId = &id
		}
	}
	return p
}

// WriteProblem writes p as application/problem+json and aborts the gin chain.
func WriteProblem(c *gin.Context, p gen.Problem) {
	_ = WriteProblemTo(c.Writer, p)
	c.Abort()
}

// WriteProblemTo writes p as application/problem+json to w (a 401 with its
// WWW-Authenticate: Bearer), for a strict handler's response object.
func WriteProblemTo(w http.ResponseWriter, p gen.Problem) error {
	body, err := json.Marshal(p)
	if err != nil { // a Problem always marshals; keep a valid body regardless
		body = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500,"detail":"internal error"}`)
		p.Status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", ProblemContentType)
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="flyte-webhook"`)
	}
	w.WriteHeader(p.Status)
	_, err = w.Write(body)
	return err
}

// Fail writes a problem for status with detail.
func Fail(c *gin.Context, status int, detail string) {
	WriteProblem(c, NewProblem(c, status, detail))
}

// WithRequestID returns ctx carrying the request id. It is controlplane's, so backends see it
// without importing api.
func WithRequestID(ctx context.Context, id string) context.Context {
	return controlplane.WithRequestID(ctx, id)
}

// RequestIDFrom returns the request id in ctx, "" when there is none.
func RequestIDFrom(ctx context.Context) string {
	return controlplane.RequestIDFrom(ctx)
}
