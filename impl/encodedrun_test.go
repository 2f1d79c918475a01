package impl

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/gen"
)

// TestEncodedRunMatchesGenerated: a cached get_run answer is byte for byte, header for header,
// what the generated response writes.
func TestEncodedRunMatchesGenerated(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 27, 2, 42, 22, 55556114, time.FixedZone("x", 3600))
	runs := []controlplane.Run{
		{Name: "r-ok", Phase: controlplane.PhaseSucceeded, URL: "http://x/run/r-ok", Attempts: 2, CreatedAt: at, StartedAt: at, EndedAt: at},
		{Name: "r-failed", Phase: controlplane.PhaseFailed, URL: "/run/r-failed", Attempts: 1, Error: "exit code 2: \"quoted\" <html> & \u2028", CreatedAt: at, EndedAt: at},
		{Name: "r-aborted", Phase: controlplane.PhaseAborted, CreatedAt: at},
	}
	for _, run := range runs {
		want := httptest.NewRecorder()
		if err := gen.GetRun200JSONResponse(runResponse(run)).VisitGetRunResponse(want); err != nil {
			t.Fatal(err)
		}
		b, err := encodeRun(runResponse(run))
		if err != nil {
			t.Fatal(err)
		}
		got := httptest.NewRecorder()
		if err := b.VisitGetRunResponse(got); err != nil {
			t.Fatal(err)
		}
		if got.Code != want.Code || got.Body.String() != want.Body.String() || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
			t.Errorf("%s: cached %d %q %s, generated %d %q %s", run.Name, got.Code, got.Header().Get("Content-Type"), got.Body, want.Code, want.Header().Get("Content-Type"), want.Body)
		}
	}
}
