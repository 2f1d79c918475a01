package boundedfile_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flyte-webhook/flyte-webhook/internal/boundedfile"
)

// The shapes DecodeYAML must see through: inline structs, pointers, slices of structs, maps,
// yaml.Node fields, a type with its own UnmarshalYAML, durations.
type (
	doc struct {
		Name    string        `yaml:"name"`
		Port    int           `yaml:"port"`
		On      *bool         `yaml:"on"`
		Ratio   float64       `yaml:"ratio"`
		Wait    time.Duration `yaml:"wait"`
		List    *[]string     `yaml:"list"`
		Backend backend       `yaml:"backend"`
		Items   []item        `yaml:"items"`
		Skipped string        `yaml:"-"`
		hidden  string        //nolint:unused // unexported: never a key
	}
	backend struct {
		Type  string    `yaml:"type"`
		Local *local    `yaml:"local"`
		Other yaml.Node `yaml:"other"` // a value: yaml.v3 decodes a *yaml.Node as a struct
	}
	local struct {
		base `yaml:",inline"`
		Auth struct {
			Tokens []struct {
				SHA256 string `yaml:"sha256"`
			} `yaml:"tokens"`
		} `yaml:"auth"`
	}
	base struct {
		Workspace string `yaml:"workspace"`
		DataDir   string `yaml:"data_dir"`
	}
	item struct {
		Name    string            `yaml:"name"`
		Env     map[string]string `yaml:"env"`
		Timeout strictDuration    `yaml:"timeout"`
		Default yaml.Node         `yaml:"default"`
		Extra   map[string]int    `yaml:",inline"`
	}
	strictDuration time.Duration
)

func (d *strictDuration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || n.ShortTag() != "!!str" {
		return fmt.Errorf("line %d: want a duration like \"30s\", got %q", n.Line, n.Value)
	}
	*d = strictDuration(v)
	return nil
}

// TestDecodeYAMLPaths: errors name the YAML path, the line and what is allowed, never a Go type.
func TestDecodeYAMLPaths(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body string
		want       []string // every error line, in order, after the file name
	}{
		{"unknown top-level key", "name: x\nbogus: 1\n",
			[]string{":2: bogus: unknown key; the keys here are name, port, on, ratio, wait, list, backend, items"}},
		{"unknown nested key", "backend:\n  local:\n    workspace: w\n    bogus: 1\n",
			[]string{":4: backend.local.bogus: unknown key; the keys here are workspace, data_dir, auth"}},
		{"inline keys are allowed", "backend:\n  local:\n    workspace: w\n    data_dir: d\n", nil},
		{"deeper", "backend:\n  local:\n    auth:\n      tokens:\n        - {sha256: a}\n        - {sha: b}\n",
			[]string{":6: backend.local.auth.tokens[1].sha: unknown key; the keys here are sha256"}},
		{"key in a list item", "items:\n  - name: a\n  - name: b\n  - name: c\n    env: {A: b}\n    timeout: 5s\n    default: {any: [thing]}\n    bogus: x\n",
			[]string{":8: items[2].bogus: want an integer, got \"x\""}},
		{"inline map takes other keys", "items:\n  - name: a\n    more: 3\n", nil},
		{"not an integer", "port: http\n", []string{`:1: port: want an integer, got "http"`}},
		{"not a bool", "on: maybe\n", []string{`:1: on: want true or false, got "maybe"`}},
		{"not a number", "ratio: [1]\n", []string{`:1: ratio: want a number, got a list`}},
		{"not a duration", "wait: 30\n", []string{`:1: wait: want a duration like "30s" or "1h30m", got "30"`}},
		{"a duration", "wait: 1m30s\n", nil},
		{"not a list", "list: a\n", []string{`:1: list: want a list, got "a"`}},
		{"not a mapping", "backend: local\n", []string{`:1: backend: want a mapping with the keys type, local, other, got "local"`}},
		{"not a mapping of strings", "items: [{env: {A: [x]}}]\n", []string{`:1: items[0].env.A: want a string, got a list`}},
		{"own unmarshaler", "items:\n  - timeout: 5\n", []string{`:2: items[0].timeout: want a duration like "30s", got "5"`}},
		{"yaml.Node takes anything", "backend: {other: {x: [1, {y: 2}]}}\n", nil},
		{"skipped field is unknown", "skipped: x\n", []string{":1: skipped: unknown key; the keys here are name, port, on, ratio, wait, list, backend, items"}},
		{"hidden field is unknown", "hidden: x\n", []string{":1: hidden: unknown key; the keys here are name, port, on, ratio, wait, list, backend, items"}},
		{"set twice", "name: a\nport: 1\nname: b\n", []string{":3: name: set twice (first on line 1)"}},
		{"several errors", "port: x\nbackend:\n  tipe: local\n", []string{`:1: port: want an integer, got "x"`, ":3: backend.tipe: unknown key; the keys here are type, local, other"}},
		{"the document is not a mapping", "- a\n", []string{`:1: the document: want a mapping with the keys name, port, on, ratio, wait, list, backend, items, got a list`}},
		{"merge keys", "items:\n  - &a {name: a}\n  - <<: *a\n    env: {}\n", nil},
		{"merged key of the wrong kind", "items:\n  - &a {name: a, nope: x}\n  - <<: *a\n", []string{
			`:2: items[0].nope: want an integer, got "x"`, `:2: items[1].nope: want an integer, got "x"`}},
		{"merged unknown key", "backend:\n  local: &l {workspace: w}\n  other: {}\n  <<: *l\n", []string{
			`:2: backend.workspace: unknown key; the keys here are type, local, other`}},
		{"alias checked where used", "items: [&i {name: a}]\nbackend: *i\n", []string{":1: backend.name: unknown key; the keys here are type, local, other"}},
		{"null is zero", "backend:\nitems:\n", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := write(t, c.body)
			var v doc
			err := boundedfile.DecodeYAML(p, 1<<10, &v)
			if c.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			var got []string
			for _, line := range strings.Split(err.Error(), "\n") {
				got = append(got, strings.TrimPrefix(line, p))
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("error:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			if strings.Contains(err.Error(), "boundedfile_test.") || strings.Contains(err.Error(), "not found in type") {
				t.Fatalf("a Go type leaked: %v", err)
			}
			var fe *boundedfile.FieldError
			if !errors.As(err, &fe) || fe.File != p || fe.Line == 0 {
				t.Fatalf("not a *FieldError naming the file and line: %#v", err)
			}
		})
	}
}

func TestDecodeYAMLEdges(t *testing.T) {
	t.Parallel()
	var v doc
	// A recursive alias ends the walk; yaml.v3 reports it.
	if err := boundedfile.DecodeYAML(write(t, "items: &a [*a]\n"), 1<<10, &v); err == nil {
		t.Fatal("a recursive alias was accepted")
	}
	// Comments only: nothing is decoded.
	v = doc{Name: "kept"}
	if err := boundedfile.DecodeYAML(write(t, "# nothing\n\n"), 1<<10, &v); err != nil || v.Name != "kept" {
		t.Fatalf("comments only: %v %v", v, err)
	}
	// Many errors: a bounded report.
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, "k%d: 1\n", i)
	}
	err := boundedfile.DecodeYAML(write(t, b.String()), 1<<12, &v)
	if err == nil || strings.Count(err.Error(), "\n") != 20 || !strings.HasSuffix(err.Error(), "and 30 more") {
		t.Fatalf("50 errors: %v", err)
	}
	if err := boundedfile.DecodeYAML(write(t, "a: 1"), 1<<10, v); err == nil {
		t.Fatal("a non-pointer was accepted")
	}
	if err := boundedfile.DecodeYAML(write(t, "a: [1"), 1<<10, &v); err == nil || strings.Contains(err.Error(), ": yaml: ") {
		t.Fatalf("syntax error: %v", err)
	}
}
