package local

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// The triggers of the workspace file:
//
//	triggers:
//	  - name: every-minute       # 1-63 lower-case letters, digits and '-', starting and ending
//	                             # with a letter or digit
//	    task: development/examples/greet   # domain/project/name of a task of this workspace
//	    version: v1              # optional; default: the task's latest version when it fires
//	    schedule: "* * * * *"    # five cron fields (minute hour day-of-month month day-of-week)
//	                             # or @yearly, @annually, @monthly, @weekly, @daily, @midnight,
//	                             # @hourly
//	    time_zone: UTC           # optional IANA zone the schedule is read in; default UTC
//	    inputs: {times: 2}       # the run's inputs, checked against the task's interface
//	    kickoff_input: name      # optional: a datetime or string input of the task that
//	                             # receives the scheduled time (RFC 3339, in time_zone)
//	    active: false            # the state until it is switched through the API
//
// Everything is checked when the workspace loads (at Open, on Reload, by CheckWorkspace),
// so a bad trigger is refused then, not when it first fires: the task must be declared by
// the same file (and the version, when one is given); the inputs must be what run_task
// would accept for it (for a trigger without a version, for every version the file
// declares, since any of them may be the latest when it fires), with kickoff_input's value
// supplied by the trigger and so not among inputs; the schedule must parse and fire at all
// ("0 0 30 2 *" never does); (task name, trigger name) must be unique in the file, since the
// API addresses a trigger by the task's name and its own. Seconds fields, "@every"
// intervals and a zone inside the schedule (CRON_TZ=, TZ=) are refused: schedule times must
// be wall-clock times that every server computes alike, as they key each fire (see
// scheduler.go), and time_zone is the one place a zone is set.
type triggerSpec struct {
	Name         string               `yaml:"name"`
	Task         string               `yaml:"task"`
	Version      string               `yaml:"version"`
	Schedule     string               `yaml:"schedule"`
	TimeZone     string               `yaml:"time_zone"`
	Inputs       map[string]yaml.Node `yaml:"inputs"`
	KickoffInput string               `yaml:"kickoff_input"`
	Active       bool                 `yaml:"active"`
}

// trigger is a loaded, checked trigger declaration.
type trigger struct {
	Name     string
	Task     taskKey
	Version  string // "" is the latest version at fire time
	Schedule *cron.SpecSchedule
	// Location is where the schedule is read; Schedule.Location is set to it.
	Location     *time.Location
	Inputs       map[string]any // JSON form (numbers as json.Number), kickoff input not included
	KickoffInput string
	Active       bool // the declared state
	// Declaration is a digest of everything declared (active included): a trigger whose
	// declaration changes loses the state set through the API (see scheduler.go).
	Declaration string
}

// triggerKey is how the API addresses a trigger: the task's name and the trigger's.
type triggerKey struct{ Task, Name string }

func (t *trigger) key() triggerKey { return triggerKey{t.Task.name, t.Name} }

// String names the trigger as logs and messages do: task/trigger.
func (k triggerKey) String() string { return k.Task + "/" + k.Name }

var (
	// triggerNameRe is the name rule of apps and triggers (the Python app's rule for names).
	triggerNameRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	cronParser    = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
)

// triggerError names the trigger's key in the file: triggers[i].key.
func triggerError(i int, key, format string, args ...any) error {
	return fmt.Errorf("workspace: triggers[%d].%s: %s", i, key, fmt.Sprintf(format, args...))
}

// checkTriggers checks the declared triggers against the loaded tasks and returns them in
// file order.
func checkTriggers(ws *workspace, specs []triggerSpec) ([]*trigger, error) {
	seen := map[triggerKey]int{}
	out := make([]*trigger, 0, len(specs))
	for i, ts := range specs {
		tr, err := ts.check(i, ws)
		if err != nil {
			return nil, err
		}
		if j, dup := seen[tr.key()]; dup {
			return nil, triggerError(i, "name", "%q: task %s already has a trigger of that name (triggers[%d]); the API addresses a trigger by its task's name and its own, so the pair must be unique in the workspace", ts.Name, tr.Task.name, j)
		}
		seen[tr.key()] = i
		out = append(out, tr)
	}
	return out, nil
}

func (ts triggerSpec) check(i int, ws *workspace) (*trigger, error) {
	if !triggerNameRe.MatchString(ts.Name) {
		return nil, triggerError(i, "name", "%q must be 1-63 lower-case letters, digits and '-', starting and ending with a letter or digit", ts.Name)
	}
	parts := strings.Split(ts.Task, "/")
	if len(parts) != 3 || !namePart.MatchString(parts[0]) || !namePart.MatchString(parts[1]) || !namePart.MatchString(parts[2]) {
		return nil, triggerError(i, "task", "%q: want domain/project/name of a task of this workspace", ts.Task)
	}
	tk := taskKey{parts[0], parts[1], parts[2]}
	versions := ws.versions[tk]
	if len(versions) == 0 {
		return nil, triggerError(i, "task", "%q: no such task in this workspace", ts.Task)
	}
	if ts.Version != "" && versions[ts.Version] == nil {
		return nil, triggerError(i, "version", "task %s has no version %q in this workspace", ts.Task, ts.Version)
	}
	sched, err := parseSchedule(ts.Schedule)
	if err != nil {
		return nil, triggerError(i, "schedule", "%s", err)
	}
	zone := ts.TimeZone
	if zone == "" {
		zone = "UTC"
	}
	loc, err := loadZone(zone)
	if err != nil {
		return nil, triggerError(i, "time_zone", "%s", err)
	}
	sched.Location = loc
	if sched.Next(time.Now()).IsZero() {
		return nil, triggerError(i, "schedule", "%q never fires (no such date in the next five years)", ts.Schedule)
	}
	inputs := make(map[string]any, len(ts.Inputs))
	for name, n := range ts.Inputs {
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, triggerError(i, "inputs."+name, "%v", err)
		}
		if v, err = jsonValue(v); err != nil {
			return nil, triggerError(i, "inputs."+name, "%v", err)
		}
		inputs[name] = v
	}
	// The versions it may fire: the one it names, or any the file declares.
	var check []*task
	if ts.Version != "" {
		check = []*task{versions[ts.Version]}
	} else {
		for _, v := range sortedKeys(versions) {
			check = append(check, versions[v])
		}
	}
	if ts.KickoffInput != "" {
		if _, given := inputs[ts.KickoffInput]; given {
			return nil, triggerError(i, "kickoff_input", "%q is also set under inputs; the trigger sets it to the scheduled time", ts.KickoffInput)
		}
		for _, t := range check {
			v, ok := inputVar(t, ts.KickoffInput)
			switch {
			case !ok:
				return nil, triggerError(i, "kickoff_input", "%q: task %s version %s has no such input (it takes: %s)", ts.KickoffInput, ts.Task, t.Ref.Version, inputNames(t))
			case v.Type != "datetime" && v.Type != "string":
				return nil, triggerError(i, "kickoff_input", "%q: task %s version %s declares it %s; the scheduled time goes to a datetime or string input", ts.KickoffInput, ts.Task, t.Ref.Version, v.Type)
			}
		}
	}
	for _, t := range check {
		if _, err := bindInputs(t, withKickoff(inputs, ts.KickoffInput, time.Unix(0, 0).In(loc))); err != nil {
			return nil, triggerError(i, "inputs", "%s (task %s version %s)", controlplane.MessageOf(err), ts.Task, t.Ref.Version)
		}
	}
	tr := &trigger{
		Name: ts.Name, Task: tk, Version: ts.Version, Schedule: sched, Location: loc,
		Inputs: inputs, KickoffInput: ts.KickoffInput, Active: ts.Active,
	}
	decl, err := json.Marshal(struct {
		Task, Version, Schedule, TimeZone string
		Inputs                            map[string]any
		KickoffInput                      string
		Active                            bool
	}{ts.Task, ts.Version, ts.Schedule, zone, inputs, ts.KickoffInput, ts.Active})
	if err != nil {
		return nil, triggerError(i, "inputs", "%v", err)
	}
	sum := sha256.Sum256(decl)
	tr.Declaration = hex.EncodeToString(sum[:])
	return tr, nil
}

// parseSchedule parses five cron fields or a descriptor such as @daily.
func parseSchedule(s string) (*cron.SpecSchedule, error) {
	switch f := strings.TrimSpace(s); {
	case f == "":
		return nil, fmt.Errorf("required: five cron fields (minute hour day-of-month month day-of-week) or @hourly, @daily, @weekly, @monthly, @yearly")
	case strings.HasPrefix(f, "TZ=") || strings.HasPrefix(f, "CRON_TZ="):
		return nil, fmt.Errorf("%q: set the zone with time_zone, not in the schedule", s)
	case strings.HasPrefix(f, "@every"):
		return nil, fmt.Errorf("%q: @every intervals are not supported; write the times as cron fields (e.g. \"*/5 * * * *\")", s)
	case !strings.HasPrefix(f, "@") && len(strings.Fields(f)) != 5:
		return nil, fmt.Errorf("%q: want five fields (minute hour day-of-month month day-of-week), got %d; seconds are not supported", s, len(strings.Fields(f)))
	}
	sched, err := cronParser.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q: %v", s, err)
	}
	spec, ok := sched.(*cron.SpecSchedule)
	if !ok { // only @every parses to another kind, and it is refused above
		return nil, fmt.Errorf("%q: not a calendar schedule", s)
	}
	return spec, nil
}

// loadZone loads an IANA time zone. The server binary embeds the zone database
// (time/tzdata), so this works on a machine without one.
func loadZone(name string) (*time.Location, error) {
	if name == "Local" {
		return nil, fmt.Errorf("%q depends on the machine; name an IANA zone such as Europe/Berlin, or UTC", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q is not an IANA time zone (such as UTC, Europe/Berlin, America/New_York)", name)
	}
	return loc, nil
}

func inputVar(t *task, name string) (controlplane.Variable, bool) {
	for _, v := range t.Inputs {
		if v.Name == name {
			return v, true
		}
	}
	return controlplane.Variable{}, false
}

// withKickoff returns inputs with the kickoff input set to at (RFC 3339), or inputs itself
// when there is no kickoff input.
func withKickoff(inputs map[string]any, kickoff string, at time.Time) map[string]any {
	if kickoff == "" {
		return inputs
	}
	out := make(map[string]any, len(inputs)+1)
	for k, v := range inputs {
		out[k] = v
	}
	out[kickoff] = at.Format(time.RFC3339)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
