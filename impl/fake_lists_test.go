package impl_test

import (
	"context"
	"slices"
	"strings"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// ListRuns lists the fake's runs that match the request and that its visibility allows,
// newest first (by name among equal times). It keeps the request it received, so tests see
// what the HTTP layer asked for (filters, visibility). Its page token is the name of the
// last run of the page, behind the filters' key.
func (f *fakeBackend) ListRuns(ctx context.Context, req controlplane.ListRunsRequest) (controlplane.RunPage, error) {
	if err := f.record(ctx, "ListRuns"); err != nil {
		return controlplane.RunPage{}, err
	}
	f.keep("ListRuns", req)
	after := ""
	if req.PageToken != "" {
		key, name, ok := strings.Cut(req.PageToken, ".")
		if !ok || key != req.FilterKey() {
			return controlplane.RunPage{}, controlplane.Errorf(controlplane.CodeInvalidInput, "page_token: not a token of this list")
		}
		after = name
	}
	f.mu.Lock()
	var runs []controlplane.Run
	for _, r := range f.runs {
		if req.Matches(r) && req.Visible.Allows(r) {
			runs = append(runs, r)
		}
	}
	f.mu.Unlock()
	slices.SortFunc(runs, func(a, b controlplane.Run) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.Name, a.Name)
	})
	if after != "" {
		for i, r := range runs {
			if r.Name == after {
				runs = runs[i+1:]
				break
			}
		}
	}
	page := controlplane.RunPage{Runs: runs}
	if n := req.PageSize(); len(runs) > n {
		page.Runs = runs[:n]
		page.NextPageToken = req.FilterKey() + "." + runs[n-1].Name
	}
	return page, nil
}
