package impl_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/flyte-webhook/flyte-webhook/impl"
)

// TestAppWaitOutlivesWriteTimeout: activate_app and deactivate_app with wait=true may wait
// longer than the server's write_timeout (an app's start_timeout, the Flyte backend's
// app_wait_timeout): the caller still gets the answer, not a dropped connection.
func TestAppWaitOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	fake := newFake()
	fake.sluggish = 600 * time.Millisecond
	h, err := impl.NewHandler(impl.Config{}, fake)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.WriteTimeout = 150 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	enabled, err := contract.Catalog.Select(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{Server: srv, fake: fake, enabled: enabled}
	for _, op := range []string{"activate", "deactivate"} {
		res := s.call(t, http.MethodPost, "/app/sluggish/"+op+"?wait=true", nil, nil)
		if res.Status != http.StatusOK {
			t.Errorf("%s with wait past write_timeout: %d %s", op, res.Status, res.Body)
		}
	}
	// Without wait nothing is lifted, and nothing waits.
	if res := s.call(t, http.MethodPost, "/app/sluggish/activate", nil, nil); res.Status != http.StatusOK {
		t.Errorf("activate without wait: %d %s", res.Status, res.Body)
	}
}
