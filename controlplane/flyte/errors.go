package flyte

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"connectrpc.com/connect"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// mapError translates an error of a call to procedure into a *controlplane.Error. The
// control plane's own message reaches the caller only for invalid_argument (it says what was
// wrong with the request); for every code it is kept as the Cause, for the logs. Codes the
// Connect client makes up itself are told apart from those the server sent where they
// differ in meaning: a plain-text 404 (a service not mounted) is unimplemented, an answer
// that does not parse is a bad gateway, not an invalid argument.
func mapError(procedure string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("flyte: %s: %w", procedure, err)
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return controlplane.Wrap(controlplane.CodeBadGateway, err, "the control plane failed")
	}
	cause := fmt.Errorf("%s: %w", procedure, err)
	switch ce.Code() {
	case connect.CodeNotFound:
		return controlplane.Wrap(controlplane.CodeNotFound, cause, "not found")
	case connect.CodeInvalidArgument:
		if !connect.IsWireError(err) {
			// Made up by the client: an answer that is not the message it should be.
			return controlplane.Wrap(controlplane.CodeBadGateway, cause, "the control plane's answer cannot be read")
		}
		return controlplane.Wrap(controlplane.CodeInvalidInput, cause, "the control plane refused the request: "+clean(ce.Message()))
	case connect.CodeUnauthenticated:
		return controlplane.Wrap(controlplane.CodeUnauthenticated, cause, "the control plane did not accept the credentials")
	case connect.CodePermissionDenied:
		return controlplane.Wrap(controlplane.CodePermissionDenied, cause, "the control plane does not allow this to the caller")
	case connect.CodeAlreadyExists:
		return controlplane.Wrap(controlplane.CodeConflict, cause, "it exists already")
	case connect.CodeUnimplemented:
		// Also what a plain-text 404 of a service the control plane does not mount becomes.
		return controlplane.Wrap(controlplane.CodeUnimplemented, cause, "the control plane does not serve "+strings.TrimPrefix(procedure, "/"))
	case connect.CodeUnavailable:
		return controlplane.Wrap(controlplane.CodeUnavailable, cause, "the control plane is unavailable")
	case connect.CodeDeadlineExceeded:
		return controlplane.Wrap(controlplane.CodeDeadlineExceeded, cause, "the control plane did not answer in time")
	case connect.CodeResourceExhausted:
		if connect.IsWireError(err) {
			return controlplane.Wrap(controlplane.CodeUnavailable, cause, "the control plane is overloaded")
		}
		return controlplane.Wrap(controlplane.CodeBadGateway, cause, "the control plane's answer is larger than max_response_bytes")
	}
	return controlplane.Wrap(controlplane.CodeBadGateway, cause, "the control plane failed")
}

// clean shortens a message of the control plane and drops control characters, before it is
// shown to a caller.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// notFound replaces the generic message of a CodeNotFound error with one that says what was
// not found; other errors pass as they are.
func notFound(err error, format string, args ...any) error {
	var e *controlplane.Error
	if errors.As(err, &e) && e.Code == controlplane.CodeNotFound {
		return controlplane.Wrap(controlplane.CodeNotFound, e.Cause, fmt.Sprintf(format, args...))
	}
	return err
}
