package flyte_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
)

// The procedures, as the control plane serves them.
const (
	pUserInfo      = "/flyteidl2.auth.IdentityService/UserInfo"
	pGetTask       = "/flyteidl2.task.TaskService/GetTaskDetails"
	pListTasks     = "/flyteidl2.task.TaskService/ListTasks"
	pCreateRun     = "/flyteidl2.workflow.RunService/CreateRun"
	pGetRun        = "/flyteidl2.workflow.RunService/GetRunDetails"
	pAbortRun      = "/flyteidl2.workflow.RunService/AbortRun"
	pGetActionData = "/flyteidl2.dataproxy.DataProxyService/GetActionData"
	pGetTrigger    = "/flyteidl2.trigger.TriggerService/GetTriggerDetails"
	pUpdateTrigger = "/flyteidl2.trigger.TriggerService/UpdateTriggers"
	pGetApp        = "/flyteidl2.app.AppService/Get"
	pUpdateApp     = "/flyteidl2.app.AppService/Update"
)

func ref(name, version string) controlplane.TaskRef {
	return controlplane.TaskRef{Domain: domain, Project: project, Name: name, Version: version}
}

func procedures(calls []flytetest.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.Procedure
	}
	return out
}

// body decodes a recorded request body.
func body(t *testing.T, c flytetest.Call) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(c.Body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s: body %q: %v", c.Procedure, c.Body, err)
	}
	return m
}

// at walks a decoded JSON value along keys.
func at(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// waitDone polls a run until it is finished (liveness only, with a generous bound).
func waitDone(t *testing.T, b controlplane.Backend, name string) controlplane.Run {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := b.GetRun(callerCtx(t), controlplane.RunRef{Name: name})
		if err != nil {
			t.Fatalf("GetRun %s: %v", name, err)
		}
		if r.Phase.Done() {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s stuck in %s", name, r.Phase)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCredentialsForwarded: every call carries the caller's Authorization and Cookie as they
// came, as JSON over Connect; a caller without credentials sends none.
func TestCredentialsForwarded(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{})
	b := open(t, s, nil)
	creds := controlplane.Credentials{Authorization: "Bearer " + callerToken, Cookie: "theme=dark; flyte_session=" + otherToken}
	ctx := controlplane.WithCredentials(t.Context(), creds)
	s.ResetCalls()
	r, err := b.RunTask(ctx, controlplane.RunTaskRequest{Task: ref("echo", ""), Inputs: map[string]any{"name": "Ada"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetRunIO(ctx, controlplane.RunRef{Name: r.Name}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Me(ctx); err != nil {
		t.Fatal(err)
	}
	calls := s.Calls()
	if len(calls) < 5 {
		t.Fatalf("calls %v", procedures(calls))
	}
	for _, c := range calls {
		if got := c.Header.Get("Authorization"); got != creds.Authorization {
			t.Errorf("%s: Authorization %q", c.Procedure, got)
		}
		if got := c.Header.Get("Cookie"); got != creds.Cookie {
			t.Errorf("%s: Cookie %q", c.Procedure, got)
		}
		if got := c.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("%s: Content-Type %q", c.Procedure, got)
		}
	}

	s.ResetCalls()
	_, err = b.Me(t.Context())
	if controlplane.CodeOf(err) != controlplane.CodeUnauthenticated {
		t.Fatalf("Me without credentials: %v", err)
	}
	for _, c := range s.Calls() {
		if c.Header.Get("Authorization") != "" || c.Header.Get("Cookie") != "" {
			t.Errorf("%s carries credentials nobody gave", c.Procedure)
		}
	}
}

// TestWarmRunTaskIsOneCall: a task looked up within cache_ttl costs nothing more, so a run is
// one CreateRun; with an Idempotency-Key, once the caller is known too.
func TestWarmRunTaskIsOneCall(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{})
	b := open(t, s, func(c *flyte.Config) { c.CacheTTL = time.Hour })
	ctx := callerCtx(t)
	s.ResetCalls()
	if _, err := b.RunTask(ctx, controlplane.RunTaskRequest{Task: ref("echo", ""), Inputs: map[string]any{"name": "Ada"}, IdempotencyKey: "k1"}); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(procedures(s.Calls()), " "), strings.Join([]string{pListTasks, pGetTask, pUserInfo, pCreateRun}, " "); got != want {
		t.Errorf("cold keyed RunTask called %s, want %s", got, want)
	}
	for _, key := range []string{"", "k2"} {
		s.ResetCalls()
		if _, err := b.RunTask(ctx, controlplane.RunTaskRequest{Task: ref("echo", ""), Inputs: map[string]any{"name": "Bo"}, IdempotencyKey: key}); err != nil {
			t.Fatal(err)
		}
		if got := procedures(s.Calls()); len(got) != 1 || got[0] != pCreateRun {
			t.Errorf("warm RunTask (key %q) called %v, want one CreateRun", key, got)
		}
	}
	// Another caller is not served from the first caller's lookups.
	s.ResetCalls()
	other := controlplane.WithCredentials(t.Context(), controlplane.Credentials{Authorization: "Bearer " + otherToken})
	if _, err := b.GetTask(other, ref("echo", "")); err != nil {
		t.Fatal(err)
	}
	if got := procedures(s.Calls()); len(got) != 2 {
		t.Errorf("another caller's GetTask called %v, want ListTasks and GetTaskDetails", got)
	}
}

// TestRequestShapes: the bodies sent are the ones the control plane expects.
func TestRequestShapes(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{})
	b := open(t, s, func(c *flyte.Config) { c.Org = "acme" })
	ctx := callerCtx(t)
	s.ResetCalls()
	r, err := b.RunTask(ctx, controlplane.RunTaskRequest{Task: ref("sum", ""), Inputs: map[string]any{"a": json.Number("9007199254740993"), "b": 2}})
	if err != nil {
		t.Fatal(err)
	}
	list := body(t, s.CallsTo(pListTasks)[0])
	if list["org"] != nil || at(list, "projectId", "name") != project || at(list, "projectId", "domain") != domain || at(list, "projectId", "organization") != "acme" {
		t.Errorf("ListTasks scope: %v", list)
	}
	req := at(list, "request").(map[string]any)
	if at(req, "sortBy", "key") != "created_at" || at(req, "sortBy", "direction") != "DESCENDING" || req["limit"] != json.Number("1") {
		t.Errorf("ListTasks request: %v", req)
	}
	filters, _ := req["filters"].([]any)
	if len(filters) != 1 || at(filters[0], "function") != "EQUAL" || at(filters[0], "field") != "name" || at(filters[0], "values").([]any)[0] != "sum" {
		t.Errorf("ListTasks filters: %v", filters)
	}
	create := body(t, s.CallsTo(pCreateRun)[0])
	if create["runId"] != nil || at(create, "projectId", "name") != project || at(create, "projectId", "domain") != domain {
		t.Errorf("CreateRun without a key names no run: %v", create)
	}
	if at(create, "taskId", "version") != "v1" || at(create, "taskId", "name") != "sum" || at(create, "taskId", "org") != "acme" {
		t.Errorf("CreateRun taskId: %v", create["taskId"])
	}
	lits := at(create, "inputs", "literals").([]any)
	if len(lits) != 2 || at(lits[0], "name") != "a" || at(lits[0], "value", "scalar", "primitive", "integer") != "9007199254740993" ||
		at(lits[1], "value", "scalar", "primitive", "integer") != "2" {
		t.Errorf("CreateRun inputs: integers are strings, exact: %v", lits)
	}
	if at(create, "runSpec", "labels", "values", "flyte-webhook/kind") != "task" {
		t.Errorf("CreateRun labels: %v", create["runSpec"])
	}

	// A key names the run, and the request's fingerprint rides in the labels.
	s.ResetCalls()
	keyed, err := b.RunTask(ctx, controlplane.RunTaskRequest{Task: ref("sum", ""), Inputs: map[string]any{"a": 1, "b": 2}, IdempotencyKey: "deploy-1"})
	if err != nil {
		t.Fatal(err)
	}
	create = body(t, s.CallsTo(pCreateRun)[0])
	if create["projectId"] != nil || at(create, "runId", "name") != keyed.Name || at(create, "runId", "project") != project || at(create, "runId", "org") != "acme" {
		t.Errorf("CreateRun with a key: %v", create["runId"])
	}
	if fp, _ := at(create, "runSpec", "labels", "values", "flyte-webhook/request").(string); len(fp) < 40 || len(fp) > 63 {
		t.Errorf("fingerprint label %q: want a valid label value", fp)
	}
	if len(keyed.Name) > 30 || !strings.HasPrefix(keyed.Name, "w") {
		t.Errorf("keyed run name %q", keyed.Name)
	}

	// Reads name the run where it is, and action a0 for its data.
	s.ResetCalls()
	if _, err := b.GetRunIO(ctx, controlplane.RunRef{Name: r.Name}); err != nil {
		t.Fatal(err)
	}
	data := body(t, s.CallsTo(pGetActionData)[0])
	if at(data, "actionId", "name") != "a0" || at(data, "actionId", "run", "name") != r.Name || at(data, "actionId", "run", "project") != project {
		t.Errorf("GetActionData: %v", data)
	}
	details := body(t, s.CallsTo(pGetRun)[0])
	if at(details, "runId", "name") != r.Name || at(details, "runId", "domain") != domain {
		t.Errorf("GetRunDetails: %v", details)
	}
}

// TestAbortRunAlwaysNamesTheRun: AbortRun is sent only for a run that exists and is not
// finished, and always with its runId (the control plane drops the connection otherwise).
func TestAbortRunAlwaysNamesTheRun(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{})
	b := open(t, s, nil)
	ctx := callerCtx(t)
	_, err := b.AbortRun(ctx, controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: "rnosuchrun"}, Reason: "x"})
	if controlplane.CodeOf(err) != controlplane.CodeNotFound {
		t.Fatalf("unknown run: %v", err)
	}
	for _, bad := range []string{"", "Not-A-Name", strings.Repeat("a", 31), "a/b"} {
		if _, err := b.AbortRun(ctx, controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: bad}}); controlplane.CodeOf(err) != controlplane.CodeNotFound {
			t.Errorf("AbortRun %q: %v, want not found", bad, err)
		}
	}
	done, err := b.RunTask(ctx, controlplane.RunTaskRequest{Task: ref("echo", "v1"), Inputs: map[string]any{"name": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, b, done.Name)
	if _, err := b.AbortRun(ctx, controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: done.Name}}); controlplane.CodeOf(err) != controlplane.CodeConflict {
		t.Fatalf("finished run: %v, want conflict", err)
	}
	if n := len(s.CallsTo(pAbortRun)); n != 0 {
		t.Fatalf("%d AbortRun calls for runs that cannot be aborted", n)
	}
	long, err := b.RunTask(ctx, controlplane.RunTaskRequest{Task: ref("sleep", ""), Inputs: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	aborted, err := b.AbortRun(ctx, controlplane.AbortRunRequest{Run: controlplane.RunRef{Name: long.Name}, Reason: "enough"})
	if err != nil || aborted.Phase != controlplane.PhaseAborted {
		t.Fatalf("abort: %+v %v", aborted.Phase, err)
	}
	calls := s.CallsTo(pAbortRun)
	if len(calls) != 1 {
		t.Fatalf("%d AbortRun calls, want 1", len(calls))
	}
	m := body(t, calls[0])
	if at(m, "runId", "name") != long.Name || at(m, "runId", "project") != project || at(m, "reason") != "enough" {
		t.Errorf("AbortRun body %v", m)
	}
}

// TestPhaseFromLastAttempt: the action's status can lag its last attempt; the run is done
// as soon as the attempt says so, and its outputs come once the status has caught up.
func TestPhaseFromLastAttempt(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{StatusLag: -1})
	b := open(t, s, func(c *flyte.Config) { c.Timeout = 2 * time.Second })
	ctx := callerCtx(t)
	r, err := b.RunTask(ctx, controlplane.RunTaskRequest{Task: ref("echo", ""), Inputs: map[string]any{"name": "Ada"}})
	if err != nil {
		t.Fatal(err)
	}
	final := waitDone(t, b, r.Name)
	if final.Phase != controlplane.PhaseSucceeded || final.EndedAt.IsZero() || final.Attempts != 1 {
		t.Fatalf("run %+v: want succeeded from its last attempt, with an end", final)
	}
	raw := body(t, flytetest.Call{Procedure: "answer", Body: getRunAnswer(t, s, r.Name)})
	if got := at(raw, "details", "action", "status", "phase"); got != "ACTION_PHASE_RUNNING" {
		t.Fatalf("the fake's status says %v: this test needs it to lag", got)
	}
	// The outputs follow the status: GetRunIO reads again until they come.
	s.ResetCalls()
	go func() {
		deadline := time.Now().Add(10 * time.Second)
		for len(s.CallsTo(pGetActionData)) < 2 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		s.SetStatusLag(0)
	}()
	io, err := b.GetRunIO(ctx, controlplane.RunRef{Name: r.Name})
	if err != nil {
		t.Fatal(err)
	}
	if io.Outputs["greeting"] != "hello Ada" || io.Run.Phase != controlplane.PhaseSucceeded {
		t.Errorf("io %+v", io)
	}
	if n := len(s.CallsTo(pGetActionData)); n < 2 {
		t.Errorf("GetActionData called %d times, want it read again while the status lagged", n)
	}
}

// TestOutputsNeverCatchUp: when the status never catches up within the call timeout, the run
// is answered as its status says, without outputs.
func TestOutputsNeverCatchUp(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{StatusLag: -1})
	b := open(t, s, func(c *flyte.Config) { c.Timeout = time.Second })
	ctx := callerCtx(t)
	r, err := b.RunTask(ctx, controlplane.RunTaskRequest{Task: ref("echo", ""), Inputs: map[string]any{"name": "Ada"}})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, b, r.Name)
	io, err := b.GetRunIO(ctx, controlplane.RunRef{Name: r.Name})
	if err != nil {
		t.Fatal(err)
	}
	if io.Outputs != nil || io.Run.Phase != controlplane.PhaseRunning || io.Inputs["name"] != "Ada" {
		t.Errorf("io %+v: want running, inputs, no outputs", io)
	}
}

// getRunAnswer asks the fake directly, as a client would.
func getRunAnswer(t *testing.T, s *flytetest.Server, name string) []byte {
	t.Helper()
	return directCall(t, s.URL+pGetRun, `{"runId":{"project":"`+project+`","domain":"`+domain+`","name":"`+name+`"}}`)
}

// TestOutputsReadAfterTheStatus: the run and its data are read at once; data read just before
// the status turned to succeeded has no outputs yet, so it is read once more, after.
func TestOutputsReadAfterTheStatus(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{StatusLag: -1})
	b := open(t, s, nil)
	ctx := callerCtx(t)
	r, err := b.RunTask(ctx, controlplane.RunTaskRequest{Task: ref("echo", ""), Inputs: map[string]any{"name": "Ada"}})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, b, r.Name)
	s.SetStatusLag(0)
	// The first data read answers as it would have a moment before the status turned.
	s.Inject(pGetActionData, func(w http.ResponseWriter, _ *http.Request) {
		s.Inject(pGetActionData, nil)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"inputs":{"literals":[{"name":"name","value":{"scalar":{"primitive":{"stringValue":"Ada"}}}}]},"outputs":{}}`))
	})
	s.ResetCalls()
	io, err := b.GetRunIO(ctx, controlplane.RunRef{Name: r.Name})
	if err != nil {
		t.Fatal(err)
	}
	if io.Outputs["greeting"] != "hello Ada" {
		t.Errorf("outputs %v, want them read again after the status", io.Outputs)
	}
	if n := len(s.CallsTo(pGetActionData)); n != 2 {
		t.Errorf("%d data reads, want 2", n)
	}
}

// TestRunSearch: a run named alone is looked for in the default project and domain, then in
// run_scopes, then where the prefetch and build tasks are; a place after the first that the
// caller may not read counts as not having the run.
func TestRunSearch(t *testing.T) {
	t.Parallel()
	s := startFake(t, flytetest.Options{Projects: []string{"other/test"}})
	s.Deploy(t, deployToken, flytetest.Task("other", domain, "echo", "v1",
		[]any{map[string]any{"key": "name", "value": map[string]any{"type": map[string]any{"simple": "STRING"}}}}, nil, nil, nil))
	b := open(t, s, func(c *flyte.Config) { c.RunScopes = []flyte.Scope{{Project: "other", Domain: domain}} })
	ctx := callerCtx(t)
	r, err := b.RunTask(ctx, controlplane.RunTaskRequest{Task: controlplane.TaskRef{Project: "other", Domain: domain, Name: "echo", Version: "v1"}, Inputs: map[string]any{"name": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	s.ResetCalls()
	got, err := b.GetRun(ctx, controlplane.RunRef{Name: r.Name})
	if err != nil || got.Task.Project != "other" || !strings.HasSuffix(got.URL, "/run/"+r.Name) {
		t.Fatalf("GetRun in run_scopes: %+v %v", got, err)
	}
	var searched []string
	for _, c := range s.CallsTo(pGetRun) {
		searched = append(searched, at(body(t, c), "runId", "project").(string))
	}
	if strings.Join(searched, ",") != project+",other" {
		t.Errorf("searched %v", searched)
	}

	s.ResetCalls()
	_, err = b.GetRun(ctx, controlplane.RunRef{Name: "rmissing"})
	if controlplane.CodeOf(err) != controlplane.CodeNotFound || len(s.CallsTo(pGetRun)) != 3 {
		t.Errorf("missing run: %v after %d lookups, want not found after default, other, system", err, len(s.CallsTo(pGetRun)))
	}
	deny := func(project string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var m map[string]any
			_ = json.NewDecoder(r.Body).Decode(&m)
			if at(m, "runId", "project") == project {
				flytetest.WriteConnectError(w, 403, "permission_denied", "not yours")
				return
			}
			flytetest.WriteConnectError(w, 404, "not_found", "no such run")
		}
	}
	s.Inject(pGetRun, deny("system"))
	if _, err := b.GetRun(ctx, controlplane.RunRef{Name: "rmissing"}); controlplane.CodeOf(err) != controlplane.CodeNotFound {
		t.Errorf("denied in a later place: %v, want not found", err)
	}
	s.Inject(pGetRun, deny(project))
	if _, err := b.GetRun(ctx, controlplane.RunRef{Name: "rmissing"}); controlplane.CodeOf(err) != controlplane.CodePermissionDenied {
		t.Errorf("denied in the default place: %v, want permission denied", err)
	}
}
