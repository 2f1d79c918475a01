// Package api turns openapi.yaml into the webhook's HTTP surface: it loads the embedded spec,
// derives the endpoint catalog (which operation belongs to which group) from the operations'
// tags, selects and filters the enabled operations, registers only their routes, validates
// requests against the filtered spec, writes problem+json errors, and serves the filtered spec
// and Swagger UI.
//
// Nothing about the operations is written here by hand: a new operation in openapi.yaml with a
// group tag is in the catalog, the filter, the validator and the docs without a change here.
package api
