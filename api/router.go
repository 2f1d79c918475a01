package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
)

// Route is an enabled operation with its place in the spec, handed to per-route middleware.
type Route struct {
	Operation
	Spec     *openapi3.T
	PathItem *openapi3.PathItem
	Op       *openapi3.Operation
}

// Router is the gin.IRouter handed to the generated RegisterHandlers. It registers only the
// enabled operations (the others stay unrouted: plain 404) and puts the middleware that
// middleware(route) returns in front of each one's handler. A route the spec does not know
// is an error (fail closed): see Err.
type Router struct {
	gin.IRouter
	byRoute    map[string]Route // "METHOD /gin/path" → route, enabled operations only
	known      map[string]bool  // "METHOD /gin/path" of every operation in the full catalog
	middleware func(Route) []gin.HandlerFunc
	registered map[string]bool
	err        error
}

// NewRouter returns a Router over r for the operations of catalog that filtered (the spec
// after Filter) still has.
func NewRouter(r gin.IRouter, catalog *Catalog, filtered *openapi3.T, middleware func(Route) []gin.HandlerFunc) *Router {
	rt := &Router{
		IRouter:    r,
		byRoute:    map[string]Route{},
		known:      map[string]bool{},
		middleware: middleware,
		registered: map[string]bool{},
	}
	for _, o := range catalog.Operations {
		rt.known[o.Method+" "+GinPath(o.Path)] = true
	}
	for path, item := range filtered.Paths.Map() {
		for method, op := range item.Operations() {
			o, ok := catalog.Operation(op.OperationID)
			if !ok {
				continue
			}
			rt.byRoute[strings.ToUpper(method)+" "+GinPath(path)] = Route{Operation: o, Spec: filtered, PathItem: item, Op: op}
		}
	}
	return rt
}

func (rt *Router) handle(method, path string, handlers []gin.HandlerFunc) gin.IRoutes {
	key := method + " " + path
	route, enabled := rt.byRoute[key]
	switch {
	case enabled:
		chain := append(rt.middleware(route), handlers...)
		rt.registered[route.ID] = true
		if method == http.MethodGet && AnswersHead(route.Op) {
			// HEAD is GET without the body (RFC 9110 9.3.2): the same operation through the
			// same chain, so it is routed exactly when the GET is. net/http drops the body
			// of a HEAD answer and keeps the headers, Content-Length included.
			head := route
			head.Method = http.MethodHead
			rt.IRouter.Handle(http.MethodHead, path, append(rt.middleware(head), handlers...)...)
		}
		return rt.IRouter.Handle(method, path, chain...)
	case !rt.known[key] && rt.err == nil:
		rt.err = fmt.Errorf("api: route %s is not in the spec", key)
	}
	return rt.IRouter
}

// HeadExtension is the openapi.yaml extension that marks a GET operation as answering HEAD
// too (`x-head: true`). HEAD stays out of the spec's operations: as one of its own it would
// need an operationId of its own, which users could enable apart from the GET, and it would
// show in /docs and in both generated clients for what is only GET without a body.
const HeadExtension = "x-head"

// AnswersHead reports whether op is marked with HeadExtension.
func AnswersHead(op *openapi3.Operation) bool {
	v, _ := op.Extensions[HeadExtension].(bool)
	return v
}

// Handle registers the route when its operation is enabled.
func (rt *Router) Handle(method, path string, h ...gin.HandlerFunc) gin.IRoutes {
	return rt.handle(method, path, h)
}

// GET registers the route when its operation is enabled.
func (rt *Router) GET(path string, h ...gin.HandlerFunc) gin.IRoutes {
	return rt.handle("GET", path, h)
}

// POST registers the route when its operation is enabled.
func (rt *Router) POST(path string, h ...gin.HandlerFunc) gin.IRoutes {
	return rt.handle("POST", path, h)
}

// PUT registers the route when its operation is enabled.
func (rt *Router) PUT(path string, h ...gin.HandlerFunc) gin.IRoutes {
	return rt.handle("PUT", path, h)
}

// PATCH registers the route when its operation is enabled.
func (rt *Router) PATCH(path string, h ...gin.HandlerFunc) gin.IRoutes {
	return rt.handle("PATCH", path, h)
}

// DELETE registers the route when its operation is enabled.
func (rt *Router) DELETE(path string, h ...gin.HandlerFunc) gin.IRoutes {
	return rt.handle("DELETE", path, h)
}

// Err reports a route the spec does not know, or an enabled operation that was never
// registered (the generated code and the spec disagree).
func (rt *Router) Err() error {
	if rt.err != nil {
		return rt.err
	}
	for _, r := range rt.byRoute {
		if !rt.registered[r.ID] {
			return fmt.Errorf("api: enabled operation %s (%s %s) was never registered", r.ID, r.Method, r.Path)
		}
	}
	return nil
}
