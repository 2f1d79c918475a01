package boundedfile_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/internal/boundedfile"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRead(t *testing.T) {
	t.Parallel()
	p := write(t, "12345")
	if b, err := boundedfile.Read(p, 5); err != nil || string(b) != "12345" {
		t.Fatalf("at the limit: %q %v", b, err)
	}
	var tooLarge *boundedfile.TooLargeError
	if _, err := boundedfile.Read(p, 4); !errors.As(err, &tooLarge) || tooLarge.Limit != 4 || !strings.Contains(err.Error(), "larger than 4 bytes") {
		t.Fatalf("over the limit: %v", err)
	}
	if _, err := boundedfile.Read(filepath.Join(t.TempDir(), "none"), 4); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestDecodeYAML(t *testing.T) {
	t.Parallel()
	var v struct {
		A int `yaml:"a"`
	}
	if err := boundedfile.DecodeYAML(write(t, "a: 3\n"), 100, &v); err != nil || v.A != 3 {
		t.Fatalf("%v %v", v, err)
	}
	if err := boundedfile.DecodeYAML(write(t, ""), 100, &v); err != nil || v.A != 3 {
		t.Fatalf("empty file: %v %v", v, err)
	}
	if err := boundedfile.DecodeYAML(write(t, "a: 1\nb: 2\n"), 100, &v); err == nil || !strings.Contains(err.Error(), "b: unknown key; the keys here are a") {
		t.Fatalf("unknown key: %v", err)
	}
}
