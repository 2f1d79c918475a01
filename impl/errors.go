package impl

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/flyte-webhook/flyte-webhook/api"
	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// statusOf maps an error code to its HTTP status. This table is the one place it is decided.
func statusOf(code controlplane.Code) int {
	switch code {
	case controlplane.CodeInvalidInput:
		return http.StatusBadRequest
	case controlplane.CodeUnauthenticated:
		return http.StatusUnauthorized
	case controlplane.CodePermissionDenied:
		return http.StatusForbidden
	case controlplane.CodeNotFound:
		return http.StatusNotFound
	case controlplane.CodeConflict:
		return http.StatusConflict
	case controlplane.CodeUnimplemented:
		return http.StatusNotImplemented
	case controlplane.CodeBadGateway:
		return http.StatusBadGateway
	case controlplane.CodeUnavailable:
		return http.StatusServiceUnavailable
	case controlplane.CodeDeadlineExceeded:
		return http.StatusGatewayTimeout
	default:
		return http.StatusInternalServerError
	}
}

// problemOf returns the status and the caller-facing detail for err. Only *controlplane.Error
// messages of non-internal codes reach the caller; everything else gets a generic detail that
// names the request id to quote.
func problemOf(err error, requestID string) (int, string) {
	code := controlplane.CodeOf(err)
	status := statusOf(code)
	if msg := controlplane.MessageOf(err); msg != "" {
		return status, msg
	}
	switch code {
	case controlplane.CodeInternal:
		return status, "internal error; quote request_id " + requestID + " when reporting it"
	case controlplane.CodeDeadlineExceeded:
		return status, "the control plane did not answer in time"
	}
	return status, http.StatusText(status)
}

// writeError writes err as problem+json. 5xx errors are logged with their cause and the
// request id; their cause is never shown to the caller.
func (s *Server) writeError(c *gin.Context, err error) {
	ctx := c.Request.Context()
	id := api.RequestIDFrom(ctx)
	status, detail := problemOf(err, id)
	if status == http.StatusUnauthorized && s.ids != nil {
		// The backend refused these credentials (revoked, expired): stop reusing an
		// earlier verification of them at once.
		s.ids.forget(credentialsKey(controlplane.CredentialsFrom(ctx)))
	}
	if m := s.route(c); m != nil && !m.declared[status] {
		// The backend answered with a code this operation does not document: keep the
		// contract, log the mismatch.
		s.log.LogAttrs(ctx, slog.LevelError, "backend error outside the operation's contract",
			slog.String("request_id", id), slog.Int("status", status), slog.String("error", err.Error()))
		status, detail = http.StatusInternalServerError, "internal error; quote request_id "+id+" when reporting it"
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// The caller went away; nobody reads this answer.
		s.log.LogAttrs(ctx, slog.LevelInfo, "request canceled by the caller", slog.String("request_id", id))
	} else if status >= 500 && status != http.StatusNotImplemented {
		s.log.LogAttrs(ctx, slog.LevelError, "request failed",
			slog.String("request_id", id), slog.Int("status", status), slog.String("error", err.Error()))
	}
	if status == http.StatusServiceUnavailable {
		if d := controlplane.RetryAfterOf(err); d > 0 {
			// A CI job reads 401 as a bad token and gives up; 503 with Retry-After says
			// "the same request will work later".
			c.Header("Retry-After", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
		}
	}
	api.Fail(c, status, detail)
}

// handlerError is the strict server's HandlerErrorFunc: every `return nil, err` lands here.
func (s *Server) handlerError(c *gin.Context, err error) { s.writeError(c, err) }

// requestError is the strict server's RequestErrorHandlerFunc: the body could not be bound.
// The validator runs first, so this is rare (e.g. a body of the right shape that Go cannot
// hold); it is still the caller's fault, so 422.
func (s *Server) requestError(c *gin.Context, err error) {
	s.logCallerError(c, "the request body could not be bound", err)
	api.Fail(c, http.StatusUnprocessableEntity, "the request body could not be read: it does not fit the API")
}

// responseError is the strict server's ResponseErrorHandlerFunc: writing the answer failed.
func (s *Server) responseError(c *gin.Context, err error) {
	if c.Writer.Written() {
		s.log.LogAttrs(c.Request.Context(), slog.LevelWarn, "writing the response failed",
			slog.String("request_id", api.RequestIDFrom(c.Request.Context())), slog.String("error", err.Error()))
		return
	}
	s.writeError(c, err)
}

// paramError is the generated wrapper's ErrorHandler: a parameter could not be bound (the
// validator already rejects those, so this is a second line).
func (s *Server) paramError(c *gin.Context, err error, status int) {
	if status < 500 {
		s.logCallerError(c, "a parameter could not be bound", err)
		api.Fail(c, http.StatusUnprocessableEntity, "a parameter does not fit the API")
		return
	}
	s.writeError(c, err)
}

// logCallerError logs why a request the validator let through could not be bound: the
// caller's fault (so info, not an error), but a sign that the validator and the generated
// binder disagree, which is worth finding in the log by request id. The text stays in the
// log; the caller gets a generic 422. Bound values are parameters and bodies, never the
// Authorization or Cookie headers, so no credential reaches this line.
func (s *Server) logCallerError(c *gin.Context, msg string, err error) {
	ctx := c.Request.Context()
	attrs := []slog.Attr{slog.String("request_id", api.RequestIDFrom(ctx))}
	if m := s.route(c); m != nil {
		attrs = append(attrs, slog.String("operation_id", m.id))
	}
	attrs = append(attrs, slog.String("error", err.Error()))
	s.log.LogAttrs(ctx, slog.LevelInfo, msg, attrs...)
}
