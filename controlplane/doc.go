// Package controlplane defines what the webhook asks of a control plane: the Backend
// interface (one method per thing the API does), its value types and its errors.
//
// Value types are plain Go structs owned here, not generated API models and not wire types of
// any backend. Errors are *Error values with a closed set of codes (see Code); impl/ maps
// codes to HTTP statuses in one place. A backend returns an *Error whose Message is safe to
// show to the caller; any other error is treated as internal and never shown.
//
// The caller's credentials travel in the context (WithCredentials, CredentialsFrom): the
// webhook never stores them, the backend decides who the caller is.
package controlplane
