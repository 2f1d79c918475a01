package flyte

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// The run labels this backend sets (runSpec.labels, which Flyte also puts on the run's pods:
// keys and values are valid Kubernetes labels).
const (
	// labelKind says what started the run: task, prefetch or image_build.
	labelKind = "flyte-webhook/kind"
	// labelRequest is the fingerprint of a request with an Idempotency-Key: the task as asked
	// for and the inputs with defaults applied.
	labelRequest = "flyte-webhook/request"
)

// rootAction is the name of a run's root action.
const rootAction = "a0"

// runNamePattern is what Flyte accepts as a run name (at most 30 characters).
var runNamePattern = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// runNameFor derives the run name of an Idempotency-Key: the same caller and key give the
// same name, so CreateRun returns the run created first. "w" and 24 characters of base32 (120
// bits of a SHA-256), always a valid run name.
func runNameFor(subject, key string) string {
	sum := sha256.Sum256([]byte("flyte-webhook/idempotency\x00" + subject + "\x00" + key))
	return "w" + strings.ToLower(b32.EncodeToString(sum[:]))[:24]
}

// startRequest is a run to start: of a task (RunTask), a build or a prefetch.
type startRequest struct {
	asked  controlplane.TaskRef // as the caller named it (Version "" for the latest)
	inputs map[string]any
	key    string
	kind   controlplane.Kind
	labels map[string]string // the caller's (checked), kept on the run (see userLabels)
}

// fingerprint identifies a request with an Idempotency-Key: the task as asked for, the kind,
// and the inputs with defaults applied, as canonical JSON.
func fingerprint(sr startRequest, values map[string]any) string {
	js, _ := json.Marshal(values) // map keys sorted; json.Number kept as written
	parts := []string{string(sr.kind), sr.asked.Domain, sr.asked.Project, sr.asked.Name, sr.asked.Version, string(js)}
	if len(sr.labels) > 0 { // requests without labels keep the fingerprints they had before labels
		lj, _ := json.Marshal(sr.labels)
		parts = append(parts, "labels", string(lj))
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return strings.ToLower(b32.EncodeToString(sum[:])) // 52 characters
}

// startRun encodes the inputs and creates the run in the task's project and domain. With an
// Idempotency-Key the run's name is derived from the caller's subject and the key, and
// CreateRun returns the existing run for an existing name: when it was made for another
// request (its fingerprint label differs), the answer is CodeConflict.
func (b *Backend) startRun(ctx context.Context, t *task, sr startRequest) (controlplane.Run, error) {
	lits, values, err := bindInputs(t, sr.inputs)
	if err != nil {
		return controlplane.Run{}, err
	}
	lbl := map[string]string{labelKind: string(sr.kind)}
	for k, v := range sr.labels {
		lbl[userLabelPrefix+k] = v
	}
	req := createRunRequest{TaskID: t.id, Inputs: inputs{Literals: lits}, RunSpec: runSpec{Labels: &labels{Values: lbl}}}
	var fp string
	if sr.key != "" {
		id, err := b.identity(ctx, true)
		if err != nil {
			return controlplane.Run{}, err
		}
		fp = fingerprint(sr, values)
		lbl[labelRequest] = fp
		req.RunID = &runID{Org: b.cfg.Org, Project: t.id.Project, Domain: t.id.Domain, Name: runNameFor(id.Subject, sr.key)}
	} else {
		req.ProjectID = &projectID{Organization: b.cfg.Org, Name: t.id.Project, Domain: t.id.Domain}
	}
	started := time.Now()
	res, err := call(ctx, b, b.p.createRun, &req)
	if err != nil {
		if sr.key != "" && controlplane.CodeOf(err) == controlplane.CodeConflict {
			// A concurrent request with the same key created the run first.
			return b.replayed(ctx, *req.RunID, sr, fp)
		}
		return controlplane.Run{}, notFound(err, "project %s or domain %s not found", t.id.Project, t.id.Domain)
	}
	a := &res.Run.Action
	run := b.newRun(a, sr.kind, t.view.Ref)
	run.Labels = sr.labels
	if sr.key == "" {
		return run, nil
	}
	switch {
	case res.Run.Labels != nil:
		// The answer carries the run's labels (newer control planes): no second call.
		if res.Run.Labels[labelRequest] != fp {
			return controlplane.Run{}, conflict(sr.key)
		}
	case a.Status.StartTime == nil || a.Status.StartTime.Before(started.Add(b.cfg.ClockSkew)):
		// Created before this call started: a replay, whose labels say which request made it.
		return b.replayed(ctx, *req.RunID, sr, fp)
	}
	return run, nil
}

// replayed reads the run an Idempotency-Key named and returns it when the same request made
// it, CodeConflict otherwise.
func (b *Backend) replayed(ctx context.Context, rid runID, sr startRequest, fp string) (controlplane.Run, error) {
	res, err := call(ctx, b, b.p.getRun, &getRunDetailsRequest{RunID: rid})
	if err != nil {
		return controlplane.Run{}, err
	}
	if res.Details.RunSpec.Labels.Values[labelRequest] != fp {
		return controlplane.Run{}, conflict(sr.key)
	}
	return b.runFromDetails(res, rid), nil
}

func conflict(key string) error {
	return controlplane.Errorf(controlplane.CodeConflict,
		"Idempotency-Key %q was used for another task or other inputs (it lasts as long as its run)", key)
}

// newRun is the run CreateRun answered with.
func (b *Backend) newRun(a *action, kind controlplane.Kind, ref controlplane.TaskRef) controlplane.Run {
	project, domain := a.ID.Run.Project, a.ID.Run.Domain
	if project == "" || domain == "" {
		project, domain = ref.Project, ref.Domain
	}
	r := controlplane.Run{
		Name: a.ID.Run.Name, Kind: kind, Task: ref, Phase: phaseOf(a.Status.Phase),
		URL: b.runURL(project, domain, a.ID.Run.Name),
	}
	if a.Status.StartTime != nil {
		r.CreatedAt = *a.Status.StartTime
	} else {
		r.CreatedAt = time.Now()
	}
	if a.Status.EndTime != nil {
		r.EndedAt = *a.Status.EndTime
	}
	r.Caller, r.Trigger = a.Metadata.ExecutedBy.subject(), a.Metadata.TriggerName
	return r
}

// runFromDetails maps GetRunDetails. The end state is read from the last attempt when the
// action's status has not caught up yet (its phase can still be RUNNING while the last
// attempt says SUCCEEDED).
func (b *Backend) runFromDetails(res *getRunDetailsResponse, rid runID) controlplane.Run {
	d := &res.Details
	a := &d.Action
	name := a.ID.Run.Name
	if name == "" {
		name = rid.Name
	}
	r := controlplane.Run{Name: name, Kind: controlplane.KindTask, URL: b.runURL(rid.Project, rid.Domain, name), Attempts: len(a.Attempts)}
	if m := a.Metadata.Task; m != nil {
		r.Task = controlplane.TaskRef{Domain: m.ID.Domain, Project: m.ID.Project, Name: m.ID.Name, Version: m.ID.Version}
	}
	r.Kind = b.kindOf(d.RunSpec.Labels.Values[labelKind], r.Task)
	r.Labels = userLabels(d.RunSpec.Labels.Values)
	r.Caller, r.Trigger = a.Metadata.ExecutedBy.subject(), a.Metadata.TriggerName
	phase := a.Status.Phase
	var last *actionAttempt
	if n := len(a.Attempts); n > 0 {
		last = &a.Attempts[n-1]
		if terminal(last.Phase) && !terminal(phase) {
			phase = last.Phase
		}
	}
	r.Phase = phaseOf(phase)
	switch {
	case a.Status.StartTime != nil:
		r.CreatedAt = *a.Status.StartTime
	case d.RunSpec.RunStartTime != nil:
		r.CreatedAt = *d.RunSpec.RunStartTime
	}
	if len(a.Attempts) > 0 && a.Attempts[0].StartTime != nil {
		r.StartedAt = *a.Attempts[0].StartTime
		if r.CreatedAt.IsZero() {
			r.CreatedAt = r.StartedAt
		}
	}
	if r.Phase.Done() {
		switch {
		case a.Status.EndTime != nil:
			r.EndedAt = *a.Status.EndTime
		case last != nil && last.EndTime != nil:
			r.EndedAt = *last.EndTime
		}
	}
	if r.Phase == controlplane.PhaseFailed || r.Phase == controlplane.PhaseTimedOut {
		switch {
		case a.ErrorInfo != nil && a.ErrorInfo.Message != "":
			r.Error = a.ErrorInfo.Message
		case last != nil && last.ErrorInfo != nil:
			r.Error = last.ErrorInfo.Message
		}
	}
	return r
}

// kindOf tells what started a run: the label this backend sets, else whether its task is the
// configured build or prefetch task.
func (b *Backend) kindOf(label string, t controlplane.TaskRef) controlplane.Kind {
	switch k := controlplane.Kind(label); k {
	case controlplane.KindTask, controlplane.KindPrefetch, controlplane.KindImageBuild:
		return k
	}
	is := func(n TaskName) bool { return t.Project == n.Project && t.Domain == n.Domain && t.Name == n.Name }
	switch {
	case is(b.cfg.PrefetchTask):
		return controlplane.KindPrefetch
	case is(b.cfg.BuildImageTask):
		return controlplane.KindImageBuild
	}
	return controlplane.KindTask
}

// phaseOf maps ACTION_PHASE_X to the API's lower-case x; an unspecified phase is queued.
func phaseOf(p string) controlplane.Phase {
	name := strings.ToLower(strings.TrimPrefix(p, "ACTION_PHASE_"))
	if name == "" || name == "unspecified" {
		return controlplane.PhaseQueued
	}
	return controlplane.Phase(name)
}

func terminal(p string) bool { return phaseOf(p).Done() }

// GetRun reads a run (GetRunDetails).
func (b *Backend) GetRun(ctx context.Context, ref controlplane.RunRef) (controlplane.Run, error) {
	leave, err := b.enter()
	if err != nil {
		return controlplane.Run{}, err
	}
	defer leave()
	res, rid, err := b.findRun(ctx, ref)
	if err != nil {
		return controlplane.Run{}, err
	}
	return b.runFromDetails(res, rid), nil
}

// scopes lists where a run is looked up: its own project and domain when the ref has them,
// else the configured ones, then run_scopes, then those of the prefetch and build tasks (so
// their runs are found by name too).
func (b *Backend) scopes(ref controlplane.RunRef) []Scope {
	if ref.Project != "" || ref.Domain != "" {
		p, d := b.scope(ref.Project, ref.Domain)
		return []Scope{{Project: p, Domain: d}}
	}
	return b.searched
}

func searchOrder(cfg Config) []Scope {
	out := []Scope{{Project: cfg.Project, Domain: cfg.Domain}}
	add := func(s Scope) {
		for _, have := range out {
			if have == s {
				return
			}
		}
		out = append(out, s)
	}
	for _, s := range cfg.RunScopes {
		add(s)
	}
	add(Scope{Project: cfg.PrefetchTask.Project, Domain: cfg.PrefetchTask.Domain})
	add(Scope{Project: cfg.BuildImageTask.Project, Domain: cfg.BuildImageTask.Domain})
	return out
}

// findRun reads a run in the first scope that has it.
func (b *Backend) findRun(ctx context.Context, ref controlplane.RunRef) (*getRunDetailsResponse, runID, error) {
	if len(ref.Name) > 30 || !runNamePattern.MatchString(ref.Name) {
		// Not a run name: ask no one (the control plane would answer invalid_argument).
		return nil, runID{}, controlplane.Errorf(controlplane.CodeNotFound, "run %q not found", ref.Name)
	}
	for i, s := range b.scopes(ref) {
		rid := runID{Org: b.cfg.Org, Project: s.Project, Domain: s.Domain, Name: ref.Name}
		res, err := call(ctx, b, b.p.getRun, &getRunDetailsRequest{RunID: rid})
		switch code := controlplane.CodeOf(err); {
		case code == controlplane.CodeNotFound:
			continue
		case code == controlplane.CodePermissionDenied && i > 0:
			// A place searched after the first that the caller may not read: not there for
			// them (a 403 would say more than a 404 about a run they asked for by name).
			continue
		}
		if err != nil {
			return nil, runID{}, err
		}
		return res, rid, nil
	}
	return nil, runID{}, controlplane.Errorf(controlplane.CodeNotFound, "run %q not found", ref.Name)
}

// GetRunIO reads a run and its inputs and outputs (DataProxyService/GetActionData). Outputs
// are given only for a succeeded run: the control plane answers "outputs": {} before. Its
// data follows the action's status, which can lag the last attempt: when the attempt has
// succeeded but the status not yet, the run is read again (for at most the call timeout)
// until the outputs are there; when they never come, the run is answered as its status
// says, without outputs.
func (b *Backend) GetRunIO(ctx context.Context, ref controlplane.RunRef) (controlplane.RunIO, error) {
	leave, err := b.enter()
	if err != nil {
		return controlplane.RunIO{}, err
	}
	defer leave()
	deadline := time.Now().Add(b.cfg.Timeout)
	wait := 20 * time.Millisecond
	for {
		res, rid, data, err := b.readIO(ctx, ref)
		if err != nil {
			return controlplane.RunIO{}, err
		}
		io := controlplane.RunIO{Run: b.runFromDetails(res, rid)}
		var outs []namedLiteral
		if data.Outputs != nil {
			outs = data.Outputs.Literals
		}
		lagging := io.Run.Phase == controlplane.PhaseSucceeded && !terminal(res.Details.Action.Status.Phase)
		if io.Run.Phase == controlplane.PhaseSucceeded && !lagging && len(outs) == 0 {
			// The data was read alongside the run, so maybe just before its status turned:
			// read it once more, now after (a task without outputs costs this call).
			if data, err = b.actionData(ctx, rid); err != nil {
				return controlplane.RunIO{}, err
			}
			if outs = nil; data.Outputs != nil {
				outs = data.Outputs.Literals
			}
		}
		if lagging && len(outs) == 0 {
			if time.Now().Add(wait).Before(deadline) {
				select {
				case <-ctx.Done():
					return controlplane.RunIO{}, ctx.Err()
				case <-time.After(wait):
				}
				wait = min(2*wait, 500*time.Millisecond)
				continue
			}
			io.Run.Phase, io.Run.EndedAt = phaseOf(res.Details.Action.Status.Phase), time.Time{}
		}
		if data.Inputs != nil {
			if io.Inputs, err = decodeNamed(data.Inputs.Literals); err != nil {
				return controlplane.RunIO{}, controlplane.Wrap(controlplane.CodeBadGateway, err, "an input of run "+ref.Name+" cannot be read")
			}
		}
		if io.Run.Phase == controlplane.PhaseSucceeded {
			if io.Outputs, err = decodeNamed(outs); err != nil {
				return controlplane.RunIO{}, controlplane.Wrap(controlplane.CodeBadGateway, err, "an output of run "+ref.Name+" cannot be read")
			}
		}
		return io, nil
	}
}

// readIO reads a run and its data. The data is asked for at once in the first place the run
// is looked for (where runs usually are), and again where the run was found if elsewhere.
func (b *Backend) readIO(ctx context.Context, ref controlplane.RunRef) (*getRunDetailsResponse, runID, *getActionDataResponse, error) {
	var (
		data *getActionDataResponse
		dErr error
		wg   sync.WaitGroup
	)
	first := b.scopes(ref)[0]
	guess := runID{Org: b.cfg.Org, Project: first.Project, Domain: first.Domain, Name: ref.Name}
	if runNamePattern.MatchString(ref.Name) && len(ref.Name) <= 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data, dErr = call(ctx, b, b.p.getActionData, &getActionDataRequest{ActionID: actionID{Run: guess, Name: rootAction}})
		}()
	}
	res, rid, err := b.findRun(ctx, ref)
	wg.Wait()
	if err != nil {
		return nil, runID{}, nil, err
	}
	if rid != guess {
		data, dErr = b.actionData(ctx, rid)
	} else if dErr != nil {
		dErr = notFound(dErr, "the inputs of run %q are not found", ref.Name)
	}
	if dErr != nil {
		return nil, runID{}, nil, dErr
	}
	return res, rid, data, nil
}

// actionData reads the inputs and outputs of a run's root action.
func (b *Backend) actionData(ctx context.Context, rid runID) (*getActionDataResponse, error) {
	data, err := call(ctx, b, b.p.getActionData, &getActionDataRequest{ActionID: actionID{Run: rid, Name: rootAction}})
	if err != nil {
		return nil, notFound(err, "the inputs of run %q are not found", rid.Name)
	}
	return data, nil
}

func decodeNamed(lits []namedLiteral) (map[string]any, error) {
	out := make(map[string]any, len(lits))
	for _, l := range lits {
		v, err := decodeLiteral(l.Value)
		if err != nil {
			return nil, err
		}
		out[l.Name] = v
	}
	return out, nil
}

// AbortRun checks the run exists and is not finished, asks for the abort (always naming the
// run: the control plane drops the connection on an AbortRun without one), and returns the
// run as it is right after.
func (b *Backend) AbortRun(ctx context.Context, req controlplane.AbortRunRequest) (controlplane.Run, error) {
	leave, err := b.enter()
	if err != nil {
		return controlplane.Run{}, err
	}
	defer leave()
	res, rid, err := b.findRun(ctx, req.Run)
	if err != nil {
		return controlplane.Run{}, err
	}
	run := b.runFromDetails(res, rid)
	if run.Phase.Done() {
		return controlplane.Run{}, controlplane.Errorf(controlplane.CodeConflict, "run %q has already finished (%s)", run.Name, run.Phase)
	}
	if _, err := call(ctx, b, b.p.abortRun, &abortRunRequest{RunID: rid, Reason: req.Reason}); err != nil {
		return controlplane.Run{}, notFound(err, "run %q not found", req.Run.Name)
	}
	after, err := call(ctx, b, b.p.getRun, &getRunDetailsRequest{RunID: rid})
	if err != nil {
		// The abort was accepted; only the second look failed.
		b.log.WarnContext(ctx, "cannot read a run after aborting it", "run", rid.Name, "error", err.Error())
		return run, nil
	}
	return b.runFromDetails(after, rid), nil
}
