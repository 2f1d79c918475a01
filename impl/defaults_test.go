package impl_test

import (
	"net/http"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/api"
	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// TestSpecDefaults: each optional parameter openapi.yaml gives a default reaches the backend
// as that default when the request leaves it out (validation does not write defaults into
// requests; the handlers apply them, read from the spec), and get_task answers
// CacheSettings.behavior's default when the backend does not say. A default added to the
// spec fails this test until it is checked here.
func TestSpecDefaults(t *testing.T) {
	t.Parallel()
	prefetch := func(f *fakeBackend) controlplane.ModelPrefetch {
		m, _ := f.got("PrefetchModel").(controlplane.ModelPrefetch)
		return m
	}
	// What reached the backend for each operation's parameter, from the fake's records.
	reached := map[string]func(*fakeBackend) any{
		"abort_run.reason":               func(f *fakeBackend) any { return f.got("AbortRun") },
		"abort_prefetch_hf_model.reason": func(f *fakeBackend) any { return f.got("AbortRun") },
		"activate_app.wait":              func(f *fakeBackend) any { return f.got("SetAppActive") },
		"deactivate_app.wait":            func(f *fakeBackend) any { return f.got("SetAppActive") },
		"call_app.method": func(f *fakeBackend) any {
			c, _ := f.got("CallApp").(controlplane.AppCall)
			return c.Method
		},
		"build_image.pre": func(f *fakeBackend) any {
			b, _ := f.got("BuildImage").(controlplane.ImageBuild)
			return b.Pre
		},
		"prefetch_hf_model.task":         func(f *fakeBackend) any { return prefetch(f).Task },
		"prefetch_hf_model.hf_token_key": func(f *fakeBackend) any { return prefetch(f).HFTokenKey },
		"prefetch_hf_model.cpu":          func(f *fakeBackend) any { return prefetch(f).CPU },
		"prefetch_hf_model.memory":       func(f *fakeBackend) any { return prefetch(f).Memory },
		"prefetch_hf_model.disk":         func(f *fakeBackend) any { return prefetch(f).Disk },
		"prefetch_hf_model.force":        func(f *fakeBackend) any { return prefetch(f).Force },
		"list_runs.limit": func(f *fakeBackend) any {
			r, _ := f.got("ListRuns").(controlplane.ListRunsRequest)
			return r.Limit
		},
		"watch_run.logs": func(f *fakeBackend) any {
			w, _ := f.got("WatchRun").(controlplane.WatchRunRequest)
			return w.Logs
		},
		"get_run_logs.stream": func(f *fakeBackend) any {
			l, _ := f.got("RunLogs").(controlplane.RunLogsRequest)
			return map[controlplane.LogStreams]string{{Stdout: true}: "stdout", {Stderr: true}: "stderr", {Stdout: true, Stderr: true}: "both"}[l.Streams]
		},
		"get_run_logs.tail": func(f *fakeBackend) any {
			l, _ := f.got("RunLogs").(controlplane.RunLogsRequest)
			return l.Tail
		},
		"get_run_logs.follow": func(f *fakeBackend) any { return f.got("WatchRun") != nil }, // following opens a watch
	}
	checked := map[string]bool{}
	for op, params := range api.NewDefaults(contract.Doc).Params() {
		for name, want := range params {
			key := op + "." + name
			get, ok := reached[key]
			if !ok {
				t.Errorf("openapi.yaml gives %s a default that this test does not check", key)
				continue
			}
			checked[key] = true
			t.Run(key, func(t *testing.T) {
				t.Parallel()
				s := newServer(t, impl.Config{})
				p := probe[op] // the operation with its required parameters only
				expectStatus(t, s.call(t, p[0], p[1], probeBody(op), nil), http.StatusOK)
				if got := get(s.fake); !equalJSON(got, want) {
					t.Errorf("the backend got %s = %#v, want the spec's default %#v", key, got, want)
				}
			})
		}
	}
	for key := range reached {
		if !checked[key] {
			t.Errorf("%s: openapi.yaml no longer gives it a default", key)
		}
	}

	t.Run("get_task cache behavior", func(t *testing.T) {
		t.Parallel()
		want := contract.Doc.Components.Schemas["CacheSettings"].Value.Properties["behavior"].Value.Default
		if want == nil {
			t.Fatal("openapi.yaml gives CacheSettings.behavior no default")
		}
		s := newServer(t, impl.Config{})
		r := s.call(t, "GET", "/task/d/p/uncached", nil, nil)
		expectStatus(t, r, http.StatusOK)
		if got := r.JSON["cache"].(map[string]any)["behavior"]; got != want {
			t.Errorf("cache.behavior %#v, want the spec's default %#v", got, want)
		}
	})
}
