package local

import (
	"context"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// ListRuns lists the runs that match req and that req.Visible lets the caller see, newest
// first, one keyset page at a time (see store_lists.go). Runs stored before callers were
// recorded match no caller filter.
func (b *Backend) ListRuns(ctx context.Context, req controlplane.ListRunsRequest) (controlplane.RunPage, error) {
	if _, err := b.caller(ctx); err != nil {
		return controlplane.RunPage{}, err
	}
	if t := req.Task; t != nil && (t.Domain == "" || t.Project == "" || t.Name == "") {
		return controlplane.RunPage{}, controlplane.Errorf(controlplane.CodeInvalidInput, "task: want domain, project and name")
	}
	if err := controlplane.CheckLabels(req.Labels); err != nil {
		return controlplane.RunPage{}, err
	}
	q, err := newListQuery(req)
	if err != nil {
		return controlplane.RunPage{}, err
	}
	rows, err := b.st.listRuns(ctx, q)
	if err != nil {
		return controlplane.RunPage{}, err
	}
	var page controlplane.RunPage
	if n := req.PageSize(); len(rows) > n {
		rows = rows[:n]
		page.NextPageToken = encodePageToken(rows[n-1].Key, req.FilterKey())
	}
	page.Runs = make([]controlplane.Run, 0, len(rows))
	for _, r := range rows {
		page.Runs = append(page.Runs, b.toRun(r.runRow))
	}
	return page, nil
}
