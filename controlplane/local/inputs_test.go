package local_test

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
)

// TestOddInputsAreInvalidNotPanics: what a direct caller (or a hostile JSON body) can put in
// the inputs map is refused as invalid input naming the input, never a panic or a 500.
func TestOddInputsAreInvalidNotPanics(t *testing.T) {
	t.Parallel()
	b, _ := open(t, nil, nil)
	cases := []struct {
		name   string
		inputs map[string]any
	}{
		{"NaN float for integer", map[string]any{"name": "x", "times": math.NaN()}},
		{"Inf for integer", map[string]any{"name": "x", "times": math.Inf(1)}},
		{"not a number", map[string]any{"name": "x", "times": json.Number("abc")}},
		{"hex", map[string]any{"name": "x", "times": json.Number("0x10")}},
		{"huge exponent", map[string]any{"name": "x", "times": json.Number("1e999999999")}},
		{"tiny exponent", map[string]any{"name": "x", "times": json.Number("1e-999999999")}},
		{"fraction", map[string]any{"name": "x", "times": json.Number("1/2")}},
		{"Go string slice for string", map[string]any{"name": []string{"x"}}},
		{"channel", map[string]any{"name": make(chan int)}},
		{"null for required", map[string]any{"name": nil}},
	}
	for _, c := range cases {
		_, err := b.RunTask(context.Background(), controlplane.RunTaskRequest{Task: ref("echo"), Inputs: c.inputs})
		if controlplane.CodeOf(err) != controlplane.CodeInvalidInput {
			t.Errorf("%s: %v, want invalid input", c.name, err)
		}
	}
	// 1e3 and 3.0 are integers written as floats.
	for _, n := range []string{"1e3", "3.0", "-0", "9223372036854775807"} {
		if _, err := b.RunTask(context.Background(), controlplane.RunTaskRequest{Task: ref("echo"), Inputs: map[string]any{"name": "x", "times": json.Number(n)}}); err != nil {
			t.Errorf("times %s: %v", n, err)
		}
	}
	_, err := b.RunTask(context.Background(), controlplane.RunTaskRequest{Task: ref("echo"), Inputs: map[string]any{"name": "x", "times": json.Number("9223372036854775808")}})
	if !strings.Contains(controlplane.MessageOf(err), "out of the 64-bit range") {
		t.Errorf("2^63: %v", err)
	}
}

// FuzzRunTaskInputs: any JSON object as inputs either starts a run or is invalid input.
func FuzzRunTaskInputs(f *testing.F) {
	for _, s := range []string{`{"name":"x"}`, `{"name":"x","times":1e400}`, `{"times":-0.0}`, `{"name":{"a":[1,2]}}`, `{"a":9007199254740993,"b":1}`} {
		f.Add(s)
	}
	b, _ := open(f, nil, func(c *local.Config) { c.Concurrency = 1 })
	f.Fuzz(func(t *testing.T, body string) {
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		var in map[string]any
		if dec.Decode(&in) != nil {
			return
		}
		for _, task := range []string{"echo", "sum"} {
			_, err := b.RunTask(context.Background(), controlplane.RunTaskRequest{Task: ref(task), Inputs: in})
			if err != nil && controlplane.CodeOf(err) != controlplane.CodeInvalidInput {
				t.Fatalf("%s %s: %v", task, body, err)
			}
		}
	})
}
