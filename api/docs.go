package api

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	swaggerfiles "github.com/swaggo/files/v2"
	"gopkg.in/yaml.v3"
)

// swaggerInitializer replaces the bundled one (which points at the petstore and an online
// validator): it loads our filtered spec, relative to /docs/ so a path prefix added by a
// reverse proxy keeps working, and never calls out.
const swaggerInitializer = `window.onload = function() {
  window.ui = SwaggerUIBundle({
    url: "../openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    tryItOutEnabled: false,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout"
  });
};
`

// MountDocs serves the filtered spec at /openapi.json and /openapi.yaml and Swagger UI at
// /docs, all from memory, without credentials and outside every group.
func MountDocs(r gin.IRouter, filtered *openapi3.T) error {
	js, err := json.Marshal(filtered)
	if err != nil {
		return fmt.Errorf("api: marshal spec: %w", err)
	}
	// Through a generic value so the YAML has the same keys and order rules as the JSON.
	var generic any
	if err := json.Unmarshal(js, &generic); err != nil {
		return fmt.Errorf("api: re-read spec: %w", err)
	}
	ym, err := yaml.Marshal(generic)
	if err != nil {
		return fmt.Errorf("api: marshal spec as YAML: %w", err)
	}
	assets, err := loadAssets()
	if err != nil {
		return err
	}
	serve := func(ctype string, body []byte) gin.HandlerFunc {
		return func(c *gin.Context) {
			c.Header("Cache-Control", "no-cache")
			c.Data(http.StatusOK, ctype, body)
		}
	}
	r.GET("/openapi.json", serve("application/json", js))
	r.GET("/openapi.yaml", serve("application/yaml", ym))
	r.GET("/docs", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/docs/") })
	r.GET("/docs/*file", func(c *gin.Context) {
		name := strings.TrimPrefix(c.Param("file"), "/")
		if name == "" {
			name = "index.html"
		}
		a, ok := assets[name]
		if !ok {
			Fail(c, http.StatusNotFound, "no such documentation file")
			return
		}
		c.Header("Cache-Control", "public, max-age=3600")
		c.Data(http.StatusOK, a.ctype, a.body)
	})
	return nil
}

type asset struct {
	ctype string
	body  []byte
}

// docAssets are the files index.html uses; the other bundles in swaggo/files (ES modules,
// source maps) would only cost memory.
var docAssets = []string{
	"index.html", "index.css", "swagger-ui.css", "swagger-ui-bundle.js",
	"swagger-ui-standalone-preset.js", "favicon-16x16.png", "favicon-32x32.png", "oauth2-redirect.html",
}

// loadAssets reads the Swagger UI files once.
func loadAssets() (map[string]asset, error) {
	out := map[string]asset{}
	for _, p := range docAssets {
		b, err := fs.ReadFile(swaggerfiles.FS, p)
		if err != nil {
			return nil, fmt.Errorf("api: read Swagger UI asset %s: %w", p, err)
		}
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		out[p] = asset{ctype: ctype, body: b}
	}
	out["swagger-initializer.js"] = asset{ctype: "text/javascript; charset=utf-8", body: []byte(swaggerInitializer)}
	return out, nil
}
