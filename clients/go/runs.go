package client

import (
	"context"
	"fmt"
	"iter"
)

// Runs lists the runs list_runs answers for params, following next_page_token from page to
// page until the last, newest first: a CI job finds its runs by label with
//
//	for run, err := range client.Runs(ctx, c, &client.ListRunsParams{Label: &client.LabelFilter{"ci-job=1234"}}) {
//		if err != nil { return err }
//		fmt.Println(run.Name, run.Phase)
//	}
//
// params.PageToken is where it starts ("" or nil for the first page); params is not
// changed. The sequence ends at the first error (a *Problem for an answer that is not 2xx,
// see ErrorOf), which it yields with a zero run.
func Runs(ctx context.Context, c ClientWithResponsesInterface, params *ListRunsParams) iter.Seq2[RunResponse, error] {
	return func(yield func(RunResponse, error) bool) {
		var p ListRunsParams
		if params != nil {
			p = *params
		}
		for {
			res, err := c.ListRunsWithResponse(ctx, &p)
			if err == nil {
				err = ErrorOf(res)
			}
			if err == nil && res.JSON200 == nil {
				err = fmt.Errorf("unexpected %s answer", res.ContentType())
			}
			if err != nil {
				yield(RunResponse{}, fmt.Errorf("list_runs: %w", err))
				return
			}
			for _, r := range res.JSON200.Runs {
				if !yield(r, nil) {
					return
				}
			}
			next := res.JSON200.NextPageToken
			if next == nil || *next == "" {
				return
			}
			p.PageToken = next
		}
	}
}
