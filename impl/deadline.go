package impl

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// liftWriteDeadline lifts the server's write_timeout for this request: an operation that
// waits (activate_app and deactivate_app with wait=true) may wait longer than write_timeout,
// and would otherwise lose its connection instead of getting its answer or its documented 504.
// The backend bounds the wait (an app's start_timeout, the Flyte backend's app_wait_timeout,
// both at most an hour) and a caller that goes away ends it.
func liftWriteDeadline(ctx context.Context) {
	if c, ok := ctx.(*gin.Context); ok && c.Writer != nil {
		// A writer that cannot (an httptest recorder) keeps its deadline: nothing to lift.
		_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Time{})
	}
}
