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
//	go run ./bench/flyte/scale -binary bin/flyte-webhook [-replicas 1,2,4] [-clients 16] [-delay 5ms] [-duration 5s]
//
// Numbers, never pass/fail, except the Idempotency-Key check (exit status 1 when it fails)
// and failed requests.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
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
	flag.IntVar(&o.clients, "clients", 16, "concurrent clients per replica")
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
	m0, self0 := rig.ReadMachine(), rig.SelfCPU()
	direct, err := drive(clients, o.duration, func(int) error {
		_, err := c.DirectCreateRun(ctx, fake.URL)
		return err
	})
	if err != nil {
		return 0, err
	}
	selfDirect := rig.SelfCPU() - self0
	m1 := rig.ReadMachine()
	before, self1, hooks0 := fake.CallCounts(), rig.SelfCPU(), replicasCPU(procs)
	hook, err := drive(clients, o.duration, func(i int) error {
		_, err := c.RunTask(ctx, procs[i%n].URL, "")
		return err
	})
	if err != nil {
		return 0, err
	}
	hooksCPU, selfHook := replicasCPU(procs)-hooks0, rig.SelfCPU()-self1
	m2 := rig.ReadMachine()
	_, calls := rig.Delta(before, fake.CallCounts())
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
	fmt.Printf("RESULT replicas=%d cpu_us_per_run_task: webhooks=%s control_plane_and_load=%s | cpu_us_per_direct_create_run=%s\n",
		n, perReq(hooksCPU, hook.ok), perReq(selfHook, hook.ok), perReq(selfDirect, direct.ok))
	fmt.Printf("   direct phase %s; webhook phase %s\n", m1.Since(m0, selfDirect), m2.Since(m1, hooksCPU+selfHook))
	return hook.rate(), nil
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
