package local_test

import (
	"context"
	"testing"

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
	for r, _ := be.GetRun(context.Background(), done.Name); !r.Phase.Done(); r, _ = be.GetRun(context.Background(), done.Name) {
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
					if _, err := be.GetRun(context.Background(), run); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
