package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
)

const headerSpec = `
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /x:
    post:
      operationId: x
      parameters:
        - {name: X-Plain, in: header, schema: {type: string, minLength: 1, maxLength: 8}}
        - {name: X-Count, in: header, schema: {type: integer}}
        - {name: X-Code, in: header, schema: {type: string, pattern: '^[a-z]+$'}}
      responses:
        '204': {description: ok}
`

// TestEmptyHeaderIsSent: for every kind of header parameter (a plain string checked
// directly, others by kin-openapi) an empty header is a value to check, not an absent
// parameter, and an absent one stays absent.
func TestEmptyHeaderIsSent(t *testing.T) {
	t.Parallel()
	doc, err := openapi3.NewLoader().LoadFromData([]byte(headerSpec))
	if err != nil {
		t.Fatal(err)
	}
	item := doc.Paths.Find("/x")
	route := Route{Operation: Operation{ID: "x", Method: "POST", Path: "/x"}, Spec: doc, PathItem: item, Op: item.Post}
	if _, ok := asSimpleString(route.Op.Parameters[0].Value); !ok {
		t.Fatal("X-Plain should take the direct check")
	}
	e := gin.New()
	e.POST("/x", Validate(route), func(c *gin.Context) { c.Status(http.StatusNoContent) })
	cases := []struct {
		name   string
		header http.Header
		want   int
	}{
		{"none", http.Header{}, 204},
		{"plain", http.Header{"X-Plain": {"a"}}, 204},
		{"plain empty", http.Header{"X-Plain": {""}}, 422},
		{"plain twice", http.Header{"X-Plain": {"a", "b"}}, 422},
		{"integer", http.Header{"X-Count": {"3"}}, 204},
		{"integer empty", http.Header{"X-Count": {""}}, 422},
		{"pattern", http.Header{"X-Code": {"abc"}}, 204},
		{"pattern empty", http.Header{"X-Code": {""}}, 422},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/x", nil)
			req.Header = c.header
			w := httptest.NewRecorder()
			e.ServeHTTP(w, req)
			if w.Code != c.want {
				t.Errorf("status %d, want %d: %s", w.Code, c.want, w.Body)
			}
		})
	}
}
