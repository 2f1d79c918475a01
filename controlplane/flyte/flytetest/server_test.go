package flytetest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
)

const token = "tok"

func start(t *testing.T, opts flytetest.Options) *flytetest.Server {
	opts.Users = map[string]flytetest.User{token: {Subject: "me"}}
	s := flytetest.Start(t, opts)
	s.Deploy(t, token, flytetest.ConformanceTasks("p", "d")...)
	return s
}

// post sends a raw request, as any Connect client would, and returns the status, the
// Content-Type and the body.
func post(t *testing.T, s *flytetest.Server, procedure, contentType, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+procedure, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Content-Type"), strings.TrimSpace(string(b))
}

// TestQuirks: the fake answers as FLYTE-WIRE.md says the real control plane does.
func TestQuirks(t *testing.T) {
	s := start(t, flytetest.Options{Unmounted: []string{"flyteidl2.app.AppService"}})
	const create = "/flyteidl2.workflow.RunService/CreateRun"
	echo := `"taskId":{"project":"p","domain":"d","name":"echo","version":"v1"},"inputs":{"literals":[{"name":"name","value":{"scalar":{"primitive":{"stringValue":"x"}}}}]}`
	cases := []struct {
		name, procedure, contentType, body string
		status                             int
		answer                             string // a fragment of the answer
	}{
		{"unknown field", "/flyteidl2.workflow.RunService/GetRunDetails", "application/json", `{"runID":{}}`, 400, `"code":"invalid_argument"`},
		{"not JSON", "/flyteidl2.workflow.RunService/GetRunDetails", "application/proto", ``, 415, "unsupported content type"},
		{"unmounted service", "/flyteidl2.app.AppService/Get", "application/json", `{}`, 404, "404 page not found"},
		{"no tasks", "/flyteidl2.task.TaskService/ListTasks", "application/json", `{"projectId":{"name":"p","domain":"d"},"request":{"filters":[{"function":"EQUAL","field":"name","values":["nope"]}]}}`, 200, `{"metadata":{}}`},
		{"org and project", "/flyteidl2.task.TaskService/ListTasks", "application/json", `{"org":"o","projectId":{"name":"p","domain":"d"}}`, 400, "invalid_argument"},
		{"unknown version", create, "application/json", `{"projectId":{"name":"p","domain":"d"},"taskId":{"project":"p","domain":"d","name":"echo","version":"v9"}}`, 500, `"code":"unknown"`},
		{"unknown project", create, "application/json", `{"projectId":{"name":"q","domain":"d"},` + echo + `}`, 404, "not_found"},
		{"bad run name", create, "application/json", `{"runId":{"project":"p","domain":"d","name":"Bad_Name"},` + echo + `}`, 400, "invalid run name"},
		{"integer as a number", create, "application/json", `{"projectId":{"name":"p","domain":"d"},"taskId":{"project":"p","domain":"d","name":"sleep","version":"v1"},"inputs":{"literals":[{"name":"seconds","value":{"scalar":{"primitive":{"integer":3}}}}]}}`, 400, "as a string"},
		{"deprecated data", "/flyteidl2.workflow.RunService/GetActionData", "application/json", `{}`, 501, "deprecated"},
		{"abort naming no run", "/flyteidl2.workflow.RunService/AbortRun", "application/json", `{}`, 0, "EOF"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, answer := post(t, s, c.procedure, c.contentType, c.body)
			if status != c.status || !strings.Contains(answer, c.answer) {
				t.Errorf("= %d %s, want %d with %s", status, answer, c.status, c.answer)
			}
		})
	}
}

// TestRunLife: a run's answers along its life, with the quirks of the real one.
func TestRunLife(t *testing.T) {
	s := start(t, flytetest.Options{StatusLag: -1, RunTime: time.Millisecond, QueueDelay: time.Millisecond})
	status, _, answer := post(t, s, "/flyteidl2.workflow.RunService/CreateRun", "application/json",
		`{"runId":{"org":"o","project":"p","domain":"d","name":"r1"},"taskId":{"project":"p","domain":"d","name":"echo","version":"v1"},`+
			`"inputs":{"literals":[{"name":"name","value":{"scalar":{"primitive":{"stringValue":"Ada"}}}}]}}`)
	if status != 200 || strings.Contains(answer, `"org"`) || !strings.Contains(answer, `"phase":"ACTION_PHASE_QUEUED"`) {
		t.Fatalf("CreateRun = %d %s: want queued, ids without org", status, answer)
	}
	details := func() map[string]any {
		_, _, answer := post(t, s, "/flyteidl2.workflow.RunService/GetRunDetails", "application/json", `{"runId":{"org":"sent","project":"p","domain":"d","name":"r1"}}`)
		var m map[string]any
		if err := json.Unmarshal([]byte(answer), &m); err != nil {
			t.Fatal(err)
		}
		return m["details"].(map[string]any)["action"].(map[string]any)
	}
	var a map[string]any
	for deadline := time.Now().Add(10 * time.Second); ; {
		if a = details(); a["attempts"] != nil && a["attempts"].([]any)[0].(map[string]any)["phase"] == "ACTION_PHASE_SUCCEEDED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run never ended: %v", a)
		}
		time.Sleep(time.Millisecond)
	}
	if a["status"].(map[string]any)["phase"] != "ACTION_PHASE_RUNNING" {
		t.Errorf("status %v: with StatusLag forever it stays RUNNING", a["status"])
	}
	if a["id"].(map[string]any)["run"].(map[string]any)["org"] != "sent" {
		t.Errorf("id %v: the org sent is echoed", a["id"])
	}
	_, _, data := post(t, s, "/flyteidl2.dataproxy.DataProxyService/GetActionData", "application/json", `{"actionId":{"run":{"project":"p","domain":"d","name":"r1"},"name":"a0"}}`)
	if !strings.Contains(data, `"outputs":{}`) || !strings.Contains(data, `"name":"times"`) {
		t.Errorf("data %s: outputs {} while the status lags, defaults applied to the inputs", data)
	}
	s.SetStatusLag(0)
	a = details()
	if st := a["status"].(map[string]any); st["phase"] != "ACTION_PHASE_SUCCEEDED" {
		t.Errorf("status %v", st)
	} else if _, isString := st["durationMs"].(string); !isString {
		t.Errorf("durationMs %v: int64 as a string", st["durationMs"])
	}
	_, _, data = post(t, s, "/flyteidl2.dataproxy.DataProxyService/GetActionData", "application/json", `{"actionId":{"run":{"project":"p","domain":"d","name":"r1"},"name":"a0"}}`)
	if !strings.Contains(data, `"stringValue":"hello Ada"`) {
		t.Errorf("data %s: outputs once succeeded", data)
	}
	for range 2 {
		if status, _, answer := post(t, s, "/flyteidl2.workflow.RunService/AbortRun", "application/json", `{"runId":{"project":"p","domain":"d","name":"r1"}}`); status != 200 || answer != "{}" {
			t.Errorf("AbortRun of a finished run = %d %s, want {}", status, answer)
		}
	}
}
