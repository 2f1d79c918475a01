// Command scale simulates scaling the webhook out: 1, 2, 4… real webhook binaries on
// loopback ports in front of one in-test Flyte 2 control plane that adds a fixed delay to
// every call (a remote control plane's latency). For each number of replicas it drives
// run_task through all of them round-robin with a fixed number of concurrent clients per
// replica (the offered load grows with the replicas, as it does when a deployment scales
// out), and beside it the same CreateRun sent directly to the control plane with as many
// clients (the control plane's own latency under that load). It prints run_task/s, p50 and
// p99 of both and their difference, the control-plane calls per run_task, and checks that K
// concurrent requests with one Idempotency-Key, spread over the replicas, all get one run.
//
//	go run ./bench/flyte/scale -binary bin/flyte-webhook [-replicas 1,2,4] [-clients 4] [-delay 5ms] [-duration 5s]
//
// Numbers, never pass/fail, except the Idempotency-Key check (exit status 1 when it fails)
// and failed requests.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flyte-webhook/flyte-webhook/bench/flyte/internal/rig"
	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte/flytetest"
)

type options struct {
	bin      string
	replicas []int
	clients  int
	delay    time.Duration
	duration time.Duration
	keys     int
}

func main() {
	var o options
	var replicas string
	flag.StringVar(&o.bin, "binary", "", "the webhook binary (required)")
	flag.StringVar(&replicas, "replicas", "1,2,4", "numbers of replicas to measure, in order")
	flag.IntVar(&o.clients, "clients", 4, "concurrent clients per replica")
	flag.DurationVar(&o.delay, "delay", 5*time.Millisecond, "what the control plane adds to every call")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "how long each phase drives load")
	flag.IntVar(&o.keys, "keys", 16, "concurrent requests sharing one Idempotency-Key, spread over the replicas")
	flag.Parse()
	for _, f := range strings.Split(replicas, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "scale: -replicas: %q is not a positive number\n", f)
			os.Exit(2)
		}
		o.replicas = append(o.replicas, n)
	}
	if o.bin == "" {
		fmt.Fprintln(os.Stderr, "scale: -binary is required (make build; bin/flyte-webhook)")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	fake, err := rig.StartFake(o.delay)
	if err != nil {
		return err
	}
	defer fake.Close()
	dir, err := os.MkdirTemp("", "flyte-scale")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logs, err := os.Create(dir + "/replicas.log")
	if err != nil {
		return err
	}
	defer logs.Close()

	fmt.Printf("== scale-out: replicas %v in front of one control plane adding %s per call; %d clients per replica, %s per phase\n",
		o.replicas, o.delay, o.clients, o.duration)
	var base float64
	for _, n := range o.replicas {
		r, err := measure(o, fake, n, dir, logs)
		if err != nil {
			return fmt.Errorf("%d replicas: %w", n, err)
		}
		if base == 0 {
			base = r / float64(n)
		}
		fmt.Printf("RESULT replicas=%d scaling=%.2f (run_task/s against %d x the first row's per replica)\n", n, r/(base*float64(n)), n)
	}
	return nil
}

// measure starts n replicas, drives both phases and the Idempotency-Key check, stops them,
// and returns the webhook's run_task/s.
func measure(o options, fake *flytetest.Server, n int, dir string, logs *os.File) (float64, error) {
	var procs []*rig.Process
	defer func() {
		for _, p := range procs {
			if err := p.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "scale: replica %s did not stop cleanly: %v\n", p.URL, err)
			}
		}
	}()
	for i := 0; i < n; i++ {
		p, err := rig.StartBinary(o.bin, dir, fake.URL, logs)
		if err != nil {
			return 0, err
		}
		procs = append(procs, p)
	}
	clients := o.clients * n
	c := rig.NewClient(clients)
	c.Prepare(fake.URL)
	ctx := context.Background()

	// Warm every replica: its task and identity caches, and a pool of connections both ways.
	if _, err := drive(clients, time.Second, func(i int) error {
		_, err := c.RunTask(ctx, procs[i%n].URL, "")
		return err
	}); err != nil {
		return 0, err
	}
	// The two phases alternate in slices, so both meet the same machine: it is shared, and
	// what the rest of it does changes from second to second.
	var direct, hook phase
	var webhooks time.Duration // the replicas' CPU time in the webhook phase
	before := fake.CallCounts()
	for range slices(o.duration) {
		err := direct.run(clients, slice, rig.SelfCPU, func(int) error {
			_, err := c.DirectCreateRun(ctx, fake.URL)
			return err
		})
		if err != nil {
			return 0, err
		}
		r0 := replicasCPU(procs)
		err = hook.run(clients, slice, func() time.Duration { return rig.SelfCPU() + replicasCPU(procs) }, func(i int) error {
			_, err := c.RunTask(ctx, procs[i%n].URL, "")
			return err
		})
		webhooks += replicasCPU(procs) - r0
		if err != nil {
			return 0, err
		}
	}
	perProc, calls := rig.Delta(before, fake.CallCounts())
	// The direct phase's calls are not the webhook's.
	calls -= direct.ok
	if perProc[rig.ProcCreateRun] -= direct.ok; perProc[rig.ProcCreateRun] == hook.ok {
		delete(perProc, rig.ProcCreateRun)
	}
	runs, err := sameKey(ctx, c, procs, o.keys)
	if err != nil {
		return 0, err
	}

	dp50, dp99 := direct.lat.Quantile(.5), direct.lat.Quantile(.99)
	wp50, wp99 := hook.lat.Quantile(.5), hook.lat.Quantile(.99)
	fmt.Printf("RESULT replicas=%d clients=%d run_task_per_s=%.0f p50_ms=%.2f p99_ms=%.2f | direct_create_run_per_s=%.0f p50_ms=%.2f p99_ms=%.2f | added_p50_ms=%.2f added_p99_ms=%.2f | calls_per_run_task=%.2f | one_key_x%d=%d run\n",
		n, clients, hook.rate(), ms(wp50), ms(wp99), direct.rate(), ms(dp50), ms(dp99), ms(wp50-dp50), ms(wp99-dp99),
		float64(calls)/float64(hook.ok), o.keys, runs)
	// Where the machine's CPU went, per request: in the replicas, and in this process (the
	// control plane and the load generator) in each phase.
	var others []string
	for p, k := range perProc {
		others = append(others, fmt.Sprintf("%s %d", p[strings.LastIndex(p, "/")+1:], k))
	}
	sort.Strings(others)
	if len(others) == 0 {
		others = []string{"none"}
	}
	fmt.Printf("   calls besides one CreateRun each in %d run_tasks: %s (cache refreshes, every cache_ttl per replica)\n", hook.ok, strings.Join(others, ", "))
	fmt.Printf("   cpu_us per run_task %s (webhooks %s, this process %s), per direct CreateRun %s (this process: control plane and load)\n",
		perReq(hook.cpu, hook.ok), perReq(webhooks, hook.ok), perReq(hook.cpu-webhooks, hook.ok), perReq(direct.cpu, direct.ok))
	fmt.Printf("   direct phase %s; webhook phase %s\n", direct.usage, hook.usage)
	return hook.rate(), nil
}

// slice is how long one phase drives load before the other takes over.
const slice = 500 * time.Millisecond

func slices(d time.Duration) []struct{} { return make([]struct{}, max(1, int(d/slice))) }

// phase accumulates what the slices of one kind of load did.
type phase struct {
	result
	cpu   time.Duration // ours in its slices
	usage rig.Usage
}

// run drives one slice of the phase, adding its numbers; ours is the CPU time of the
// processes that serve it.
func (p *phase) run(clients int, d time.Duration, ours func() time.Duration, f func(i int) error) error {
	m0, c0 := rig.ReadMachine(), ours()
	r, err := drive(clients, d, f)
	c1 := ours()
	p.cpu += c1 - c0
	p.usage = p.usage.Add(rig.ReadMachine().Since(m0, c1-c0))
	p.ok += r.ok
	p.elapsed += r.elapsed
	p.lat = append(p.lat, r.lat...)
	return err
}

// result is what a phase did.
type result struct {
	ok      int64
	elapsed time.Duration
	lat     rig.Sample
}

func (r result) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

// drive runs f from clients goroutines until d has passed; f gets a sequence number, which
// spreads requests over replicas round-robin. The first failure ends the phase with it.
func drive(clients int, d time.Duration, f func(i int) error) (result, error) {
	var (
		seq      atomic.Int64
		mu       sync.Mutex
		all      rig.Sample
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for g := 0; g < clients; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat rig.Sample
			var err error
			for time.Now().Before(deadline) {
				t := time.Now()
				if err = f(int(seq.Add(1))); err != nil {
					break
				}
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			all = append(all, lat...)
			if err != nil && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return result{ok: int64(len(all)), elapsed: time.Since(start), lat: all}, firstErr
}

// sameKey sends k run_tasks with one fresh Idempotency-Key at once, request j to replica
// j mod n, and returns how many distinct runs they were answered with (1 is right).
func sameKey(ctx context.Context, c *rig.Client, procs []*rig.Process, k int) (int, error) {
	key := fmt.Sprintf("scale-%d", time.Now().UnixNano())
	names := make([]string, k)
	errs := make([]error, k)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for j := 0; j < k; j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
			names[j], errs[j] = c.RunTask(ctx, procs[j%len(procs)].URL, key)
		}()
	}
	close(release)
	wg.Wait()
	distinct := map[string]bool{}
	for j := range names {
		if errs[j] != nil {
			return 0, fmt.Errorf("Idempotency-Key request %d: %w", j, errs[j])
		}
		distinct[names[j]] = true
	}
	if len(distinct) != 1 {
		return len(distinct), fmt.Errorf("%d requests with one Idempotency-Key over %d replicas got %d runs: %v", k, len(procs), len(distinct), names)
	}
	return 1, nil
}

func replicasCPU(procs []*rig.Process) time.Duration {
	var sum time.Duration
	for _, p := range procs {
		sum += p.CPU()
	}
	return sum
}

func perReq(cpu time.Duration, n int64) string {
	if n == 0 {
		return "-"
	}
	return rig.Us(cpu / time.Duration(n))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
