package client

import (
	"context"
	"fmt"
	"time"
)

// WaitForRun polls get_run every interval (one second when interval <= 0) until the run is
// done, and returns its last state, whatever phase it ended in: check Phase for Succeeded.
// It returns the problem as an error when get_run fails (a *Problem, see ErrorOf), and
// ctx.Err() when ctx ends first.
func WaitForRun(ctx context.Context, c ClientWithResponsesInterface, name string, interval time.Duration) (*RunResponse, error) {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := c.GetRunWithResponse(ctx, name, nil)
		if err != nil {
			return nil, fmt.Errorf("get_run %s: %w", name, err)
		}
		if err := ErrorOf(res); err != nil {
			return nil, fmt.Errorf("get_run %s: %w", name, err)
		}
		if res.JSON200 == nil {
			return nil, fmt.Errorf("get_run %s: unexpected %s answer", name, res.ContentType())
		}
		if res.JSON200.Done {
			return res.JSON200, nil
		}
		select {
		case <-ctx.Done():
			return res.JSON200, ctx.Err()
		case <-t.C:
		}
	}
}
