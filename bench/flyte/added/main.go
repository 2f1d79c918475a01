// Command added measures what the webhook adds in front of a Flyte 2 control plane: the
// whole stack with backend flyte (HTTP, validation, auth, the flyte backend, Connect) over the
// in-test control plane on loopback, next to a direct Connect call of the same procedure in
// the same run, interleaved pair by pair so both see the same machine. It prints p50 and p99
// of each, their difference and ratio, and the control-plane calls per warm operation.
//
//	go run ./bench/flyte/added [-binary bin/flyte-webhook] [-n 2000] [-rounds 3]
//
// Without -binary the handler runs in this process (impl.NewHandler over flyte.Open); with
// it, the binary runs as a subprocess. Numbers, never pass/fail, except that a failed
// request is an error.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/flyte-webhook/flyte-webhook/bench/flyte/internal/rig"
)

func main() {
	n := flag.Int("n", 2000, "measured pairs per operation and round")
	warm := flag.Int("warm", 300, "unmeasured pairs first (caches, connections, the Go runtime)")
	rounds := flag.Int("rounds", 3, "rounds; ranges are over them")
	bin := flag.String("binary", "", "measure this webhook binary (a subprocess) instead of the handler in this process")
	flag.Parse()
	if err := run(*n, *warm, *rounds, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "added:", err)
		os.Exit(1)
	}
}

func run(n, warm, rounds int, bin string) error {
	ctx := context.Background()
	fake, err := rig.StartFake(0)
	if err != nil {
		return err
	}
	defer fake.Close()
	var hook, where string
	ours := rig.SelfCPU // the CPU time of this benchmark's processes
	if bin == "" {
		url, stop, err := rig.InProcess(ctx, fake.URL)
		if err != nil {
			return err
		}
		defer stop()
		hook, where = url, "in-process handler"
	} else {
		dir, err := os.MkdirTemp("", "flyte-bench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		p, err := rig.StartBinary(bin, dir, fake.URL, os.Stderr)
		if err != nil {
			return err
		}
		defer func() {
			if err := p.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "added: the binary did not stop cleanly:", err)
			}
		}()
		hook, where = p.URL, "binary "+bin
		ours = func() time.Duration { return rig.SelfCPU() + p.CPU() }
	}
	c := rig.NewClient(4)
	c.Prepare(fake.URL)
	fmt.Printf("== what the webhook adds (%s), one request at a time, %d pairs x %d rounds\n", where, n, rounds)

	// A finished run for get_run (the answer a poller gets at the end).
	done, err := c.RunTask(ctx, hook, "")
	if err != nil {
		return err
	}
	for i := 0; i < warm; i++ {
		if _, err := c.RunTask(ctx, hook, ""); err != nil {
			return err
		}
		if _, err := c.DirectCreateRun(ctx, fake.URL); err != nil {
			return err
		}
		if err := c.GetRun(ctx, hook, done); err != nil {
			return err
		}
		if err := c.DirectGetRun(ctx, fake.URL, done); err != nil {
			return err
		}
	}

	if err := countCalls(ctx, c, fake.CallCounts, hook, done); err != nil {
		return err
	}

	ops := []struct {
		name, direct string
		hook, bare   func() error
	}{
		{"run_task", "CreateRun",
			func() error { _, err := c.RunTask(ctx, hook, ""); return err },
			func() error { _, err := c.DirectCreateRun(ctx, fake.URL); return err }},
		{"get_run", "GetRunDetails",
			func() error { return c.GetRun(ctx, hook, done) },
			func() error { return c.DirectGetRun(ctx, fake.URL, done) }},
	}
	type summary struct{ p50, p99, paired []time.Duration }
	sums := make([]summary, len(ops))
	var hops []time.Duration
	for r := 1; r <= rounds; r++ {
		m0, cpu0 := rig.ReadMachine(), ours()
		// The yardstick: a round trip to the webhook that calls no control plane (GET /health).
		h, err := sample(n, func() error { return c.Health(ctx, hook) })
		if err != nil {
			return fmt.Errorf("health: %w", err)
		}
		hops = append(hops, h.Quantile(.5))
		fmt.Printf("round %d health   webhook p50 %6sµs p99 %6sµs (a round trip to the webhook, no control-plane call)\n",
			r, rig.Us(h.Quantile(.5)), rig.Us(h.Quantile(.99)))
		for i, op := range ops {
			w, d, paired, err := pairs(n, op.hook, op.bare)
			if err != nil {
				return fmt.Errorf("%s: %w", op.name, err)
			}
			wp50, wp99, dp50, dp99 := w.Quantile(.5), w.Quantile(.99), d.Quantile(.5), d.Quantile(.99)
			fmt.Printf("round %d %-8s webhook p50 %6sµs p99 %6sµs | direct %-13s p50 %6sµs p99 %6sµs | added p50 %5sµs (x%.2f) p99 %6sµs | paired difference p50 %5sµs\n",
				r, op.name, rig.Us(wp50), rig.Us(wp99), op.direct, rig.Us(dp50), rig.Us(dp99),
				rig.Us(wp50-dp50), float64(wp50)/float64(dp50), rig.Us(wp99-dp99), rig.Us(paired.Quantile(.5)))
			sums[i].p50 = append(sums[i].p50, wp50-dp50)
			sums[i].p99 = append(sums[i].p99, wp99-dp99)
			sums[i].paired = append(sums[i].paired, paired.Quantile(.5))
		}
		fmt.Printf("round %d %s\n", r, rig.ReadMachine().Since(m0, ours()-cpu0))
	}
	fmt.Printf("RESULT health_p50_us=%s (ranges over %d rounds)\n", span(hops), rounds)
	for i, op := range ops {
		fmt.Printf("RESULT %s_added_p50_us=%s %s_added_p99_us=%s %s_paired_p50_us=%s (ranges over %d rounds)\n",
			op.name, span(sums[i].p50), op.name, span(sums[i].p99), op.name, span(sums[i].paired), rounds)
	}
	return nil
}

// pairs times n pairs of calls, alternating which goes first, and returns both samples and
// the per-pair differences (webhook minus direct).
func pairs(n int, hook, bare func() error) (w, d, diff rig.Sample, err error) {
	for i := 0; i < n; i++ {
		var tw, td time.Duration
		if i%2 == 0 {
			if tw, err = timed(hook); err == nil {
				td, err = timed(bare)
			}
		} else {
			if td, err = timed(bare); err == nil {
				tw, err = timed(hook)
			}
		}
		if err != nil {
			return nil, nil, nil, err
		}
		w, d, diff = append(w, tw), append(d, td), append(diff, tw-td)
	}
	return w, d, diff, nil
}

// sample times n calls of f.
func sample(n int, f func() error) (rig.Sample, error) {
	var s rig.Sample
	for i := 0; i < n; i++ {
		d, err := timed(f)
		if err != nil {
			return nil, err
		}
		s = append(s, d)
	}
	return s, nil
}

func timed(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

// countCalls prints the control-plane calls per warm operation: run_task without and with
// a fresh Idempotency-Key, and get_run.
func countCalls(ctx context.Context, c *rig.Client, counts func() map[string]int64, hook, done string) error {
	const k = 200
	stamp := time.Now().UnixNano()
	cases := []struct {
		name string
		f    func(i int) error
	}{
		{"run_task", func(int) error { _, err := c.RunTask(ctx, hook, ""); return err }},
		{"run_task_with_key", func(i int) error { _, err := c.RunTask(ctx, hook, fmt.Sprintf("k-%d-%d", stamp, i)); return err }},
		{"get_run", func(int) error { return c.GetRun(ctx, hook, done) }},
	}
	for _, cs := range cases {
		// One unmeasured call: the first Idempotency-Key of a caller looks the caller up.
		if err := cs.f(-1); err != nil {
			return err
		}
		before := counts()
		for i := 0; i < k; i++ {
			if err := cs.f(i); err != nil {
				return err
			}
		}
		per, total := rig.Delta(before, counts())
		var parts []string
		for p, m := range per {
			parts = append(parts, fmt.Sprintf("%s %.2f", p[strings.LastIndex(p, "/")+1:], float64(m)/k))
		}
		sort.Strings(parts)
		fmt.Printf("RESULT calls_per_warm_%s=%.2f (%s)\n", cs.name, float64(total)/k, strings.Join(parts, ", "))
	}
	return nil
}

// span formats the range of values as min..max microseconds.
func span(v []time.Duration) string {
	lo, hi := slices.Min(v), slices.Max(v)
	if lo == hi {
		return rig.Us(lo)
	}
	return rig.Us(lo) + ".." + rig.Us(hi)
}
