package api

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"time"

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
// /docs (the spec from memory, the UI from the embedded bundle), and redirects / and /redoc
// to /docs/, all without credentials and outside every group.
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
	if err := checkAssets(); err != nil {
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
	// The root and /redoc (where the Python app serves ReDoc: bookmarks should not 404) lead
	// to the docs. 302, not 301: what they point at may change (ReDoc one day), and browsers
	// keep a 301 for good.
	toDocs := func(c *gin.Context) { c.Redirect(http.StatusFound, "/docs/") }
	r.GET("/", toDocs)
	r.GET("/redoc", toDocs)
	r.GET("/docs/*file", func(c *gin.Context) {
		name := strings.TrimPrefix(c.Param("file"), "/")
		if name == "" {
			name = "index.html"
		}
		if name == "swagger-initializer.js" {
			c.Header("Cache-Control", "public, max-age=3600")
			c.Data(http.StatusOK, "text/javascript; charset=utf-8", []byte(swaggerInitializer))
			return
		}
		ctype, ok := docAssets[name]
		if !ok {
			Fail(c, http.StatusNotFound, "no such documentation file")
			return
		}
		f, err := swaggerfiles.FS.Open(name)
		if err != nil { // checked at start-up; only a broken build gets here
			Fail(c, http.StatusInternalServerError, "documentation file unavailable")
			return
		}
		defer f.Close()
		rs, ok := f.(io.ReadSeeker)
		if !ok {
			Fail(c, http.StatusInternalServerError, "documentation file unavailable")
			return
		}
		// Set before ServeContent so it neither sniffs nor loads the system MIME tables.
		c.Header("Content-Type", ctype)
		c.Header("Cache-Control", "public, max-age=3600") // answers only: a 404 is not cached
		http.ServeContent(c.Writer, c.Request, name, time.Time{}, rs)
	})
	return nil
}

// docAssets are the files index.html uses, with their content types; the other bundles in
// swaggo/files (ES modules, source maps) are not served. They are streamed from the binary's
// embedded data at each request rather than copied to the heap at start-up: 1.8 MB an idle
// server would otherwise carry for a page few callers open.
var docAssets = map[string]string{
	"index.html":                      "text/html; charset=utf-8",
	"index.css":                       "text/css; charset=utf-8",
	"swagger-ui.css":                  "text/css; charset=utf-8",
	"swagger-ui-bundle.js":            "text/javascript; charset=utf-8",
	"swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
	"favicon-16x16.png":               "image/png",
	"favicon-32x32.png":               "image/png",
	"oauth2-redirect.html":            "text/html; charset=utf-8",
}

// checkAssets makes sure every file index.html needs is in the embedded bundle, so a broken
// dependency upgrade fails at start-up rather than on the first visit to /docs.
func checkAssets() error {
	for p := range docAssets {
		st, err := fs.Stat(swaggerfiles.FS, p)
		if err != nil {
			return fmt.Errorf("api: Swagger UI asset %s: %w", p, err)
		}
		if st.IsDir() {
			return fmt.Errorf("api: Swagger UI asset %s is a directory", p)
		}
	}
	return nil
}
