package impl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// noopBackend answers at once, so the benchmarks measure the HTTP stack alone.
type noopBackend struct{ fakeBackend }

func (*noopBackend) RunTask(context.Context, controlplane.RunTaskRequest) (controlplane.Run, error) {
	return controlplane.Run{Name: "r-bench", Phase: controlplane.PhaseQueued, URL: "http://x/run/r-bench"}, nil
}

func (*noopBackend) GetRun(_ context.Context, ref controlplane.RunRef) (controlplane.Run, error) {
	return controlplane.Run{Name: ref.Name, Phase: controlplane.PhaseRunning, URL: "http://x/run/" + ref.Name}, nil
}

// bare is the baseline: a plain gin handler doing the same work without the webhook's
// layers (decode the body, call the backend, encode the answer).
func bare(b controlplane.Backend) http.Handler {
	e := gin.New()
	e.POST("/run-task/:domain/:project/:name", func(c *gin.Context) {
		var in map[string]any
		dec := json.NewDecoder(c.Request.Body)
		dec.UseNumber()
		if err := dec.Decode(&in); err != nil {
			c.JSON(422, gin.H{"detail": "bad body"})
			return
		}
		run, _ := b.RunTask(c.Request.Context(), controlplane.RunTaskRequest{Task: controlplane.TaskRef{Domain: c.Param("domain"), Project: c.Param("project"), Name: c.Param("name")}, Inputs: in})
		c.JSON(200, gin.H{"name": run.Name, "url": run.URL})
	})
	e.GET("/run/:name", func(c *gin.Context) {
		run, _ := b.GetRun(c.Request.Context(), controlplane.RunRef{Name: c.Param("name")})
		c.JSON(200, gin.H{"name": run.Name, "phase": run.Phase, "url": run.URL, "done": run.Phase.Done()})
	})
	e.GET("/health", func(c *gin.Context) { c.JSON(200, gin.H{"status": "healthy"}) })
	return e
}

func benchStacks(b *testing.B) map[string]http.Handler {
	backend := &noopBackend{}
	full, err := impl.NewHandler(impl.Config{}, backend)
	if err != nil {
		b.Fatal(err)
	}
	return map[string]http.Handler{"full": full, "bare": bare(backend)}
}

func benchRequest(b *testing.B, h http.Handler, method, target string, body []byte) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var rd *bytes.Reader
			if body != nil {
				rd = bytes.NewReader(body)
			}
			var req *http.Request
			if rd != nil {
				req = httptest.NewRequest(method, target, rd)
				req.Header.Set("Content-Type", "application/json")
			} else {
				req = httptest.NewRequest(method, target, nil)
			}
			req.Header.Set("Authorization", token)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("%s %s: %d %s", method, target, w.Code, w.Body)
			}
		}
	})
}

func BenchmarkRunTask(b *testing.B) {
	body := []byte(`{"name": "Ada", "times": 3, "tags": ["a", "b"], "opts": {"loud": true}}`)
	for name, h := range benchStacks(b) {
		b.Run(name, func(b *testing.B) { benchRequest(b, h, "POST", "/run-task/development/flytesnacks/greet", body) })
	}
}

func BenchmarkGetRun(b *testing.B) {
	for name, h := range benchStacks(b) {
		b.Run(name, func(b *testing.B) { benchRequest(b, h, "GET", "/run/r-abc123", nil) })
	}
}

func BenchmarkHealth(b *testing.B) {
	for name, h := range benchStacks(b) {
		b.Run(name, func(b *testing.B) { benchRequest(b, h, "GET", "/health", nil) })
	}
}
