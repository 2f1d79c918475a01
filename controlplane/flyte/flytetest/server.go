// Package flytetest is an in-memory Flyte 2 control plane for tests: a real HTTP server on
// 127.0.0.1 speaking the Connect protocol with JSON, written as plain HTTP handlers over the
// JSON shapes observed against a real control plane (shared/FLYTE-WIRE.md), quirks included:
//
//   - a run's status.phase lags its last attempt's phase for Options.StatusLag after it ends;
//   - GetActionData answers "outputs": {} until the run has succeeded (and for failed runs);
//   - org is ignored: ids in answers carry none, GetRunDetails echoes the org it was sent;
//   - 64-bit integers are strings, enums are names, empty fields are omitted;
//   - UpdateTriggers answers 200 for unknown triggers;
//   - a service in Options.Unmounted answers a plain-text 404;
//   - AbortRun answers {} for a run aborted already (and overwrites the reason), and drops
//     the connection without an answer when the request names no run;
//   - CreateRun answers the existing run for an existing name, `unknown` for an unknown task
//     version, `not_found` for an unknown project, `invalid_argument` for a bad run name;
//   - an aborted run has no attempts; status.attempts is 1 from creation on;
//   - ListRuns pages by an offset token (see lists.go), and a run's metadata carries
//     executedBy, the user who created it.
//
// It is stricter than the real control plane in one way, to catch a client's mistakes: a
// request with a field it does not know, or a literal that is not valid protojson, is refused
// with invalid_argument (the real one drops unknown fields silently).
//
// Tasks run by name: echo, sum, sleep and fail behave as the conformance suite's fixtures;
// types echoes each input as the output of the same name; any other task succeeds with no
// outputs.
package flytetest

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// User is who a bearer token stands for.
type User struct {
	Subject, Name, GivenName, FamilyName, Email string
}

// Options configures a Server. Zero values take the defaults given.
type Options struct {
	// Users maps bearer tokens to users. A token is also accepted as the cookie
	// flyte_session=<token> (this fake's own cookie, to see Cookie forwarded).
	Users map[string]User
	// Projects are project/domain pairs that exist besides those of deployed tasks.
	Projects []string
	// Concurrency bounds the runs running at once; the rest wait queued. 0 is unbounded.
	Concurrency int
	// QueueDelay is how long a run stays queued at least. Defaults to 5ms.
	QueueDelay time.Duration
	// RunTime is how long echo, sum, fail, types and unknown tasks run. Defaults to 20ms.
	RunTime time.Duration
	// SleepUnit is a sleep task's second. Defaults to time.Second.
	SleepUnit time.Duration
	// StatusLag is how long status.phase still says RUNNING after the last attempt ended.
	// Defaults to 50ms; negative means forever.
	StatusLag time.Duration
	// EchoRunLabels puts the run's labels in CreateRun's answer (as newer control planes do).
	EchoRunLabels bool
	// Unmounted are services ("flyteidl2.app.AppService") that answer a plain-text 404.
	Unmounted []string
	// OAuth2, when set, serves a client-credentials token endpoint at /oauth2/token whose
	// tokens are accepted as bearer tokens, published through GetOAuth2Metadata.
	OAuth2 *OAuth2
	// AppTransition is how long an app takes to become active or stopped. Defaults to 20ms.
	AppTransition time.Duration
	// TLS serves https with HTTP/2, under a certificate of its own (Server.CertificatePEM).
	TLS bool
	// Quiet records no calls (for benchmarks, whose calls would pile up). Calls are still
	// counted (CallCounts).
	Quiet bool
	// CallDelay is added to every procedure's answer, after the request is read and before
	// it is handled, as a remote control plane's own latency would be (for load
	// simulations). Defaults to 0.
	CallDelay time.Duration
}

// OAuth2 configures the fake token endpoint.
type OAuth2 struct {
	ClientID, ClientSecret string
	// Subject is who the issued tokens stand for.
	Subject string
	// TokenTTL is the issued tokens' lifetime (expires_in). Defaults to one hour.
	TokenTTL time.Duration
	// Unpublished makes GetOAuth2Metadata answer unimplemented, as a control plane without an
	// external authorization server does.
	Unpublished bool
}

// Call is one request the server received.
type Call struct {
	Procedure string // "/flyteidl2.workflow.RunService/CreateRun"
	Header    http.Header
	Body      []byte
	// Proto is the HTTP version ("HTTP/1.1", "HTTP/2.0"); RemoteAddr tells connections apart.
	Proto, RemoteAddr string
}

// Server is the fake control plane.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:port.
	URL  string
	opts Options
	srv  *httptest.Server
	now  func() time.Time

	mu        sync.Mutex
	calls     []Call
	counts    map[string]int64 // procedure → requests received, Quiet or not
	inject    map[string]http.HandlerFunc
	projects  map[string]bool // "project/domain"
	tasks     map[string][]*task
	runs      map[string]*run // "project/domain/name"
	active    []*run          // queued and running runs, oldest first
	apps      map[string]*app
	triggers  map[string]*trigger
	tokens    map[string]time.Time // issued token → expiry
	failToken bool
	lag       time.Duration
	seq       int
}

// Start starts a server, closed when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	t.Cleanup(s.Close)
	return s
}

// New starts a server outside a test (a load program); Close stops it. Tests use Start.
func New(opts Options) *Server {
	if opts.QueueDelay == 0 {
		opts.QueueDelay = 5 * time.Millisecond
	}
	if opts.RunTime == 0 {
		opts.RunTime = 20 * time.Millisecond
	}
	if opts.SleepUnit == 0 {
		opts.SleepUnit = time.Second
	}
	if opts.StatusLag == 0 {
		opts.StatusLag = 50 * time.Millisecond
	}
	if opts.AppTransition == 0 {
		opts.AppTransition = 20 * time.Millisecond
	}
	if opts.OAuth2 != nil && opts.OAuth2.TokenTTL == 0 {
		opts.OAuth2.TokenTTL = time.Hour
	}
	s := &Server{
		opts: opts, now: time.Now, inject: map[string]http.HandlerFunc{}, projects: map[string]bool{},
		tasks: map[string][]*task{}, runs: map[string]*run{}, apps: map[string]*app{},
		triggers: map[string]*trigger{}, tokens: map[string]time.Time{}, counts: map[string]int64{},
	}
	s.lag = opts.StatusLag
	for _, p := range opts.Projects {
		s.projects[p] = true
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused TLS handshakes are tests' business
	if opts.TLS {
		s.srv.EnableHTTP2 = true
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	s.URL = s.srv.URL
	return s
}

// Close stops the server, closing its connections.
func (s *Server) Close() { s.srv.Close() }

// CertificatePEM is the server's certificate (with Options.TLS), for a client to trust.
func (s *Server) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// Calls returns the requests received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsTo returns the requests received so far for one procedure.
func (s *Server) CallsTo(procedure string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Procedure == procedure {
			out = append(out, c)
		}
	}
	return out
}

// CallCounts returns how many requests each procedure received so far, counted also with
// Options.Quiet: a load program compares two of them to count the calls a piece of work made.
func (s *Server) CallCounts() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.counts))
	for p, n := range s.counts {
		out[p] = n
	}
	return out
}

// ResetCalls forgets the requests received so far.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	s.calls = nil
	s.mu.Unlock()
}

// Inject answers a procedure with h instead of the fake's own handler (after the request is
// recorded); nil restores the handler.
func (s *Server) Inject(procedure string, h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h == nil {
		delete(s.inject, procedure)
	} else {
		s.inject[procedure] = h
	}
}

// SetStatusLag changes Options.StatusLag from now on (negative: forever).
func (s *Server) SetStatusLag(d time.Duration) {
	s.mu.Lock()
	s.lag = d
	s.mu.Unlock()
}

// FailTokens makes the token endpoint fail (500) while on.
func (s *Server) FailTokens(on bool) {
	s.mu.Lock()
	s.failToken = on
	s.mu.Unlock()
}

// handler is a procedure's handler: it gets the caller (nil for anonymous procedures) and the
// request body, and returns the answer or an error.
type handler func(u *User, body []byte) (any, error)

// procedures maps procedure paths to handlers; anonymous ones need no credentials.
func (s *Server) procedures() map[string]struct {
	h         handler
	anonymous bool
} {
	type entry = struct {
		h         handler
		anonymous bool
	}
	return map[string]entry{
		"/flyteidl2.auth.IdentityService/UserInfo":              {h: s.userInfo},
		"/flyteidl2.auth.AuthMetadataService/GetOAuth2Metadata": {h: s.oauth2Metadata, anonymous: true},
		"/flyteidl2.task.TaskService/DeployTask":                {h: s.deployTask},
		"/flyteidl2.task.TaskService/GetTaskDetails":            {h: s.getTaskDetails},
		"/flyteidl2.task.TaskService/ListTasks":                 {h: s.listTasks},
		"/flyteidl2.workflow.RunService/CreateRun":              {h: s.createRun},
		"/flyteidl2.workflow.RunService/GetRunDetails":          {h: s.getRunDetails},
		"/flyteidl2.workflow.RunService/ListRuns":               {h: s.listRuns},
		"/flyteidl2.workflow.RunService/AbortRun":               {h: s.abortRun},
		"/flyteidl2.workflow.RunService/GetActionData":          {h: s.deprecatedActionData},
		"/flyteidl2.dataproxy.DataProxyService/GetActionData":   {h: s.getActionData},
		"/flyteidl2.trigger.TriggerService/GetTriggerDetails":   {h: s.getTriggerDetails},
		"/flyteidl2.trigger.TriggerService/UpdateTriggers":      {h: s.updateTriggers},
		"/flyteidl2.app.AppService/Get":                         {h: s.getApp},
		"/flyteidl2.app.AppService/Update":                      {h: s.updateApp},
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/oauth2/token" {
		s.token(w, r)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	s.mu.Lock()
	if !s.opts.Quiet {
		s.calls = append(s.calls, Call{Procedure: r.URL.Path, Header: r.Header.Clone(), Body: body, Proto: r.Proto, RemoteAddr: r.RemoteAddr})
	}
	s.counts[r.URL.Path]++
	injected := s.inject[r.URL.Path]
	s.mu.Unlock()
	if d := s.opts.CallDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}

	service, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	for _, u := range s.opts.Unmounted {
		if u == service {
			http.NotFound(w, r) // plain text, as a mux without the service answers
			return
		}
	}
	if h, ok := s.streamProcedures()[r.URL.Path]; ok {
		s.serveStream(w, r, body, h, injected)
		return
	}
	p, ok := s.procedures()[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		w.Header().Set("Accept-Post", "application/json, application/proto")
		http.Error(w, "unsupported content type "+ct, http.StatusUnsupportedMediaType)
		return
	}
	if injected != nil {
		r.Body = io.NopCloser(bytes.NewReader(body)) // read already, for the record
		injected(w, r)
		return
	}
	var user *User
	if !p.anonymous {
		if user = s.authenticate(r); user == nil {
			writeError(w, errorf(codeUnauthenticated, "no valid credentials"))
			return
		}
	}
	if r.URL.Path == "/flyteidl2.workflow.RunService/AbortRun" && !bytes.Contains(body, []byte(`"runId"`)) {
		// What the real control plane does with an AbortRun naming no run: no answer at all.
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
	}
	res, err := p.h(user, body)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

// authenticate finds the user of a bearer token or of the flyte_session cookie.
func (s *Server) authenticate(r *http.Request) *User {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		if c, err := r.Cookie("flyte_session"); err == nil {
			tok = c.Value
		}
	}
	if tok == "" {
		return nil
	}
	if u, ok := s.opts.Users[tok]; ok {
		return &u
	}
	s.mu.Lock()
	exp, ok := s.tokens[tok]
	s.mu.Unlock()
	if ok && s.now().Before(exp) {
		return &User{Subject: s.opts.OAuth2.Subject, Name: "service " + s.opts.OAuth2.ClientID}
	}
	return nil
}

func (s *Server) userInfo(u *User, body []byte) (any, error) {
	var req struct{}
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	return omitEmpty(map[string]any{
		"subject": u.Subject, "name": u.Name, "givenName": u.GivenName, "familyName": u.FamilyName, "email": u.Email,
	}), nil
}

// The Connect error codes the fake answers with, and their HTTP statuses.
const (
	codeInvalidArgument  = "invalid_argument"
	codeNotFound         = "not_found"
	codeUnauthenticated  = "unauthenticated"
	codePermissionDenied = "permission_denied"
	codeUnimplemented    = "unimplemented"
	codeUnknown          = "unknown"
)

var statusOf = map[string]int{
	codeInvalidArgument: 400, codeNotFound: 404, codeUnauthenticated: 401, codePermissionDenied: 403,
	codeUnimplemented: 501, codeUnknown: 500, "already_exists": 409, "unavailable": 503, "internal": 500,
}

type connectError struct{ code, message string }

func (e *connectError) Error() string { return e.code + ": " + e.message }

func errorf(code, format string, args ...any) error {
	return &connectError{code: code, message: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, err error) {
	ce, ok := err.(*connectError)
	if !ok {
		ce = &connectError{code: "internal", message: err.Error()}
	}
	WriteConnectError(w, statusOf[ce.code], ce.code, ce.message)
}

// WriteConnectError writes a Connect error answer, for handlers given to Inject.
func WriteConnectError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": code, "message": message})
}

// decodeStrict decodes a request, refusing fields the message does not have.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return errorf(codeInvalidArgument, "invalid request: %v", err)
	}
	return nil
}

// omitEmpty drops "" and nil values, as protojson omits defaults.
func omitEmpty(m map[string]any) map[string]any {
	for k, v := range m {
		switch x := v.(type) {
		case nil:
			delete(m, k)
		case string:
			if x == "" {
				delete(m, k)
			}
		case map[string]any:
			if len(x) == 0 {
				delete(m, k)
			}
		}
	}
	return m
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
