package impl

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// setWriteDeadline moves the connection's write deadline (the server's write_timeout, counted
// from the request's start) to write, the zero time lifting it: an operation that waits
// (activate_app and deactivate_app with wait=true, get_run and run_task with wait) may wait
// longer than write_timeout, and would otherwise lose its connection instead of getting its
// answer. (The read deadline needs nothing: net/http clears it once the request is read.) It
// reports whether the deadline could be moved; a writer that cannot (an httptest recorder)
// keeps its deadline.
func setWriteDeadline(ctx context.Context, write time.Time) bool {
	c, ok := ctx.(*gin.Context)
	if !ok || c.Writer == nil {
		return false
	}
	return http.NewResponseController(c.Writer).SetWriteDeadline(write) == nil
}

// liftWriteDeadline lifts the write deadline for an app operation with wait=true. The backend
// bounds that wait (an app's start_timeout, the Flyte backend's app_wait_timeout, both at
// most an hour) and a caller that goes away ends it.
func liftWriteDeadline(ctx context.Context) {
	_ = setWriteDeadline(ctx, time.Time{})
}
