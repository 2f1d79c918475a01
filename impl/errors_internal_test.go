package impl

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/flyte-webhook/flyte-webhook/api"
)

// TestBindErrorsAreLogged: when the generated binder refuses what the validator let through
// (requestError, paramError), the reason is logged with the request id and never shown to
// the caller. Both hooks sit behind the validator, so no request reaches them today: they
// are called directly.
func TestBindErrorsAreLogged(t *testing.T) {
	t.Parallel()
	hooks := map[string]func(s *Server, c *gin.Context, err error){
		"requestError": func(s *Server, c *gin.Context, err error) { s.requestError(c, err) },
		"paramError":   func(s *Server, c *gin.Context, err error) { s.paramError(c, err, 400) },
	}
	for name, hook := range hooks {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			s := &Server{log: slog.New(slog.NewJSONHandler(&logs, nil))}
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest("POST", "/run-task/d/p/t", nil)
			c.Request = c.Request.WithContext(api.WithRequestID(c.Request.Context(), "req-42"))
			cause := errors.New("Invalid format for parameter force: strconv.ParseInt: parsing \"x9\"")
			hook(s, c, cause)

			if w.Code != 422 {
				t.Fatalf("status %d, want 422", w.Code)
			}
			if strings.Contains(w.Body.String(), "x9") || strings.Contains(w.Body.String(), "strconv") {
				t.Errorf("the cause reached the caller: %s", w.Body)
			}
			var line map[string]any
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
				t.Fatalf("no log line: %q", logs.String())
			}
			if line["request_id"] != "req-42" || line["error"] != cause.Error() || line["level"] != "INFO" {
				t.Errorf("log line %v, want request_id req-42, the cause as error, level INFO", line)
			}
		})
	}
}
