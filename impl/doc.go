// Package impl is the webhook's HTTP service: the handlers of the generated strict server
// over a controlplane.Backend, the auth layer, the allowlist layer, the mapping of errors to
// problem+json, access logging, and NewHandler, which assembles all of it on a gin engine.
//
// Per request, in order: request id and access log; body limit (413); request validation
// against the filtered spec (422, duplicate JSON keys and empty headers included); the auth
// layer (401 when credentials are required and there are none, or are ambiguous: two
// Authorization headers; then the backend's Me, cached briefly by a hash of the credentials,
// decides who the caller is: 401 for credentials it refuses, 503 when it cannot tell, and the
// verified identity rides in the request context); the allowlist layer, by each operation's
// x-allowlist policy (400 self-reference, 403 outside an allowlist, 404 for a run endpoint
// asked about a run of a kind this deployment does not show); the handler. The credentials
// still travel to the backend, which checks them again on every call.
package impl
