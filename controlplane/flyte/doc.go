// Package flyte is the controlplane.Backend that drives a Flyte 2 control plane over the
// Connect protocol with JSON encoding.
//
// The flyteidl2 Go module is not available, so the messages this backend sends and reads are
// its own Go structs in protojson's shape (lowerCamelCase names, int64 as strings, enums as
// their names, defaults omitted), written from the public .proto files. Unknown fields in
// answers are ignored; an app is updated from the app exactly as the control plane sent it,
// so fields this package does not know survive an update.
//
// # Credentials
//
// The caller's Authorization and Cookie headers are forwarded on every call: the control plane
// decides who the caller is and what they may do. A caller without credentials is sent with
// the service identity's bearer token when one is configured (OAuth2 client credentials), and
// with nothing otherwise. Credentials are never logged.
//
// # What each method costs
//
// Every method is one or a few unary calls: GetRun is GetRunDetails; a RunTask whose task was
// looked up in the last cache_ttl is one CreateRun (with an Idempotency-Key, plus UserInfo
// when the caller was not seen in the last cache_ttl, and one GetRunDetails on a replay);
// GetRunIO is GetRunDetails and DataProxyService/GetActionData, in parallel; AbortRun reads
// the run before and after the abort; SetTriggerActive reads the trigger first, since
// UpdateTriggers answers 200 for unknown ones. ListRuns is one RunService/ListRuns per page,
// up to ten when the page filters by label or caller, or hides kinds of runs (see lists.go).
//
// # Idempotency-Key
//
// A key names the run: "w" and 24 base32 characters of a SHA-256 of the caller's subject and
// the key, so the same caller and key give the same run on every replica, for as long as
// Flyte keeps the run. The run carries a label with a fingerprint of the request (the task as
// asked for, inputs with defaults applied); CreateRun answers an existing name with the
// existing run, and when that run was created before the call (a replay) its label is
// compared: another request's run is CodeConflict. The one gap: of two requests with one
// key and different inputs that race (the second sent before the first's run exists), both
// get the first one's run, unless the control plane puts the labels in CreateRun's answer.
//
// # Runs and their project and domain
//
// Run names are unique within a project and domain, and the webhook's run endpoints carry only
// a name. A RunRef without a project and domain is looked up in the default project and domain
// (project, domain), then in each of run_scopes in order, then in those of the prefetch and
// image build tasks. Each place that does not have the run costs one GetRunDetails.
//
// # Inputs and outputs
//
// RunTask checks inputs against the task's interface and encodes them as literals itself (the
// control plane does not type-check them): integers stay exact to 64 bits, a JSON object for a
// STRUCT input is MessagePack when the type says so (as the Python SDK writes dataclasses and
// dicts) and a protobuf Struct otherwise. GetRunIO decodes literals back to JSON values:
// primitives, collections, maps, structs, MessagePack binaries, unions and none; files,
// directories and data frames become their URI; an offloaded literal becomes
// {"offloaded": {"uri": ..., "size_bytes": ...}}, because its value lives in the data plane's
// storage, which the webhook does not read.
package flyte
