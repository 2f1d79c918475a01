package impl_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// TestBuildImageLists: the seed's handler reads pip_packages, apt_packages and platform from
// the body while its own example sends them as repeated query parameters: both are read, and
// for each list the body's wins when both give it.
func TestBuildImageLists(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{Name: "builds-webhook"})
	cases := []struct {
		name, target string
		body         any
		pip, apt     []string
		platforms    []string
	}{
		{"query only", "/build-image?pip_packages=numpy&pip_packages=pandas%3E%3D2&apt_packages=curl&platform=linux/amd64", nil,
			[]string{"numpy", "pandas>=2"}, []string{"curl"}, []string{"linux/amd64"}},
		{"body only", "/build-image", map[string]any{"pip_packages": []string{"numpy"}, "platform": []string{"linux/arm64"}},
			[]string{"numpy"}, nil, []string{"linux/arm64"}},
		{"body wins per list", "/build-image?pip_packages=from-query&apt_packages=curl", map[string]any{"pip_packages": []string{"from-body"}},
			[]string{"from-body"}, []string{"curl"}, nil},
		{"an empty body list wins too", "/build-image?pip_packages=from-query", map[string]any{"pip_packages": []string{}},
			[]string{}, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.call(t, "POST", c.target, c.body, nil)
			expectStatus(t, r, http.StatusOK)
			req, _ := s.fake.got("BuildImage").(controlplane.ImageBuild)
			if !slices.Equal(req.PipPackages, c.pip) || !slices.Equal(req.AptPackages, c.apt) || !slices.Equal(req.Platforms, c.platforms) {
				t.Errorf("backend got pip %q apt %q platform %q; want %q %q %q", req.PipPackages, req.AptPackages, req.Platforms, c.pip, c.apt, c.platforms)
			}
		})
	}
}

// TestBuildImageNameNull: without a name the answer's image_name is null, as the seed's.
func TestBuildImageNameNull(t *testing.T) {
	t.Parallel()
	s := newServer(t, impl.Config{Name: "builds-webhook"})
	r := s.call(t, "POST", "/build-image", nil, nil)
	expectStatus(t, r, http.StatusOK)
	if v, ok := r.JSON["image_name"]; !ok || v != nil {
		t.Errorf("image_name %#v (present %v), want null", v, ok)
	}
}
