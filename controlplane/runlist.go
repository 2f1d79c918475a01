package controlplane

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The bounds of a page of runs (ListRunsRequest.Limit).
const (
	// DefaultListLimit is the page size when a request names none.
	DefaultListLimit = 50
	// MaxListLimit is the largest page a request may ask for.
	MaxListLimit = 500
)

// ListRunsRequest asks for one page of runs, newest first. Every filter set narrows the list
// (they combine with AND); a zero filter does not narrow.
//
// Pages are keyset pages: PageToken is the NextPageToken of the page before, made by the same
// backend for the same filters (a token made for other filters is CodeInvalidInput). Paging
// stays correct while runs are added: no run is listed twice and none that existed when the
// first page was read is skipped (runs added meanwhile may or may not show). A page may hold
// fewer runs than Limit, even none, and still have a NextPageToken: the list ends when it has
// none.
type ListRunsRequest struct {
	// Task, when not nil, lists the runs of that task (Domain, Project and Name all set);
	// Version "" means any version.
	Task *TaskRef
	// Phases, when not empty, lists the runs in any of them.
	Phases []Phase
	// Trigger, when not "", lists the runs that trigger started (Run.Trigger).
	Trigger string
	// Caller, when not "", lists the runs that subject started (Run.Caller).
	Caller string
	// Labels, when not empty, lists the runs that carry every one of them.
	Labels map[string]string
	// CreatedSince (inclusive) and CreatedUntil (exclusive) bound the runs' creation times;
	// zero is unbounded.
	CreatedSince, CreatedUntil time.Time
	// Limit is the page size, 1 to MaxListLimit; 0 means DefaultListLimit.
	Limit int
	// PageToken is "" for the first page.
	PageToken string
	// Project and Domain "" mean the backend's defaults (the local backend has one namespace
	// of runs and ignores them; Flyte lists runs of one project and domain). A Task sets
	// them.
	Project, Domain string
	// Visible says which runs the caller may see; the backend lists only those, so that a
	// page, its size and its token say nothing about the others. The zero value sees every
	// run.
	Visible Visibility
}

// Visibility is which runs a caller may see: a run of KindTask when every one of
// TaskAllowlists allows its task (none: every task run), a run of another kind when Kinds
// holds its kind or HideKinds is false (the zero value sees every run).
type Visibility struct {
	TaskAllowlists []*TaskAllowlist
	// HideKinds, when true, hides the runs of every kind but KindTask that Kinds does not
	// name (image builds and model prefetches a webhook does not serve).
	HideKinds bool
	Kinds     []Kind
}

// Allows reports whether the caller may see run.
func (v Visibility) Allows(run Run) bool {
	if run.Kind != KindTask && run.Kind != "" {
		return !v.HideKinds || slices.Contains(v.Kinds, run.Kind)
	}
	for _, a := range v.TaskAllowlists {
		if a == nil || !a.Allows(run.Task.Domain, run.Task.Project, run.Task.Name) {
			return false
		}
	}
	return true
}

// RestrictsTasks reports whether some run of KindTask may be hidden.
func (v Visibility) RestrictsTasks() bool { return len(v.TaskAllowlists) > 0 }

// RunPage is one page of runs, newest first.
type RunPage struct {
	Runs []Run
	// NextPageToken is "" on the last page.
	NextPageToken string
}

// PageSize returns the page size the request asks for (DefaultListLimit for 0), bounded by
// MaxListLimit.
func (r ListRunsRequest) PageSize() int {
	switch {
	case r.Limit <= 0:
		return DefaultListLimit
	case r.Limit > MaxListLimit:
		return MaxListLimit
	}
	return r.Limit
}

// FilterKey is a digest of the request's filters (not of Limit, PageToken or Visible):
// backends put it in their page tokens, so that a token is refused with other filters.
func (r ListRunsRequest) FilterKey() string {
	var b strings.Builder
	add := func(s string) {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	if t := r.Task; t != nil {
		add("task")
		add(t.Domain)
		add(t.Project)
		add(t.Name)
		add(t.Version)
	}
	phases := make([]string, 0, len(r.Phases))
	for _, p := range r.Phases {
		phases = append(phases, string(p))
	}
	slices.Sort(phases)
	phases = slices.Compact(phases)
	add("phases")
	for _, p := range phases {
		add(p)
	}
	add("trigger")
	add(r.Trigger)
	add("caller")
	add(r.Caller)
	keys := make([]string, 0, len(r.Labels))
	for k := range r.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	add("labels")
	for _, k := range keys {
		add(k)
		add(r.Labels[k])
	}
	add("since")
	add(timeKey(r.CreatedSince))
	add("until")
	add(timeKey(r.CreatedUntil))
	add("scope")
	add(r.Project)
	add(r.Domain)
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:8])
}

func timeKey(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

// Matches reports whether run passes the request's filters (not Visible). Backends that
// filter some of them after reading use it, and tests compare pages with it.
func (r ListRunsRequest) Matches(run Run) bool {
	if t := r.Task; t != nil {
		if run.Task.Domain != t.Domain || run.Task.Project != t.Project || run.Task.Name != t.Name {
			return false
		}
		if t.Version != "" && run.Task.Version != t.Version {
			return false
		}
	}
	if len(r.Phases) > 0 && !slices.Contains(r.Phases, run.Phase) {
		return false
	}
	if r.Trigger != "" && run.Trigger != r.Trigger {
		return false
	}
	if r.Caller != "" && run.Caller != r.Caller {
		return false
	}
	for k, v := range r.Labels {
		if have, ok := run.Labels[k]; !ok || have != v {
			return false
		}
	}
	if !r.CreatedSince.IsZero() && run.CreatedAt.Before(r.CreatedSince) {
		return false
	}
	if !r.CreatedUntil.IsZero() && !run.CreatedAt.Before(r.CreatedUntil) {
		return false
	}
	return true
}

// The bounds of run labels.
const (
	// MaxLabels is how many labels a run may carry.
	MaxLabels = 16
	// MaxLabelLength bounds a label's key and its value alike.
	MaxLabelLength = 63
)

// A label key is lower case, a value any case; both are 1 to 63 letters, digits, '-', '_'
// and '.', beginning and ending with a letter or digit. Both are valid Kubernetes label
// names and values, so every backend can keep them as they are.
var (
	labelKeyPattern   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9_.]{0,61}[a-z0-9])?$`)
	labelValuePattern = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
)

// CheckLabels returns CodeInvalidInput naming the first label (by key order) that is not
// accepted, or more than MaxLabels of them.
func CheckLabels(labels map[string]string) error {
	if len(labels) > MaxLabels {
		return Errorf(CodeInvalidInput, "label: %d labels, at most %d are allowed", len(labels), MaxLabels)
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !labelKeyPattern.MatchString(k) {
			return Errorf(CodeInvalidInput, "label: key %q: want 1-%d lower-case letters, digits, '-', '_' or '.', beginning and ending with a letter or digit", k, MaxLabelLength)
		}
		if v := labels[k]; !labelValuePattern.MatchString(v) {
			return Errorf(CodeInvalidInput, "label %s: value %q: want 1-%d letters, digits, '-', '_' or '.', beginning and ending with a letter or digit", k, v, MaxLabelLength)
		}
	}
	return nil
}

// ParseLabels reads labels written key=value, as the API's label parameters are, and checks
// them (CheckLabels). A key given twice is CodeInvalidInput.
func ParseLabels(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return nil, Errorf(CodeInvalidInput, "label %q: want key=value", p)
		}
		if _, dup := out[k]; dup {
			return nil, Errorf(CodeInvalidInput, "label %s: given twice", k)
		}
		out[k] = v
	}
	if err := CheckLabels(out); err != nil {
		return nil, err
	}
	return out, nil
}
