package local_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
)

// triggerTasks are the tasks the load-time trigger cases refer to: greet has two versions
// with different interfaces (v1 has a datetime input v2 lacks), and a task of the same name
// lives in another domain.
const triggerTasks = `tasks:
  - {domain: d, project: p, name: greet, version: v1, command: [x], inputs: [{name: name, type: string}, {name: times, type: integer, default: 1}, {name: at, type: datetime, default: "2026-01-01T00:00:00Z"}]}
  - {domain: d, project: p, name: greet, version: v2, command: [x], inputs: [{name: name, type: string}, {name: times, type: integer, default: 1}]}
  - {domain: d2, project: p, name: greet, version: v1, command: [x], inputs: [{name: name, type: string}]}
  - {domain: d, project: p, name: other, version: v1, command: [x]}
triggers:
`

// TestTriggerLoadChecks: a trigger that could not fire as declared is refused when the
// workspace loads, with an error naming triggers[i] and the key at fault.
func TestTriggerLoadChecks(t *testing.T) {
	t.Parallel()
	const ok = ""
	cases := []struct{ name, triggers, want string }{
		{"plain", `- {name: nightly, task: d/p/greet, schedule: "0 3 * * *", inputs: {name: x}}`, ok},
		{"descriptor and zone", `- {name: daily, task: d/p/greet, schedule: "@daily", time_zone: Europe/Berlin, inputs: {name: x, times: 2}, active: true}`, ok},
		{"hourly", `- {name: h, task: d/p/other, schedule: "@hourly"}`, ok},
		{"same trigger name on another task", "- {name: n, task: d/p/greet, schedule: '@hourly', inputs: {name: x}}\n- {name: n, task: d/p/other, schedule: '@hourly'}", ok},
		{"pinned version with its own input", `- {name: n, task: d/p/greet, version: v1, schedule: "@hourly", inputs: {name: x, at: "2026-02-01T00:00:00Z"}}`, ok},
		{"kickoff into a string input", `- {name: n, task: d/p/greet, schedule: "* * * * *", kickoff_input: name}`, ok},
		{"kickoff into a datetime input", `- {name: n, task: d/p/greet, version: v1, schedule: "* * * * *", kickoff_input: at, inputs: {name: x}}`, ok},

		{"name upper case", `- {name: Nightly, task: d/p/greet, schedule: "@daily", inputs: {name: x}}`, "triggers[0].name: \"Nightly\" must be 1-63 lower-case"},
		{"name too long", `- {name: ` + strings.Repeat("a", 64) + `, task: d/p/other, schedule: "@daily"}`, "triggers[0].name:"},
		{"name missing", `- {task: d/p/other, schedule: "@daily"}`, "triggers[0].name:"},
		{"task not a path", `- {name: n, task: greet, schedule: "@daily"}`, "triggers[0].task: \"greet\": want domain/project/name"},
		{"task unknown", `- {name: n, task: d/p/nope, schedule: "@daily"}`, "triggers[0].task: \"d/p/nope\": no such task"},
		{"version unknown", `- {name: n, task: d/p/greet, version: v9, schedule: "@daily", inputs: {name: x}}`, "triggers[0].version: task d/p/greet has no version \"v9\""},
		{"schedule missing", `- {name: n, task: d/p/other}`, "triggers[0].schedule: required"},
		{"seconds field", `- {name: n, task: d/p/other, schedule: "0 0 3 * * *"}`, "triggers[0].schedule: \"0 0 3 * * *\": want five fields"},
		{"four fields", `- {name: n, task: d/p/other, schedule: "0 3 * *"}`, "triggers[0].schedule: \"0 3 * *\": want five fields"},
		{"every", `- {name: n, task: d/p/other, schedule: "@every 1h"}`, "triggers[0].schedule: \"@every 1h\": @every intervals are not supported"},
		{"zone in the schedule", `- {name: n, task: d/p/other, schedule: "CRON_TZ=UTC 0 3 * * *"}`, "triggers[0].schedule: \"CRON_TZ=UTC 0 3 * * *\": set the zone with time_zone"},
		{"minute out of range", `- {name: n, task: d/p/other, schedule: "61 * * * *"}`, "triggers[0].schedule: \"61 * * * *\":"},
		{"unknown descriptor", `- {name: n, task: d/p/other, schedule: "@fortnightly"}`, "triggers[0].schedule: \"@fortnightly\":"},
		{"never fires", `- {name: n, task: d/p/other, schedule: "0 0 30 2 *"}`, "triggers[0].schedule: \"0 0 30 2 *\" never fires"},
		{"unknown zone", `- {name: n, task: d/p/other, schedule: "@daily", time_zone: Mars/Olympus}`, "triggers[0].time_zone: \"Mars/Olympus\" is not an IANA time zone"},
		{"machine zone", `- {name: n, task: d/p/other, schedule: "@daily", time_zone: Local}`, "triggers[0].time_zone: \"Local\" depends on the machine"},
		{"required input missing", `- {name: n, task: d/p/greet, schedule: "@daily"}`, "triggers[0].inputs: input \"name\": required (string)"},
		{"unknown input", `- {name: n, task: d/p/greet, schedule: "@daily", inputs: {name: x, bogus: 1}}`, "triggers[0].inputs: input \"bogus\": the task has no such input"},
		{"input of the wrong type", `- {name: n, task: d/p/greet, schedule: "@daily", inputs: {name: x, times: many}}`, "triggers[0].inputs: input \"times\": want integer"},
		{"input only some versions take", `- {name: n, task: d/p/greet, schedule: "@daily", inputs: {name: x, at: "2026-02-01T00:00:00Z"}}`, "(task d/p/greet version v2)"},
		{"input of no task", `- {name: n, task: d/p/other, schedule: "@daily", inputs: {x: 1}}`, "triggers[0].inputs: input \"x\": the task has no such input (it takes: none)"},
		{"kickoff input unknown", `- {name: n, task: d/p/greet, schedule: "@daily", kickoff_input: when, inputs: {name: x}}`, "triggers[0].kickoff_input: \"when\": task d/p/greet version v1 has no such input"},
		{"kickoff input of another type", `- {name: n, task: d/p/greet, schedule: "@daily", kickoff_input: times, inputs: {name: x}}`, "triggers[0].kickoff_input: \"times\": task d/p/greet version v1 declares it integer"},
		{"kickoff input also given", `- {name: n, task: d/p/greet, schedule: "@daily", kickoff_input: name, inputs: {name: x}}`, "triggers[0].kickoff_input: \"name\" is also set under inputs"},
		{"kickoff input only some versions take", `- {name: n, task: d/p/greet, schedule: "@daily", kickoff_input: at, inputs: {name: x}}`, "triggers[0].kickoff_input: \"at\": task d/p/greet version v2 has no such input"},
		{"pair not unique across domains", "- {name: n, task: d/p/greet, schedule: '@daily', inputs: {name: x}}\n- {name: n, task: d2/p/greet, schedule: '@hourly', inputs: {name: y}}",
			"triggers[1].name: \"n\": task greet already has a trigger of that name (triggers[0])"},
		{"unknown key", `- {name: n, task: d/p/other, schedule: "@daily", enabled: true}`, ":7: triggers[0].enabled: unknown key; the keys here are name, task, version, schedule, time_zone, inputs, kickoff_input, active"},
		{"inputs not a mapping", `- {name: n, task: d/p/other, schedule: "@daily", inputs: [a]}`, ":7: triggers[0].inputs: want a mapping, got a list"},
		{"active not a boolean", `- {name: n, task: d/p/other, schedule: "@daily", active: sometimes}`, ":7: triggers[0].active: want true or false"},
		{"second trigger named", "- {name: a, task: d/p/other, schedule: '@daily'}\n- {name: b, task: d/p/other, schedule: '@often'}", "triggers[1].schedule"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ws := filepath.Join(t.TempDir(), "w.yaml")
			body := triggerTasks + "  " + strings.ReplaceAll(c.triggers, "\n", "\n  ") + "\n"
			if err := os.WriteFile(ws, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := local.CheckWorkspace(local.Config{Workspace: ws})
			switch {
			case c.want == ok && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != ok && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("err = %v\nwant it to contain %q", err, c.want)
			}
		})
	}
}
