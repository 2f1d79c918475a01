package local_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
//
// With -fuzz, each fuzz worker is a process of its own, which the coordinator stops by
// closing its input and, when it has not exited a second later, SIGINT and then SIGKILL: a
// worker's cleanups may never run. So every process keeps its backend's files (the data dir,
// and the scratch directory, not in /dev/shm) in a folder under one directory that the first
// process made and passed on to its workers in FWH_FUZZ_DIR; that process removes the whole
// directory last, once its workers have stopped. Each process opens its backend at its first
// input (the coordinator never needs one) and closes it in its cleanup.
func FuzzRunTaskInputs(f *testing.F) {
	for _, s := range []string{`{"name":"x"}`, `{"name":"x","times":1e400}`, `{"times":-0.0}`, `{"name":{"a":[1,2]}}`, `{"a":9007199254740993,"b":1}`} {
		f.Add(s)
	}
	root := os.Getenv("FWH_FUZZ_DIR")
	if root == "" {
		root = f.TempDir()
		f.Setenv("FWH_FUZZ_DIR", root) // the workers inherit the coordinator's environment
	}
	dir, err := os.MkdirTemp(root, "process")
	if err != nil {
		f.Fatal(err)
	}
	var (
		once    sync.Once
		b       *local.Backend
		openErr error
	)
	backend := func(t *testing.T) *local.Backend {
		once.Do(func() {
			ws := filepath.Join(dir, "workspace.yaml")
			if openErr = os.WriteFile(ws, []byte(workspaceYAML(t, fixtures)), 0o600); openErr != nil {
				return
			}
			b, openErr = local.Open(context.Background(), local.Config{Workspace: ws, DataDir: filepath.Join(dir, "data"),
				ScratchDir: filepath.Join(dir, "scratch"), Concurrency: 1, AbortGrace: 100 * time.Millisecond})
		})
		if openErr != nil {
			t.Fatal(openErr)
		}
		return b
	}
	f.Cleanup(func() {
		if b != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			_ = b.Close(ctx)
		}
		_ = os.RemoveAll(dir)
	})
	f.Fuzz(func(t *testing.T, body string) {
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		var in map[string]any
		if dec.Decode(&in) != nil {
			return
		}
		for _, task := range []string{"echo", "sum"} {
			_, err := backend(t).RunTask(context.Background(), controlplane.RunTaskRequest{Task: ref(task), Inputs: in})
			if err != nil && controlplane.CodeOf(err) != controlplane.CodeInvalidInput {
				t.Fatalf("%s %s: %v", task, body, err)
			}
		}
	})
}
