package hfhub_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/internal/hfhub"
)

func TestValidRepo(t *testing.T) {
	t.Parallel()
	for _, repo := range []string{"openai-community/gpt2", "a/b", "Foo-BAR_foo.bar123/x_", "_a/b.c-d", "Qwen/Qwen3-0.6B",
		strings.Repeat("o", 96) + "/" + strings.Repeat("n", 96)} {
		if err := hfhub.ValidRepo(repo); err != nil {
			t.Errorf("ValidRepo(%q): %v", repo, err)
		}
	}
	for _, tc := range []struct{ repo, want string }{
		{"gpt2", "owner/name"},
		{"", "owner/name"},
		{"a/b/c", "owner/name"},
		{"../etc", "start and end"},
		{"a/..", "start and end"},
		{"..%2f/x", "only ASCII"},
		{"a/.hidden", "start and end"},
		{"a/b-", "start and end"},
		{"a/b.git", ".git"},
		{"a--b/c", "'--'"},
		{"a/b..c", "'..'"},
		{"a/", "1 to 96"},
		{"/b", "1 to 96"},
		{strings.Repeat("o", 97) + "/b", "1 to 96"},
		{"a/b c", "only ASCII"},
		{"a/é", "only ASCII"},
		{"a/b?c", "only ASCII"},
		{"a/b\x00", "only ASCII"},
	} {
		err := hfhub.ValidRepo(tc.repo)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ValidRepo(%q) = %v, want an error saying %q", tc.repo, err, tc.want)
		}
	}
}

func TestResolveDir(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	root := filepath.Join(base, "models")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{root, outside, filepath.Join(root, "real")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(root, "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(root, "in")); err != nil {
		t.Fatal(err)
	}
	ok := []struct{ raw, def, want string }{
		{"", "owner/name", "owner/name"},
		{"team/llm", "x/y", "team/llm"},
		{"team//llm/", "x/y", "team/llm"},
		{"./a/./b", "x/y", "a/b"},
		{filepath.Join(root, "abs", "dir"), "x/y", "abs/dir"},
		{"in/sub", "x/y", "in/sub"},
		{"new/deeper/still", "x/y", "new/deeper/still"},
	}
	for _, tc := range ok {
		got, err := hfhub.ResolveDir(root, tc.raw, tc.def)
		if err != nil || got != tc.want {
			t.Errorf("ResolveDir(%q) = %q, %v; want %q", tc.raw, got, err, tc.want)
		}
	}
	bad := []struct{ raw, want string }{
		{"../x", "'..'"},
		{"a/../../x", "'..'"},
		{"a/../b", "'..'"},
		{outside, "outside the models directory"},
		{"/etc/passwd", "outside the models directory"},
		{root, "the models directory itself"},
		{".", "the models directory itself"},
		{"out", "symbolic link"},
		{"out/sub", "symbolic link"},
		{".hfhub", "reserved"},
		{"a\x00b", "NUL"},
		{"a\nb", "control character"},
		{"team/llm\r", "control character"},
	}
	for _, tc := range bad {
		got, err := hfhub.ResolveDir(root, tc.raw, "x/y")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ResolveDir(%q) = %q, %v; want an error saying %q", tc.raw, got, err, tc.want)
		}
	}
	// The models directory need not exist yet.
	if got, err := hfhub.ResolveDir(filepath.Join(base, "none"), "a/b", ""); err != nil || got != "a/b" {
		t.Errorf("missing root: %q %v", got, err)
	}
}

func TestValidateEndpoint(t *testing.T) {
	t.Parallel()
	for _, e := range []string{"https://huggingface.co", "https://hf-mirror.com/prefix", "http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:2"} {
		if err := hfhub.ValidateEndpoint(e); err != nil {
			t.Errorf("ValidateEndpoint(%q): %v", e, err)
		}
	}
	for _, tc := range []struct{ e, want string }{
		{"http://huggingface.co", "loopback"},
		{"ftp://x", "https"},
		{"huggingface.co", "base URL"},
		{"https://user:pw@huggingface.co", "base URL"},
		{"https://huggingface.co/?x=1", "base URL"},
	} {
		if err := hfhub.ValidateEndpoint(tc.e); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ValidateEndpoint(%q) = %v, want %q", tc.e, err, tc.want)
		}
	}
}

func TestEndpointFromEnv(t *testing.T) {
	t.Setenv("HF_ENDPOINT", "")
	if got := hfhub.EndpointFromEnv(); got != hfhub.DefaultEndpoint {
		t.Errorf("unset: %q", got)
	}
	t.Setenv("HF_ENDPOINT", "https://hf-mirror.com/")
	if got := hfhub.EndpointFromEnv(); got != "https://hf-mirror.com" {
		t.Errorf("set: %q", got)
	}
}

func TestParseBytes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"50Gi", 50 << 30}, {"8Gi", 8 << 30}, {"1.5Gi", 3 << 29}, {"8G", 8e9}, {"500M", 5e8}, {"1000", 1000},
		{"1e9", 1e9}, {"1E3", 1000}, {"0", 0}, {"1k", 1000}, {"1Ki", 1024}, {"100m", 1}, {" 2Mi ", 2 << 20}, {"+3", 3},
		{"7Ei", 7 << 60},
	} {
		got, err := hfhub.ParseBytes(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "Gi", "-1Gi", "1.2.3", "1GB", "1 Gi", "x", "1e", "1e-3", "1e99", "9Ei", "++1", "1+"} {
		if got, err := hfhub.ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) = %d, want an error", in, got)
		}
	}
}

func TestParseCPU(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64
	}{{"2", 2000}, {"500m", 500}, {"1.5", 1500}, {"0.0001", 1}, {"16", 16000}} {
		got, err := hfhub.ParseCPU(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseCPU(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "two", "-1", "1e18"} {
		if got, err := hfhub.ParseCPU(in); err == nil {
			t.Errorf("ParseCPU(%q) = %d, want an error", in, got)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	t.Parallel()
	for in, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 29: "1.5 GiB", 50 << 30: "50.0 GiB"} {
		if got := hfhub.FormatBytes(in); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", in, got, want)
		}
	}
}
