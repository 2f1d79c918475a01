// Package impl is the webhook's HTTP service: the handlers of the generated strict server
// over a controlplane.Backend, auth passthrough, the allowlist layer, the mapping of errors to
// problem+json, access logging, and NewHandler, which assembles all of it on a gin engine.
//
// Per request, in order: request id and access log; body limit (413); request validation
// against the filtered spec (422); auth passthrough (401 when credentials are required and
// there are none); the allowlist layer (400 self-reference, 403 outside an allowlist, 404 for
// a prefetch endpoint asked about a run that is not a prefetch); the handler.
package impl
