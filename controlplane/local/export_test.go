package local

import "context"

// Test-only access to the backend's insides, for the black-box tests of package local_test.

// FailWrites makes every commit of b's store fail, as a full disk would, while f returns an
// error for one of the commit's ops (named after the store's methods: "markRunning",
// "finishRun", …). nil lets writes through again.
func FailWrites(b *Backend, f func(op string) error) {
	if f == nil {
		b.st.failWrites.Store(nil)
		return
	}
	b.st.failWrites.Store(&f)
}

// AttemptOutcomes lists the outcome of each recorded attempt of a run, in order ("" for one
// still running).
func AttemptOutcomes(b *Backend, run string) ([]string, error) {
	rows, err := b.st.attemptsOf(context.Background(), run)
	var out []string
	for _, r := range rows {
		out = append(out, string(r.Outcome))
	}
	return out, err
}
