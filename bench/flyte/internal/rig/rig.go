// Package rig is what the flyte backend's load programs share: the in-test Flyte 2 control
// plane (flytetest) with the conformance fixtures, the webhook in front of it (the handler
// in-process, or the real binary as a subprocess), a client that calls the webhook and, beside
// it, the control plane directly with the same Connect procedures, and latency statistics.
package rig

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/gin-gonic/gin"

	"github.com/flyte-webhook/flyte-webhook/bench/internal/proc"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// Where the fixtures live, and the bearer tokens the control plane knows.
const (
	Project     = "flytesnacks"
	Domain      = "development"
	Token       = "tok-bench"
	deployToken = "tok-bench-deployer"
)

// The procedures the load programs call directly.
const (
	ProcCreateRun = "/flyteidl2.workflow.RunService/CreateRun"
	ProcGetRun    = "/flyteidl2.workflow.RunService/GetRunDetails"
)

// StartFake starts the control plane on loopback, adding delay to every call, with the
// conformance fixtures deployed. It records no calls (they would pile up) but counts them.
func StartFake(delay time.Duration) (*flytetest.Server, error) {
	s := flytetest.New(flytetest.Options{
		Users: map[string]flytetest.User{
			Token:       {Subject: "bench", Name: "Bench"},
			deployToken: {Subject: "deployer"},
		},
		Quiet:     true,
		CallDelay: delay,
	})
	if err := s.DeployTasks(deployToken, flytetest.ConformanceTasks(Project, Domain)...); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// InProcess serves the webhook's whole handler (impl.NewHandler over flyte.Open, every
// operation, no allowlists) on a loopback listener and returns its URL and how to stop it.
func InProcess(ctx context.Context, fakeURL string) (string, func(), error) {
	gin.SetMode(gin.ReleaseMode)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	base := "http://" + ln.Addr().String()
	b, err := flyte.Open(ctx, flyte.Config{Endpoint: fakeURL, Project: Project, Domain: Domain, Name: "bench", BaseURL: base})
	if err != nil {
		ln.Close()
		return "", nil, err
	}
	h, err := impl.NewHandler(impl.Config{Name: "bench", Logger: slog.New(slog.DiscardHandler)}, b)
	if err != nil {
		ln.Close()
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return base, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = b.Close(ctx)
	}, nil
}

// Process is the webhook binary, running.
type Process = proc.Process

// StartBinary starts bin with backend.type flyte pointing at fakeURL (log_level warn: no
// access line per request, as bench/load.sh runs the local backend), writing its config in
// dir and its logs to logs, and waits until /health answers.
func StartBinary(bin, dir, fakeURL string, logs io.Writer) (*Process, error) {
	cfg := fmt.Sprintf(`log_level: warn
backend:
  type: flyte
  flyte:
    endpoint: %s
    project: %s
    domain: %s
`, fakeURL, Project, Domain)
	f, err := os.CreateTemp(dir, "config-*.yaml")
	if err != nil {
		return nil, err
	}
	_, err = f.WriteString(cfg)
	if err := errors.Join(err, f.Close()); err != nil {
		return nil, err
	}
	return proc.Start(bin, f.Name(), nil, logs, 20*time.Second)
}

// SelfCPU is CPU for this process (the control plane and the load generator).
func SelfCPU() time.Duration { return proc.CPU("self") }

// Machine is a reading of the machine's CPU counters (/proc/stat): busy and steal time
// summed over its CPUs, and how many CPUs there are.
type Machine struct {
	Busy, Steal time.Duration
	CPUs        int
	At          time.Time
}

// ReadMachine reads /proc/stat; the zero Machine where there is none.
func ReadMachine() Machine {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Machine{}
	}
	m := Machine{At: time.Now()}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 8 && f[0] == "cpu":
			// user nice system idle iowait irq softirq steal
			var v [8]int64
			for i := range v {
				v[i], _ = strconv.ParseInt(f[i+1], 10, 64)
			}
			m.Busy = time.Duration(v[0]+v[1]+v[2]+v[5]+v[6]) * time.Second / userHZ
			m.Steal = time.Duration(v[7]) * time.Second / userHZ
		case len(f) > 0 && strings.HasPrefix(f[0], "cpu"):
			m.CPUs++
		}
	}
	return m
}

// Usage is how the machine's CPUs were used over a stretch of time, and how much of it was
// ours (the CPU time of this benchmark's processes).
type Usage struct {
	Wall, Busy, Steal, Ours time.Duration
	CPUs                    int
}

// Since is the usage between an earlier reading and m, ours being our CPU time in between.
func (m Machine) Since(earlier Machine, ours time.Duration) Usage {
	return Usage{Wall: m.At.Sub(earlier.At), Busy: m.Busy - earlier.Busy, Steal: m.Steal - earlier.Steal, Ours: ours, CPUs: m.CPUs}
}

// Add sums two stretches.
func (u Usage) Add(v Usage) Usage {
	return Usage{Wall: u.Wall + v.Wall, Busy: u.Busy + v.Busy, Steal: u.Steal + v.Steal, Ours: u.Ours + v.Ours, CPUs: max(u.CPUs, v.CPUs)}
}

// String says how many CPUs' worth were busy, how much of it was ours and others', and the
// hypervisor's steal.
func (u Usage) String() string {
	wall := u.Wall.Seconds()
	if u.CPUs == 0 || wall <= 0 {
		return "machine: no /proc/stat"
	}
	busy, ours := u.Busy.Seconds()/wall, u.Ours.Seconds()/wall
	return fmt.Sprintf("machine: %.2f of %d CPUs busy (ours %.2f, others %.2f), steal %.2f", busy, u.CPUs, ours, max(0, busy-ours), u.Steal.Seconds()/wall)
}

// userHZ is the unit of /proc's CPU times: 100 on every Linux architecture Go supports.
const userHZ = 100

// Client calls the webhook over HTTP and the control plane directly over Connect, both with
// the bench caller's token, over keep-alive connections.
type Client struct {
	hc        *http.Client
	create    map[string]*connect.Client[json.RawMessage, json.RawMessage]
	getRun    map[string]*connect.Client[json.RawMessage, json.RawMessage]
	createMsg json.RawMessage
}

// NewClient returns a client keeping up to conns idle connections per host.
func NewClient(conns int) *Client {
	tr := &http.Transport{MaxIdleConns: 4 * conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: 90 * time.Second}
	return &Client{
		hc:     &http.Client{Transport: tr, Timeout: 30 * time.Second},
		create: map[string]*connect.Client[json.RawMessage, json.RawMessage]{},
		getRun: map[string]*connect.Client[json.RawMessage, json.RawMessage]{},
		// The CreateRun the webhook sends for RunTaskBody without an Idempotency-Key.
		createMsg: json.RawMessage(`{"projectId":{"name":"` + Project + `","domain":"` + Domain + `"},` +
			`"taskId":{"project":"` + Project + `","domain":"` + Domain + `","name":"echo","version":"v2"},` +
			`"inputs":{"literals":[{"name":"name","value":{"scalar":{"primitive":{"stringValue":"Ada"}}}},` +
			`{"name":"times","value":{"scalar":{"primitive":{"integer":"2"}}}}]},` +
			`"runSpec":{"labels":{"values":{"flyte-webhook/kind":"task"}}}}`),
	}
}

// Prepare makes the direct Connect clients for a control plane; call it before any
// concurrent use.
func (c *Client) Prepare(fakeURL string) {
	opts := []connect.ClientOption{connect.WithCodec(rawCodec{})}
	c.create[fakeURL] = connect.NewClient[json.RawMessage, json.RawMessage](c.hc, fakeURL+ProcCreateRun, opts...)
	c.getRun[fakeURL] = connect.NewClient[json.RawMessage, json.RawMessage](c.hc, fakeURL+ProcGetRun, opts...)
}

// RunTaskBody is the inputs every run_task of the load programs sends to echo (latest).
const RunTaskBody = `{"name":"Ada","times":2}`

// RunTask calls POST /run-task/development/flytesnacks/echo, with an Idempotency-Key unless
// key is "", and returns the run's name.
func (c *Client) RunTask(ctx context.Context, base, key string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/run-task/"+Domain+"/"+Project+"/echo", strings.NewReader(RunTaskBody))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+Token)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	var out struct{ Name string }
	if err := c.do(req, &out); err != nil {
		return "", err
	}
	return out.Name, nil
}

// GetRun calls GET /run/{name}.
func (c *Client) GetRun(ctx context.Context, base, name string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/run/"+name, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+Token)
	return c.do(req, nil)
}

// Health calls GET /health (no credentials, no control-plane call).
func (c *Client) Health(ctx context.Context, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health", nil)
	if err != nil {
		return err
	}
	return c.do(req, nil)
}

func (c *Client) do(req *http.Request, out any) error {
	res, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, res.StatusCode, body)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

// DirectCreateRun sends the CreateRun that RunTask makes the webhook send (without a key),
// straight to the control plane, and returns the run's name.
func (c *Client) DirectCreateRun(ctx context.Context, fakeURL string) (string, error) {
	res, err := c.direct(ctx, c.create[fakeURL], c.createMsg)
	if err != nil {
		return "", err
	}
	var out struct {
		Run struct {
			Action struct {
				ID struct{ Run struct{ Name string } }
			}
		}
	}
	if err := json.Unmarshal(res, &out); err != nil {
		return "", err
	}
	return out.Run.Action.ID.Run.Name, nil
}

// DirectGetRun sends the GetRunDetails that GetRun makes the webhook send.
func (c *Client) DirectGetRun(ctx context.Context, fakeURL, name string) error {
	_, err := c.direct(ctx, c.getRun[fakeURL], json.RawMessage(`{"runId":{"project":"`+Project+`","domain":"`+Domain+`","name":"`+name+`"}}`))
	return err
}

func (c *Client) direct(ctx context.Context, cl *connect.Client[json.RawMessage, json.RawMessage], msg json.RawMessage) (json.RawMessage, error) {
	if cl == nil {
		return nil, fmt.Errorf("rig: Prepare was not called for this control plane")
	}
	req := connect.NewRequest(&msg)
	req.Header().Set("Authorization", "Bearer "+Token)
	res, err := cl.CallUnary(ctx, req)
	if err != nil {
		return nil, err
	}
	return *res.Msg, nil
}

// rawCodec passes JSON bodies through as they are.
type rawCodec struct{}

func (rawCodec) Name() string                  { return "json" }
func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*json.RawMessage), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*v.(*json.RawMessage) = append((*v.(*json.RawMessage))[:0], b...)
	return nil
}

// Sample is a set of latencies.
type Sample []time.Duration

// Quantile returns the q-quantile (0 ≤ q ≤ 1, nearest rank) of s; 0 for an empty sample.
func (s Sample) Quantile(q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := append(Sample(nil), s...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	i := int(q*float64(len(c))+0.5) - 1
	return c[max(0, min(i, len(c)-1))]
}

// Us formats a duration in microseconds, signed, for RESULT lines.
func Us(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond)) }

// Delta returns, per procedure, how many calls were made between two CallCounts snapshots,
// and their sum.
func Delta(before, after map[string]int64) (map[string]int64, int64) {
	out := map[string]int64{}
	var total int64
	for p, n := range after {
		if d := n - before[p]; d > 0 {
			out[p] = d
			total += d
		}
	}
	return out, total
}
