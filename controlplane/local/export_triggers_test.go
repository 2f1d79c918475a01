package local

import (
	"context"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// TriggerRuns lists the runs a trigger started, by schedule time (run lists come with a
// later issue; until then the tests read them here).
func TriggerRuns(b *Backend, task, trigger string) ([]controlplane.Run, error) {
	rows, err := b.st.triggerRuns(context.Background(), triggerKey{task, trigger})
	out := make([]controlplane.Run, len(rows))
	for i, r := range rows {
		out[i] = b.toRun(r)
	}
	return out, err
}
