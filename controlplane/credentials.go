package controlplane

import (
	"context"
	"log/slog"
)

// Credentials are the caller's credentials exactly as they came, to be passed through to the
// control plane. They are never stored or logged (LogValue redacts them).
type Credentials struct {
	// Authorization is the Authorization header, e.g. "Bearer abc".
	Authorization string
	// Cookie is the Cookie header.
	Cookie string
}

// Empty reports whether there are no credentials at all.
func (c Credentials) Empty() bool { return c.Authorization == "" && c.Cookie == "" }

// LogValue implements slog.LogValuer: it says which credentials there are, never what.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("authorization", c.Authorization != ""),
		slog.Bool("cookie", c.Cookie != ""),
	)
}

// String redacts, so that a stray %v never prints a credential.
func (c Credentials) String() string { return "Credentials{redacted}" }

type credentialsKey struct{}

// WithCredentials returns a context carrying the caller's credentials.
func WithCredentials(ctx context.Context, c Credentials) context.Context {
	return context.WithValue(ctx, credentialsKey{}, c)
}

// CredentialsFrom returns the credentials carried by ctx; zero when there are none.
func CredentialsFrom(ctx context.Context) Credentials {
	c, _ := ctx.Value(credentialsKey{}).(Credentials)
	return c
}

type callerKey struct{}

type callerSlot struct{ id Identity }

// WithCallerSlot returns a context in which a backend can record the caller it verified
// (ReportCaller), so the access log can name the caller. Nothing is recorded without it.
func WithCallerSlot(ctx context.Context) context.Context {
	return context.WithValue(ctx, callerKey{}, &callerSlot{})
}

// ReportCaller records the identity a backend verified for this request. Safe to call with a
// context that has no slot.
func ReportCaller(ctx context.Context, id Identity) {
	if s, ok := ctx.Value(callerKey{}).(*callerSlot); ok {
		s.id = id
	}
}

// ReportedCaller returns the identity ReportCaller recorded, zero when none was.
func ReportedCaller(ctx context.Context) Identity {
	if s, ok := ctx.Value(callerKey{}).(*callerSlot); ok {
		return s.id
	}
	return Identity{}
}

type identityKey struct{}

// WithIdentity returns a context carrying the identity the webhook verified for the
// request's credentials before its allowlists answered (Backend.Me, possibly answered from a
// cache of a few seconds). Later layers read it with IdentityFrom; it names the caller in
// logs and decisions of the webhook, and never replaces the backend's own check of the
// credentials on every call.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity WithIdentity put in ctx. ok is false when none was
// verified: the operation needs no credentials, or the backend cannot verify credentials
// ahead of a call (its Me answers CodeUnimplemented).
func IdentityFrom(ctx context.Context) (id Identity, ok bool) {
	id, ok = ctx.Value(identityKey{}).(Identity)
	return id, ok
}
