package rig_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/bench/flyte/internal/rig"
)

func TestQuantile(t *testing.T) {
	var s rig.Sample
	for i := 100; i >= 1; i-- { // unsorted on purpose
		s = append(s, time.Duration(i))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.5, 50}, {0.99, 99}, {1, 100}} {
		if got := s.Quantile(c.q); got != c.want {
			t.Errorf("Quantile(%v) = %d, want %d", c.q, got, c.want)
		}
	}
	if s[0] != 100 {
		t.Error("Quantile sorted the sample in place")
	}
	if got := (rig.Sample{}).Quantile(.5); got != 0 {
		t.Errorf("empty sample: %d", got)
	}
}

// TestOneCallPerWarmOperation: the rig the benchmarks use works end to end, and what they
// report as calls per warm run_task and get_run is one each.
func TestOneCallPerWarmOperation(t *testing.T) {
	fake, err := rig.StartFake(0)
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	url, stop, err := rig.InProcess(t.Context(), fake.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	c := rig.NewClient(2)
	c.Prepare(fake.URL)
	name, err := c.RunTask(t.Context(), url, "") // warms the task and identity caches
	if err != nil {
		t.Fatal(err)
	}
	if direct, err := c.DirectCreateRun(t.Context(), fake.URL); err != nil || direct == "" {
		t.Fatalf("direct CreateRun: %q %v", direct, err)
	}
	if err := c.DirectGetRun(t.Context(), fake.URL, name); err != nil {
		t.Fatal(err)
	}
	for _, op := range []struct {
		name, procedure string
		f               func(i int) error
	}{
		{"run_task", rig.ProcCreateRun, func(int) error { _, err := c.RunTask(t.Context(), url, ""); return err }},
		{"run_task with a fresh key", rig.ProcCreateRun, func(i int) error {
			_, err := c.RunTask(t.Context(), url, fmt.Sprintf("key-%d", i))
			return err
		}},
		{"get_run", rig.ProcGetRun, func(int) error { return c.GetRun(t.Context(), url, name) }},
	} {
		before := fake.CallCounts()
		const n = 5
		for i := range n {
			if err := op.f(i); err != nil {
				t.Fatalf("%s: %v", op.name, err)
			}
		}
		per, total := rig.Delta(before, fake.CallCounts())
		if total != n || per[op.procedure] != n {
			t.Errorf("%s: %d calls for %d requests: %v", op.name, total, n, per)
		}
	}
}
