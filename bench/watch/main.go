// Command watch measures watch_run with many watchers on one server: the server's memory
// per idle watcher and the delay from a run's phase change to its event at the watchers.
// The server is the real binary (a fresh data dir each round); this program is the load
// generator, in its own process, and its watchers are the Go client's WatchRun.
//
//	go run ./bench/watch -binary bin/flyte-webhook [-watchers 10000] [-runs 10] [-rounds 3]
//
// Each round starts a server and -runs runs of the example task `slow` (an hour long), waits
// for them to be running, reads the server's RSS (VmRSS of /proc/PID/status), opens the
// watchers spread evenly over the runs and waits until each has received the `running`
// phase, reads the RSS again, then aborts every run at once: each watcher notes when the
// run's final phase event arrives, against the event's own time (when the control plane
// recorded the change) and against the moment this program sent abort_run. A baseline
// round with a single watcher goes before each measured round. Numbers, never pass/fail.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	client "github.com/flyte-webhook/flyte-webhook/clients/go"

	"github.com/flyte-webhook/flyte-webhook/bench/internal/proc"
)

type options struct {
	bin      string
	watchers int
	runs     int
	rounds   int
	dial     int
	settle   time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.bin, "binary", "", "the webhook binary (required)")
	flag.IntVar(&o.watchers, "watchers", 10_000, "concurrent watchers (cut to what the file-descriptor limit allows)")
	flag.IntVar(&o.runs, "runs", 1, "runs watched (the watchers are spread evenly over them)")
	flag.IntVar(&o.rounds, "rounds", 3, "measured rounds (each after a 1-watcher baseline round)")
	flag.IntVar(&o.dial, "dial", 256, "watchers connecting at once while the watchers are opened")
	flag.DurationVar(&o.settle, "settle", 3*time.Second, "wait before each RSS reading")
	flag.Parse()
	if o.bin == "" {
		fmt.Fprintln(os.Stderr, "watch: -binary is required (make build; bin/flyte-webhook)")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "watch:", err)
		os.Exit(1)
	}
}

// result is one round's measures.
type result struct {
	watchers      int
	rssIdle       int64 // kB, runs started, no watcher
	rssWatched    int64 // kB, every watcher connected and idle
	perWatcher    float64
	heapPer       float64         // bytes of live heap per watcher, at the server's last GC
	stacksPer     float64         // bytes of goroutine stacks per watcher, likewise
	recorded      []time.Duration // arrival - the event's time, per watcher
	sent          []time.Duration // arrival - abort_run sent, per watcher
	spread        []time.Duration // arrival - the first arrival of the same run's event
	load          string          // /proc/loadavg when the round started
	failed        int64           // watchers that ended with an error
	connect       time.Duration   // opening every watcher
	delivery      time.Duration   // from the first abort_run sent to the last watcher's end
	serverCPU     time.Duration   // the server's CPU time (user+system) over delivery
	genCPU        time.Duration   // this program's, over delivery
	machineCPU    time.Duration   // every process's on the machine (and steal), over delivery
	serverNoFiles string
}

func run(o options) error {
	limit, err := raiseNoFile()
	if err != nil {
		return err
	}
	// Each watcher is a connection at both ends: one descriptor in this process, one in the
	// server (which raises its own soft limit to the hard one as every Go program does).
	// About 200 more cover the rest (the database, listeners, the runs' pipes).
	fmt.Printf("file descriptors: soft limit raised to the hard limit, %d, in this process\n", limit)
	if max := int(limit) - 200; o.watchers > max {
		fmt.Printf("SCALED DOWN: %d watchers do not fit a limit of %d descriptors per process: %d watchers\n", o.watchers, limit, max)
		o.watchers = max
	}
	if o.watchers > 10_000 {
		fmt.Printf("note: the server's default max_streams is 10000; beyond it watchers get 503\n")
	}
	abs, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	o.bin = abs
	ws, err := filepath.Abs("examples/workspace.yaml")
	if err != nil {
		return err
	}
	var base, measured []result
	for i := range o.rounds {
		b, err := round(o, ws, 1)
		if err != nil {
			return fmt.Errorf("baseline round %d: %w", i+1, err)
		}
		report(fmt.Sprintf("round %d baseline", i+1), b)
		base = append(base, b)
		m, err := round(o, ws, o.watchers)
		if err != nil {
			return fmt.Errorf("round %d: %w", i+1, err)
		}
		report(fmt.Sprintf("round %d", i+1), m)
		measured = append(measured, m)
	}
	summary(o, base, measured)
	return nil
}

// raiseNoFile sets the soft RLIMIT_NOFILE to the hard one and returns it.
func raiseNoFile() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	return l.Max, nil
}

func round(o options, ws string, n int) (result, error) {
	r := result{watchers: n, load: loadAvg()}
	dir, err := os.MkdirTemp("", "bench-watch-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	token := randomToken()
	runs := min(o.runs, n)
	if err := writeConfig(dir, ws, token, runs); err != nil {
		return r, err
	}
	srv, err := startServer(o.bin, dir)
	if err != nil {
		return r, err
	}
	defer srv.stop()
	r.serverNoFiles = srv.noFileLimit()

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	// Requests of the generator itself (run_task, get_run, abort_run) get a client of their
	// own; the watchers share one transport with no bound on connections.
	api, err := client.New(srv.URL, token)
	if err != nil {
		return r, err
	}
	tr := &http.Transport{MaxIdleConns: 0, MaxIdleConnsPerHost: 1, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 30 * time.Second}).DialContext}
	defer tr.CloseIdleConnections()
	wc, err := client.New(srv.URL, token, client.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		return r, err
	}

	names := make([]string, runs)
	for i := range names {
		res, err := api.RunTaskWithResponse(ctx, "development", "examples", "slow", nil, client.Inputs{"seconds": 3600})
		if err == nil {
			err = client.ErrorOf(res)
		}
		if err != nil {
			return r, fmt.Errorf("run_task: %w", err)
		}
		names[i] = res.JSON200.Name
	}
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer wcancel()
	for _, name := range names {
		if err := waitRunning(wctx, api, name); err != nil {
			return r, err
		}
	}
	progress("%d runs running; %d watchers next", runs, n)
	time.Sleep(o.settle)
	if r.rssIdle, err = srv.RSS(); err != nil {
		return r, err
	}
	heap0, stacks0 := srv.gcMemory()

	// The watchers: each waits for the `running` phase (the run's history up to now), then
	// idles until the run's final phase.
	type watcher struct {
		run     int
		arrived time.Time
		at      time.Time // the event's own time
	}
	ws_ := make([]watcher, n)
	var ready, ended sync.WaitGroup
	ready.Add(n)
	ended.Add(n)
	var failed atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, o.dial)
	start := time.Now()
	for i := range ws_ {
		ws_[i].run = i % runs
		sem <- struct{}{}
		go func(w *watcher) {
			defer ended.Done()
			isReady := false
			markReady := func() {
				if !isReady {
					isReady = true
					<-sem
					ready.Done()
				}
			}
			defer markReady()
			for ev, err := range client.WatchRun(ctx, wc, names[w.run], nil, &client.StreamOptions{Retries: -1}) {
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				switch {
				case ev.Type == client.RunEventPhase && ev.Phase != nil && *ev.Phase == client.Running:
					markReady()
				case (ev.Type == client.RunEventPhase || ev.Type == client.RunEventEnd) && ev.Done != nil && *ev.Done && w.arrived.IsZero():
					w.arrived = time.Now()
					if ev.Time != nil {
						w.at = *ev.Time
					}
				}
			}
		}(&ws_[i])
	}
	ready.Wait()
	r.connect = time.Since(start)
	progress("%d watchers connected in %s", n, r.connect.Round(time.Millisecond))
	if f := failed.Load(); f > 0 {
		return r, fmt.Errorf("%d of %d watchers failed while connecting; the first: %v", f, n, firstErr.Load())
	}
	time.Sleep(o.settle)
	if r.rssWatched, err = srv.RSS(); err != nil {
		return r, err
	}
	r.perWatcher = float64(r.rssWatched-r.rssIdle) * 1024 / float64(n)
	if heap1, stacks1 := srv.gcMemory(); heap0 >= 0 && heap1 >= 0 {
		r.heapPer = float64(heap1-heap0) * 1024 * 1024 / float64(n)
		r.stacksPer = float64(stacks1-stacks0) * 1024 * 1024 / float64(n)
	}

	// The phase change: every run aborted at once.
	cpu0 := srv.CPU()
	gen0 := proc.CPU("self")
	all0 := machineCPU()
	t0 := time.Now()
	sent := make([]time.Time, runs)
	var aborts sync.WaitGroup
	for i, name := range names {
		aborts.Add(1)
		go func() {
			defer aborts.Done()
			sent[i] = time.Now()
			res, err := api.AbortRunWithResponse(ctx, name, nil)
			if err == nil {
				err = client.ErrorOf(res)
			}
			if err != nil {
				firstErr.CompareAndSwap(nil, "abort_run: "+err.Error())
			}
		}()
	}
	aborts.Wait()
	progress("runs aborted")
	ended.Wait()
	r.delivery = time.Since(t0)
	r.genCPU = proc.CPU("self") - gen0
	r.machineCPU = machineCPU() - all0
	r.serverCPU = srv.CPU() - cpu0
	r.failed = failed.Load()
	if r.failed > 0 {
		fmt.Printf("  %d watchers failed; the first: %v\n", r.failed, firstErr.Load())
	}
	first := make([]time.Time, runs)
	for _, w := range ws_ {
		if !w.arrived.IsZero() && (first[w.run].IsZero() || w.arrived.Before(first[w.run])) {
			first[w.run] = w.arrived
		}
	}
	for _, w := range ws_ {
		if w.arrived.IsZero() {
			continue
		}
		r.spread = append(r.spread, w.arrived.Sub(first[w.run]))
		r.sent = append(r.sent, w.arrived.Sub(sent[w.run]))
		if !w.at.IsZero() {
			r.recorded = append(r.recorded, w.arrived.Sub(w.at))
		}
	}
	if len(r.sent) < n {
		return r, fmt.Errorf("%d of %d watchers saw no final phase", n-len(r.sent), n)
	}
	return r, nil
}

// progress notes where a round is, on stderr.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func waitRunning(ctx context.Context, api *client.ClientWithResponses, name string) error {
	for {
		res, err := api.GetRunWithResponse(ctx, name, nil)
		if err == nil {
			err = client.ErrorOf(res)
		}
		if err != nil {
			return fmt.Errorf("get_run: %w", err)
		}
		switch res.JSON200.Phase {
		case client.Running:
			return nil
		case client.Failed, client.Aborted, client.Succeeded, client.TimedOut:
			return fmt.Errorf("run %s ended %s before it was watched", name, res.JSON200.Phase)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func report(what string, r result) {
	fmt.Printf("%s: %d watchers (connected in %s), server RSS %.1f MB idle, %.1f MB watched: %.1f KB per watcher "+
		"(at the last GC: %.1f KB live heap, %.1f KB scannable stacks); "+
		"final phase → watcher: p50 %s p99 %s max %s after the recorded change, p50 %s p99 %s max %s after abort_run was sent, "+
		"p99 %s after the run's first watcher got it; "+
		"from the first abort to the last end %s, CPU meanwhile: server %s, generator %s, the rest of the machine %s; "+
		"server's open-files limit %s; load average %s\n",
		what, r.watchers, r.connect.Round(time.Millisecond), float64(r.rssIdle)/1024, float64(r.rssWatched)/1024, r.perWatcher/1024, r.heapPer/1024, r.stacksPer/1024,
		q(r.recorded, 0.5), q(r.recorded, 0.99), q(r.recorded, 1), q(r.sent, 0.5), q(r.sent, 0.99), q(r.sent, 1), q(r.spread, 0.99),
		r.delivery.Round(time.Millisecond), r.serverCPU, r.genCPU.Round(time.Millisecond),
		max(0, r.machineCPU-r.serverCPU-r.genCPU).Round(10*time.Millisecond), r.serverNoFiles, r.load)
}

func summary(o options, base, m []result) {
	span := func(rs []result, f func(result) float64, unit string) string {
		lo, hi := f(rs[0]), f(rs[0])
		for _, r := range rs[1:] {
			lo, hi = min(lo, f(r)), max(hi, f(r))
		}
		return fmt.Sprintf("%.1f-%.1f %s", lo, hi, unit)
	}
	ms := func(d []time.Duration, p float64) float64 {
		return float64(q(d, p)) / float64(time.Millisecond)
	}
	fmt.Printf("\nsummary over %d rounds (%d watchers over %d runs; baseline: 1 watcher)\n", len(m), m[0].watchers, min(o.runs, m[0].watchers))
	fmt.Printf("  server RSS, no watcher:          %s\n", span(m, func(r result) float64 { return float64(r.rssIdle) / 1024 }, "MB"))
	fmt.Printf("  server RSS, %d watchers:      %s\n", m[0].watchers, span(m, func(r result) float64 { return float64(r.rssWatched) / 1024 }, "MB"))
	fmt.Printf("  RSS per idle watcher:            %s (target ≤ 32 KB)\n", span(m, func(r result) float64 { return r.perWatcher / 1024 }, "KB"))
	fmt.Printf("    of which, at the server's last GC: live heap %s, scannable goroutine stacks %s\n",
		span(m, func(r result) float64 { return r.heapPer / 1024 }, "KB"), span(m, func(r result) float64 { return r.stacksPer / 1024 }, "KB"))
	fmt.Printf("  delay p99, after the recorded change: %s (target ≤ 50 ms); baseline %s\n",
		span(m, func(r result) float64 { return ms(r.recorded, 0.99) }, "ms"), span(base, func(r result) float64 { return ms(r.recorded, 0.99) }, "ms"))
	fmt.Printf("  delay p50, after the recorded change: %s; baseline %s\n",
		span(m, func(r result) float64 { return ms(r.recorded, 0.5) }, "ms"), span(base, func(r result) float64 { return ms(r.recorded, 0.5) }, "ms"))
	fmt.Printf("  fan-out p99, after the run's first watcher: %s\n", span(m, func(r result) float64 { return ms(r.spread, 0.99) }, "ms"))
	fmt.Printf("  delay p99, after abort_run was sent:  %s; baseline %s\n",
		span(m, func(r result) float64 { return ms(r.sent, 0.99) }, "ms"), span(base, func(r result) float64 { return ms(r.sent, 0.99) }, "ms"))
	fmt.Printf("  first abort → last end:          %s; CPU meanwhile: server %s, generator %s, the rest of the machine %s\n",
		span(m, func(r result) float64 { return float64(r.delivery.Milliseconds()) }, "ms"),
		span(m, func(r result) float64 { return float64(r.serverCPU.Milliseconds()) }, "ms"),
		span(m, func(r result) float64 { return float64(r.genCPU.Milliseconds()) }, "ms"),
		span(m, func(r result) float64 { return float64(max(0, r.machineCPU-r.serverCPU-r.genCPU).Milliseconds()) }, "ms"))
	fmt.Printf("  opening the watchers:            %s\n", span(m, func(r result) float64 { return r.connect.Seconds() }, "s"))
}

// q is the p-quantile of d (nearest rank); 0 for none.
func q(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))].Round(10 * time.Microsecond)
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeConfig: concurrency lets every watched run run at once (the default is the number of
// cores).
func writeConfig(dir, workspace, token string, concurrency int) error {
	sum := sha256.Sum256([]byte(token))
	cfg := fmt.Sprintf(`port: 0
log_level: warn
shutdown_timeout: 5s
backend:
  local:
    workspace: %s
    data_dir: %s
    scratch_dir: %s
    abort_grace: 2s
    concurrency: %d
    auth:
      tokens: [{sha256: %s, subject: bench, name: Bench}]
`, workspace, filepath.Join(dir, "data"), filepath.Join(dir, "scratch"), concurrency, hex.EncodeToString(sum[:]))
	return os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600)
}

// server is the binary, running.
type server struct {
	*proc.Process
	log *syncBuffer
}

// syncBuffer is the server's output, written by exec's copier while the rounds read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startServer starts the binary on the data dir's config. gctrace: a line per GC with the
// live heap and the stacks, to tell what a watcher costs in (see gcMemory).
func startServer(bin, dir string) (*server, error) {
	log := &syncBuffer{}
	p, err := proc.Start(bin, filepath.Join(dir, "config.yaml"), []string{"GODEBUG=gctrace=1"}, log, 2*time.Minute)
	if err != nil {
		return nil, fmt.Errorf("the server did not start: %v: %s", err, log.String())
	}
	return &server{Process: p, log: log}, nil
}

func (s *server) stop() { _ = s.Stop() }

// gcMemory is the live heap and the goroutine stacks (MB) of the server's last GC, from
// its GODEBUG=gctrace=1 lines ("…, 3->4->1 MB, 4 MB goal, 0 MB stacks, …"); -1 when none.
func (s *server) gcMemory() (heap, stacks int) {
	lines := strings.Split(s.log.String(), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		if !strings.HasPrefix(l, "gc ") {
			continue
		}
		var a, b, c, st int
		for _, part := range strings.Split(l, ", ") {
			if _, err := fmt.Sscanf(part, "%d->%d->%d MB", &a, &b, &c); err == nil {
				heap = c
			}
			if _, err := fmt.Sscanf(part, "%d MB stacks", &st); err == nil {
				stacks = st
			}
		}
		return heap, stacks
	}
	return -1, -1
}

// loadAvg is the machine's 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// machineCPU is the CPU time every core spent busy so far (/proc/stat: user, nice, system,
// irq, softirq and steal: the other engineers' work and the hypervisor's share included).
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		if i < len(f) {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += v
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// noFileLimit is the server's "Max open files" soft/hard, from /proc/PID/limits.
func (s *server) noFileLimit() string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", s.Pid()))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			f := strings.Fields(line)
			if len(f) >= 5 {
				return f[3] + "/" + f[4]
			}
		}
	}
	return "unknown"
}
