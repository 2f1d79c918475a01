package controlplane

import "context"

type requestIDKey struct{}

// WithRequestID returns ctx carrying the id the webhook gave the request, so a backend can
// name the request that caused what it logs (a run's acceptance, for one). The HTTP layer
// sets it once per request (api.WithRequestID delegates here).
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the request id in ctx, "" when there is none.
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
