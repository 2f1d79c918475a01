package local

import "github.com/flyte-webhook/flyte-webhook/controlplane"

// inScope checks that a run lives where the caller said: the optional project and domain of
// a RunRef name the run's task's project and domain here (one namespace of runs, unlike
// Flyte's), so a run elsewhere is not found. "" matches anything.
func inScope(r runRow, ref controlplane.RunRef) error {
	if (ref.Project != "" && ref.Project != r.Project) || (ref.Domain != "" && ref.Domain != r.Domain) {
		return controlplane.Errorf(controlplane.CodeNotFound, "run %q not found in project %q, domain %q", ref.Name, ref.Project, ref.Domain)
	}
	return nil
}
