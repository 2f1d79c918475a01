package flytetest

import (
	"crypto/rand"
	"encoding/json"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The phases of a run in this fake, as flyteidl2 names them without ACTION_PHASE_.
const (
	phaseQueued    = "QUEUED"
	phaseRunning   = "RUNNING"
	phaseSucceeded = "SUCCEEDED"
	phaseFailed    = "FAILED"
	phaseAborted   = "ABORTED"
)

type run struct {
	project, domain, name string
	task                  *task
	inputs                []namedLiteral
	labels                map[string]string
	created               time.Time
	phase                 string
	started, ended        time.Time
	runFor                time.Duration
	outputs               []namedLiteral
	errMsg                string
	abortReason           string
	executedBy            string // the creating user's subject (ActionMetadata.executed_by)
	seq                   int    // creation order, to order runs created at the same instant
}

type namedLiteral struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value"`
}

type runIDJSON struct {
	Org     string `json:"org"`
	Project string `json:"project"`
	Domain  string `json:"domain"`
	Name    string `json:"name"`
}

var runNameRE = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

func (s *Server) createRun(u *User, body []byte) (any, error) {
	var req struct {
		RunID     *runIDJSON `json:"runId"`
		ProjectID *struct {
			Organization string `json:"organization"`
			Name         string `json:"name"`
			Domain       string `json:"domain"`
		} `json:"projectId"`
		TaskID      *taskIDJSON     `json:"taskId"`
		TaskSpec    json.RawMessage `json:"taskSpec"`
		TriggerName json.RawMessage `json:"triggerName"`
		Inputs      *struct {
			Literals []namedLiteral  `json:"literals"`
			Context  json.RawMessage `json:"context"`
		} `json:"inputs"`
		RunSpec *struct {
			Labels *struct {
				Values map[string]string `json:"values"`
			} `json:"labels"`
			Annotations    json.RawMessage `json:"annotations"`
			Envs           json.RawMessage `json:"envs"`
			Interruptible  json.RawMessage `json:"interruptible"`
			Cluster        string          `json:"cluster"`
			RawDataStorage json.RawMessage `json:"rawDataStorage"`
			CacheConfig    json.RawMessage `json:"cacheConfig"`
		} `json:"runSpec"`
		Source string `json:"source"`
	}
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	var project, domain, name string
	switch {
	case (req.RunID == nil) == (req.ProjectID == nil):
		return nil, errorf(codeInvalidArgument, "invalid CreateRunRequest: exactly one field is required in oneof id")
	case req.RunID != nil:
		project, domain, name = req.RunID.Project, req.RunID.Domain, req.RunID.Name
		if len(name) > 30 || !runNameRE.MatchString(name) {
			return nil, errorf(codeInvalidArgument, "invalid CreateRunRequest.RunId: invalid run name %q", name)
		}
	default:
		project, domain, name = req.ProjectID.Name, req.ProjectID.Domain, newRunName()
	}
	if req.TaskID == nil {
		return nil, errorf(codeInvalidArgument, "this fake runs deployed tasks only (taskId)")
	}
	for i, l := range inputsOf(req.Inputs) {
		if err := checkLiteral(l.Value, "inputs.literals["+strconv.Itoa(i)+"]"); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.projects[project+"/"+domain] {
		return nil, errorf(codeNotFound, "project %s/%s not found", project, domain)
	}
	now := s.now()
	s.advance(now)
	key := project + "/" + domain + "/" + name
	if r, ok := s.runs[key]; ok {
		// An existing name answers the run that has it, whatever this request asked for.
		return s.createAnswer(r), nil
	}
	t := s.findTask(req.TaskID.Project, req.TaskID.Domain, req.TaskID.Name, req.TaskID.Version)
	if t == nil {
		return nil, errorf(codeUnknown, "failed to fetch task: record not found")
	}
	r := &run{project: project, domain: domain, name: name, task: t, created: now, phase: phaseQueued, labels: map[string]string{}}
	if u != nil {
		r.executedBy = u.Subject
	}
	s.seq++
	r.seq = s.seq
	given := map[string]bool{}
	for _, l := range inputsOf(req.Inputs) {
		r.inputs = append(r.inputs, l)
		given[l.Name] = true
	}
	for _, in := range t.inputs {
		if d, ok := t.defaults[in]; ok && !given[in] {
			r.inputs = append(r.inputs, namedLiteral{Name: in, Value: d})
		}
	}
	if req.RunSpec != nil && req.RunSpec.Labels != nil {
		for k, v := range req.RunSpec.Labels.Values {
			r.labels[k] = v
		}
	}
	s.runs[key] = r
	s.active = append(s.active, r)
	return s.createAnswer(r), nil
}

func inputsOf(in *struct {
	Literals []namedLiteral  `json:"literals"`
	Context  json.RawMessage `json:"context"`
}) []namedLiteral {
	if in == nil {
		return nil
	}
	return in.Literals
}

func (s *Server) createAnswer(r *run) map[string]any {
	a := map[string]any{
		"id":       map[string]any{"run": map[string]any{"project": r.project, "domain": r.domain, "name": r.name}, "name": "a0"},
		"metadata": s.actionMetadata(r),
		"status":   s.status(r, s.now()),
	}
	out := map[string]any{"action": a}
	if s.opts.EchoRunLabels && len(r.labels) > 0 {
		out["labels"] = r.labels
	}
	return map[string]any{"run": out}
}

func (s *Server) actionMetadata(r *run) map[string]any {
	m := map[string]any{
		"task": map[string]any{
			"id":       taskIDJSON{Project: r.task.project, Domain: r.task.domain, Name: r.task.name, Version: r.task.version},
			"taskType": r.task.typ, "shortName": r.task.name,
		},
		"actionType": "ACTION_TYPE_TASK",
	}
	if r.executedBy != "" {
		m["executedBy"] = map[string]any{"user": map[string]any{"id": map[string]any{"subject": r.executedBy}}}
	}
	return m
}

// status is the action's status: its phase lags the last attempt's for StatusLag after the
// end (a quirk of the real control plane).
func (s *Server) status(r *run, now time.Time) map[string]any {
	st := map[string]any{"phase": "ACTION_PHASE_" + r.phase, "startTime": ts(r.created), "attempts": 1}
	if s.lagging(r, now) {
		st["phase"] = "ACTION_PHASE_" + phaseRunning
		return st
	}
	if !r.ended.IsZero() {
		st["endTime"] = ts(r.ended)
		st["durationMs"] = strconv.FormatInt(r.ended.Sub(r.created).Milliseconds(), 10)
	}
	return st
}

func (s *Server) lagging(r *run, now time.Time) bool {
	if r.phase != phaseSucceeded && r.phase != phaseFailed {
		return false
	}
	return s.lag < 0 || now.Before(r.ended.Add(s.lag))
}

func newRunName() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 19)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "r" + string(b)
}

// advance moves runs along: running ones whose time is up finish, then queued ones start
// while there is room. Call with s.mu held.
func (s *Server) advance(now time.Time) {
	running := 0
	for _, r := range s.active {
		if r.phase != phaseRunning {
			continue
		}
		if now.Before(r.started.Add(r.runFor)) {
			running++
			continue
		}
		s.finish(r)
	}
	for _, r := range s.active {
		if r.phase != phaseQueued || now.Before(r.created.Add(s.opts.QueueDelay)) {
			continue
		}
		if s.opts.Concurrency > 0 && running >= s.opts.Concurrency {
			break
		}
		r.phase, r.started, r.runFor = phaseRunning, now, s.runTime(r)
		running++
	}
	kept := s.active[:0]
	for _, r := range s.active {
		if r.phase == phaseQueued || r.phase == phaseRunning {
			kept = append(kept, r)
		}
	}
	clear(s.active[len(kept):])
	s.active = kept
}

func (s *Server) runTime(r *run) time.Duration {
	if r.task.name == "sleep" {
		if n, ok := intOf(r.input("seconds")); ok && n.IsInt64() {
			return time.Duration(n.Int64()) * s.opts.SleepUnit
		}
	}
	return s.opts.RunTime
}

func (r *run) input(name string) json.RawMessage {
	for _, l := range r.inputs {
		if l.Name == name {
			return l.Value
		}
	}
	return nil
}

// finish ends a run as its task does.
func (s *Server) finish(r *run) {
	r.ended = r.started.Add(r.runFor)
	r.phase = phaseSucceeded
	fail := func(msg string) { r.phase, r.errMsg, r.outputs = phaseFailed, msg, nil }
	switch r.task.name {
	case "echo":
		name, ok := stringOf(r.input("name"))
		times, tok := intOf(r.input("times"))
		if !ok || !tok || !times.IsInt64() || times.Int64() < 0 || times.Int64() > 1000 {
			fail("echo: bad inputs")
			return
		}
		parts := make([]string, times.Int64())
		for i := range parts {
			parts[i] = "hello " + name
		}
		r.outputs = []namedLiteral{{Name: "greeting", Value: stringLiteral(strings.Join(parts, " "))}}
	case "sum":
		a, aok := intOf(r.input("a"))
		b, bok := intOf(r.input("b"))
		if !aok || !bok {
			fail("sum: bad inputs")
			return
		}
		sum := new(big.Int).Add(a, b)
		if !sum.IsInt64() {
			fail("sum: overflow")
			return
		}
		r.outputs = []namedLiteral{{Name: "sum", Value: intLiteral(sum)}}
	case "sleep":
		n, _ := intOf(r.input("seconds"))
		if n == nil {
			n = big.NewInt(0)
		}
		r.outputs = []namedLiteral{{Name: "slept", Value: intLiteral(n)}}
	case "fail":
		fail("boom: the fail task fails on purpose")
	case "types":
		r.outputs = append([]namedLiteral(nil), r.inputs...)
	}
}

func (s *Server) findRun(id *runIDJSON) (*run, error) {
	if id == nil || id.Project == "" || id.Domain == "" || id.Name == "" {
		return nil, errorf(codeInvalidArgument, "invalid request: runId is required")
	}
	r, ok := s.runs[id.Project+"/"+id.Domain+"/"+id.Name]
	if !ok {
		return nil, errorf(codeNotFound, "run not found: %s/%s/%s", id.Project, id.Domain, id.Name)
	}
	return r, nil
}

func (s *Server) getRunDetails(_ *User, body []byte) (any, error) {
	var req struct {
		RunID *runIDJSON `json:"runId"`
	}
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.advance(now)
	r, err := s.findRun(req.RunID)
	if err != nil {
		return nil, err
	}
	action := s.actionDetails(r, req.RunID.Org, now)
	details := map[string]any{"action": action}
	if len(r.labels) > 0 {
		details["runSpec"] = map[string]any{"labels": map[string]any{"values": r.labels}}
	}
	return map[string]any{"details": details}, nil
}

func (s *Server) abortRun(_ *User, body []byte) (any, error) {
	var req struct {
		RunID  *runIDJSON `json:"runId"`
		Reason *string    `json:"reason"`
	}
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.advance(now)
	r, err := s.findRun(req.RunID)
	if err != nil {
		return nil, err
	}
	reason := "User requested abort"
	if req.Reason != nil {
		reason = *req.Reason
	}
	switch r.phase {
	case phaseQueued, phaseRunning:
		r.phase, r.ended, r.abortReason = phaseAborted, now, reason
	case phaseAborted:
		r.abortReason = reason // a second abort answers {} and overwrites the reason
	}
	return map[string]any{}, nil
}

func (s *Server) deprecatedActionData(*User, []byte) (any, error) {
	return nil, errorf(codeUnimplemented, "RunService.GetActionData is deprecated; use DataProxyService.GetActionData instead")
}

func (s *Server) getActionData(_ *User, body []byte) (any, error) {
	var req struct {
		ActionID *struct {
			Run  *runIDJSON `json:"run"`
			Name string     `json:"name"`
		} `json:"actionId"`
	}
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	if req.ActionID == nil {
		return nil, errorf(codeInvalidArgument, "invalid request: actionId is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.now())
	r, err := s.findRun(req.ActionID.Run)
	if err != nil {
		return nil, err
	}
	if req.ActionID.Name != "a0" {
		return nil, errorf(codeNotFound, "action not found")
	}
	inputs := map[string]any{}
	if len(r.inputs) > 0 {
		inputs["literals"] = r.inputs
	}
	// Present, and empty until the run has succeeded, as the action's status (which lags the
	// attempts) says.
	outputs := map[string]any{}
	if r.phase == phaseSucceeded && !s.lagging(r, s.now()) && len(r.outputs) > 0 {
		outputs["literals"] = r.outputs
	}
	return map[string]any{"inputs": inputs, "outputs": outputs}, nil
}

// actionDetails is a run's ActionDetails as GetRunDetails and WatchActionDetails answer it,
// with org echoed as it was sent. Call with s.mu held.
func (s *Server) actionDetails(r *run, org string, now time.Time) map[string]any {
	lagging := s.lagging(r, now)
	action := map[string]any{
		// org is echoed as it was sent.
		"id":       map[string]any{"run": omitEmpty(map[string]any{"org": org, "project": r.project, "domain": r.domain, "name": r.name}), "name": "a0"},
		"metadata": s.actionMetadata(r),
		"status":   s.status(r, now),
	}
	switch {
	case r.phase == phaseAborted:
		action["abortInfo"] = map[string]any{"reason": r.abortReason}
	case r.phase == phaseFailed && !lagging:
		action["errorInfo"] = map[string]any{"message": r.errMsg, "kind": "KIND_USER"}
	}
	if r.phase != phaseQueued && r.phase != phaseAborted {
		attempt := map[string]any{"phase": "ACTION_PHASE_" + r.phase, "startTime": ts(r.started), "attempt": 1}
		if !r.ended.IsZero() {
			attempt["endTime"] = ts(r.ended)
		}
		if r.phase == phaseFailed {
			attempt["errorInfo"] = map[string]any{"message": r.errMsg, "kind": "KIND_USER"}
		}
		action["attempts"] = []any{attempt}
	}
	return action
}
