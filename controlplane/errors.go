package controlplane

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Code is the kind of an error, a closed set. The zero value is CodeInternal.
type Code int

// The codes. impl/ maps them to HTTP statuses: 500, 400, 401, 403, 404, 409, 501, 502, 503, 504.
const (
	CodeInternal Code = iota
	CodeInvalidInput
	CodeUnauthenticated
	CodePermissionDenied
	CodeNotFound
	CodeConflict
	CodeUnimplemented
	CodeBadGateway
	CodeUnavailable
	CodeDeadlineExceeded
)

var codeNames = [...]string{
	CodeInternal:         "internal",
	CodeInvalidInput:     "invalid_input",
	CodeUnauthenticated:  "unauthenticated",
	CodePermissionDenied: "permission_denied",
	CodeNotFound:         "not_found",
	CodeConflict:         "conflict",
	CodeUnimplemented:    "unimplemented",
	CodeBadGateway:       "bad_gateway",
	CodeUnavailable:      "unavailable",
	CodeDeadlineExceeded: "deadline_exceeded",
}

// String returns the code's snake_case name.
func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("code(%d)", int(c))
}

// Error is an error with a code. Message is written for the caller and is shown to them for
// every code but CodeInternal; Cause is for logs only.
type Error struct {
	Code    Code
	Message string
	Cause   error
	// RetryAfter, when positive, is how long the caller should wait before trying again;
	// impl writes it as a Retry-After header (whole seconds, rounded up) on a 503. Zero says
	// nothing.
	RetryAfter time.Duration
}

// Errorf returns an *Error with a caller-facing message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with a caller-facing message and a cause kept for logs.
func Wrap(code Code, cause error, message string) *Error {
	return &Error{Code: code, Message: message, Cause: cause}
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Message + ": " + e.Cause.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// Is makes errors.Is(err, ErrNotFound) true for any *Error with CodeNotFound, and so on for
// each sentinel.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Cause == nil && t.Code == e.Code
}

// Sentinels for errors.Is; they match any *Error of their code.
var (
	ErrInvalidInput     = &Error{Code: CodeInvalidInput}
	ErrUnauthenticated  = &Error{Code: CodeUnauthenticated}
	ErrPermissionDenied = &Error{Code: CodePermissionDenied}
	ErrNotFound         = &Error{Code: CodeNotFound}
	ErrConflict         = &Error{Code: CodeConflict}
	ErrUnimplemented    = &Error{Code: CodeUnimplemented}
	ErrBadGateway       = &Error{Code: CodeBadGateway}
	ErrUnavailable      = &Error{Code: CodeUnavailable}
	ErrDeadlineExceeded = &Error{Code: CodeDeadlineExceeded}
)

// CodeOf returns the code of the first *Error in err's chain. A context deadline is
// CodeDeadlineExceeded; anything else is CodeInternal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return CodeDeadlineExceeded
	}
	return CodeInternal
}

// RetryAfterOf returns the RetryAfter of the first *Error in err's chain, zero when there is
// none.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// MessageOf returns the caller-facing message of the first *Error in err's chain, "" when
// there is none or its code is CodeInternal.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != CodeInternal {
		return e.Message
	}
	return ""
}
