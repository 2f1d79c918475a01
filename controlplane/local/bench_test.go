package local_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
)

// BenchmarkRunTask: durable RunTask from many goroutines (group commit at work). The runs
// are for a task whose attempts never start (concurrency 1, blocked by a sleeping run), so
// the number measures acceptance alone.
func BenchmarkRunTask(b *testing.B) {
	be, _ := open(b, nil, func(c *local.Config) { c.Concurrency = 1 })
	if _, err := be.RunTask(context.Background(), controlplane.RunTaskRequest{Task: ref("sleep"), Inputs: map[string]any{}}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(25) // 50 goroutines on 2 CPUs, like 50 HTTP clients
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := be.RunTask(context.Background(), controlplane.RunTaskRequest{Task: ref("echo"), Inputs: map[string]any{"name": "bench"}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkGetRun polls a finished run (served from memory) and a queued one (read from
// SQLite).
func BenchmarkGetRun(b *testing.B) {
	be, _ := open(b, nil, func(c *local.Config) { c.Concurrency = 1 })
	done, err := be.RunTask(context.Background(), controlplane.RunTaskRequest{Task: ref("echo"), Inputs: map[string]any{"name": "bench"}})
	if err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		if r, _ := be.GetRun(context.Background(), controlplane.RunRef{Name: done.Name}); r.Phase.Done() {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("run %s not done", done.Name)
		}
	}
	if _, err := be.RunTask(context.Background(), controlplane.RunTaskRequest{Task: ref("sleep"), Inputs: map[string]any{}}); err != nil {
		b.Fatal(err)
	}
	queued, err := be.RunTask(context.Background(), controlplane.RunTaskRequest{Task: ref("echo"), Inputs: map[string]any{"name": "bench"}})
	if err != nil {
		b.Fatal(err)
	}
	for name, run := range map[string]string{"finished": done.Name, "queued": queued.Name} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := be.GetRun(context.Background(), controlplane.RunRef{Name: run}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkNoopExecution: accepted → succeeded for a task that does nothing (/bin/true), at
// the default concurrency. Reports executions per second and the median and p99 time from
// acceptance to success.
func BenchmarkNoopExecution(b *testing.B) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		b.Skip("no true command")
	}
	dir := b.TempDir()
	ws := filepath.Join(dir, "workspace.yaml")
	body := "tasks:\n  - {domain: test, project: conformance, name: noop, version: v1, command: [" + strconv.Quote(truePath) + "]}\n"
	if err := os.WriteFile(ws, []byte(body), 0o600); err != nil {
		b.Fatal(err)
	}
	be, err := local.Open(context.Background(), local.Config{Workspace: ws, DataDir: filepath.Join(dir, "data")})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close(context.Background())
	ctx := context.Background()
	submit := func() string {
		r, err := be.RunTask(ctx, controlplane.RunTaskRequest{Task: ref("noop"), Inputs: map[string]any{}})
		if err != nil {
			b.Fatal(err)
		}
		return r.Name
	}
	wait := func(name string) time.Duration {
		for deadline := time.Now().Add(time.Minute); ; {
			if time.Now().After(deadline) {
				b.Fatalf("run %s not done", name)
			}
			r, err := be.GetRun(ctx, controlplane.RunRef{Name: name})
			if err != nil {
				b.Fatal(err)
			}
			if r.Phase.Done() {
				if r.Phase != controlplane.PhaseSucceeded {
					b.Fatalf("%s: %s %q", name, r.Phase, r.Error)
				}
				return r.EndedAt.Sub(r.CreatedAt)
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	report := func(b *testing.B, lat []time.Duration) {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	}
	// throughput: b.N runs accepted at once (latency includes queueing behind the others).
	b.Run("throughput", func(b *testing.B) {
		names := make([]string, b.N)
		for i := range names {
			names[i] = submit()
		}
		lat := make([]time.Duration, 0, b.N)
		for _, n := range names {
			lat = append(lat, wait(n))
		}
		b.StopTimer()
		report(b, lat)
	})
	// latency: one run at a time, on an idle backend.
	b.Run("latency", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		for i := 0; i < b.N; i++ {
			lat = append(lat, wait(submit()))
		}
		b.StopTimer()
		report(b, lat)
	})
}
