package flyte_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"connectrpc.com/connect"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
)

// The benchmarks put the backend next to a bare Connect call of the same procedure with the
// same body, over the same fake on loopback: the difference is what the backend adds
// (encoding the inputs, the cached task lookup, decoding into its structs, mapping).
//
//	go test -run '^$' -bench . -benchmem -count 5 ./controlplane/flyte/

func benchFake(b *testing.B) (*flytetest.Server, *flyte.Backend) {
	s := flytetest.Start(b, flytetest.Options{Users: users, Quiet: true})
	s.Deploy(b, deployToken, flytetest.ConformanceTasks(project, domain)...)
	be, err := flyte.Open(context.Background(), flyte.Config{Endpoint: s.URL, Project: project, Domain: domain})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = be.Close(context.Background()) })
	return s, be
}

// rawCodec passes bodies through as they are.
type rawCodec struct{}

func (rawCodec) Name() string                  { return "json" }
func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*json.RawMessage), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*v.(*json.RawMessage) = append((*v.(*json.RawMessage))[:0], b...)
	return nil
}

func direct(b *testing.B, url, body string) {
	c := connect.NewClient[json.RawMessage, json.RawMessage](http.DefaultClient, url, connect.WithCodec(rawCodec{}))
	msg := json.RawMessage(body)
	b.ReportAllocs()
	for b.Loop() {
		req := connect.NewRequest(&msg)
		req.Header().Set("Authorization", "Bearer "+callerToken)
		if _, err := c.CallUnary(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

func benchCtx() context.Context {
	return controlplane.WithCredentials(context.Background(), controlplane.Credentials{Authorization: "Bearer " + callerToken})
}

func BenchmarkRunTask(b *testing.B) {
	_, be := benchFake(b)
	ctx := benchCtx()
	req := controlplane.RunTaskRequest{Task: ref("echo", ""), Inputs: map[string]any{"name": "Ada", "times": json.Number("2")}}
	if _, err := be.RunTask(ctx, req); err != nil { // warm the task cache
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := be.RunTask(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDirectCreateRun is the CreateRun that BenchmarkRunTask makes, sent bare.
func BenchmarkDirectCreateRun(b *testing.B) {
	s, _ := benchFake(b)
	direct(b, s.URL+pCreateRun, `{"projectId":{"name":"`+project+`","domain":"`+domain+`"},`+
		`"taskId":{"project":"`+project+`","domain":"`+domain+`","name":"echo","version":"v2"},`+
		`"inputs":{"literals":[{"name":"name","value":{"scalar":{"primitive":{"stringValue":"Ada"}}}},`+
		`{"name":"times","value":{"scalar":{"primitive":{"integer":"2"}}}}]},`+
		`"runSpec":{"labels":{"values":{"flyte-webhook/kind":"task"}}}}`)
}

func benchRun(b *testing.B, be *flyte.Backend) string {
	r, err := be.RunTask(benchCtx(), controlplane.RunTaskRequest{Task: ref("echo", "v1"), Inputs: map[string]any{"name": "Ada"}})
	if err != nil {
		b.Fatal(err)
	}
	return r.Name
}

func BenchmarkGetRun(b *testing.B) {
	_, be := benchFake(b)
	name := benchRun(b, be)
	ctx := benchCtx()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := be.GetRun(ctx, controlplane.RunRef{Name: name}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDirectGetRunDetails is the GetRunDetails that BenchmarkGetRun makes, sent bare.
func BenchmarkDirectGetRunDetails(b *testing.B) {
	s, be := benchFake(b)
	name := benchRun(b, be)
	direct(b, s.URL+pGetRun, `{"runId":{"project":"`+project+`","domain":"`+domain+`","name":"`+name+`"}}`)
}
