package impl

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"crypto/rand"
	"encoding/hex"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"

	"github.com/flyte-webhook/flyte-webhook/api"
	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/gen"
	"github.com/flyte-webhook/flyte-webhook/internal/boundedcache"
)

// NewHandler assembles the webhook's HTTP handler over backend: only the operations cfg
// enables are routed, and /openapi.json, /openapi.yaml and /docs show only those.
//
// Every enabled operation must name its allowlist policy (x-allowlist in openapi.yaml): one
// without a policy, or with an unknown one, is an error naming it.
func NewHandler(cfg Config, backend controlplane.Backend) (http.Handler, error) {
	doc, err := api.LoadSpec()
	if err != nil {
		return nil, err
	}
	return newHandler(cfg, backend, doc)
}

// newHandler is NewHandler over doc instead of the embedded spec, so tests can show what
// start-up does with a spec that breaks a rule.
func newHandler(cfg Config, backend controlplane.Backend, doc *openapi3.T) (http.Handler, error) {
	cfg = cfg.withDefaults()
	lists, err := cfg.allowlists()
	if err != nil {
		return nil, err
	}
	served, err := api.ServedSpecOf(doc, api.SpecOptions{
		Groups: cfg.EndpointGroups, Endpoints: cfg.Endpoints, Name: cfg.Name, Title: cfg.Title, Description: cfg.Description,
	})
	if err != nil {
		return nil, err
	}
	def, err := newSpecDefaults(served.Defaults)
	if err != nil {
		return nil, err
	}
	filtered, catalog := served.Spec, served.Catalog
	guards, err := newGuards(served)
	if err != nil {
		return nil, err
	}

	s := &Server{backend: backend, cfg: cfg, lists: lists, log: cfg.Logger, done: boundedcache.New[encodedRun](doneCacheSize), def: def,
		guards: guards, enabled: served.Enabled, ids: newIdentityCache(identityTTL, identityCacheSize)}

	e := gin.New()
	e.ContextWithFallback = true // handler contexts cancel with the request and see its values
	e.UseRawPath = true          // a %2F inside a name stays inside the name…
	e.UnescapePathValues = true  // …and gin unescapes each value exactly once (the generated binder does not)
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.HandleMethodNotAllowed = true
	e.Use(s.requestID(), s.accessLog(), s.recovery())
	e.NoRoute(func(c *gin.Context) {
		api.Fail(c, http.StatusNotFound, "no such endpoint: "+c.Request.Method+" "+c.Request.URL.EscapedPath())
	})
	e.NoMethod(func(c *gin.Context) {
		api.Fail(c, http.StatusMethodNotAllowed, "method "+c.Request.Method+" is not allowed on "+c.Request.URL.EscapedPath())
	})
	if err := api.MountDocs(e, filtered); err != nil {
		return nil, err
	}

	strict := gen.NewStrictHandlerWithOptions(s, []gen.StrictMiddlewareFunc{s.guard}, gen.StrictGinServerOptions{
		RequestErrorHandlerFunc:  s.requestError,
		HandlerErrorFunc:         s.handlerError,
		ResponseErrorHandlerFunc: s.responseError,
	})
	s.routes = map[string]map[string]*routeMeta{}
	router := api.NewRouter(e, catalog, filtered, func(r api.Route) []gin.HandlerFunc {
		gp := api.GinPath(r.Path)
		if s.routes[gp] == nil {
			s.routes[gp] = map[string]*routeMeta{}
		}
		s.routes[gp][r.Method] = newRouteMeta(r)
		var mw []gin.HandlerFunc
		if r.Op.RequestBody != nil {
			mw = append(mw, bodyLimit(cfg.MaxBodyBytes))
		}
		return append(mw, api.Validate(r), s.auth(r))
	})
	gen.RegisterHandlersWithOptions(router, strict, gen.GinServerOptions{ErrorHandler: s.paramError})
	if err := router.Err(); err != nil {
		return nil, err
	}
	return e, nil
}

// routeMeta is what the access log and the error writer need to know about a matched route.
type routeMeta struct {
	id       string
	declared map[int]bool // the statuses the operation documents
}

func newRouteMeta(r api.Route) *routeMeta {
	m := &routeMeta{id: r.ID, declared: map[int]bool{}}
	for code := range r.Op.Responses.Map() {
		if n, err := strconv.Atoi(code); err == nil {
			m.declared[n] = true
		}
	}
	return m
}

// route returns the matched route's metadata (nil for docs and unrouted requests). It is a
// lookup on gin's matched path, so nothing is allocated per request.
func (s *Server) route(c *gin.Context) *routeMeta {
	return s.routes[c.FullPath()][c.Request.Method]
}

// bodyLimit refuses bodies over max: at once when Content-Length says so, else while reading
// (the validator turns the read error into a 413).
func bodyLimit(max int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > max {
			api.Fail(c, http.StatusRequestEntityTooLarge, "request body is larger than the limit of "+strconv.FormatInt(max, 10)+" bytes")
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, max)
	}
}

var requestIDPrefix = func() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

var requestSeq atomic.Uint64

// requestID gives every request an id: the caller's X-Request-Id when it is short and plain,
// else a new one. It is answered in X-Request-Id and carried in every problem and log line.
func (s *Server) requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.Request.Header.Get("X-Request-Id")
		if !plainID(id) {
			id = requestIDPrefix + "-" + strconv.FormatUint(requestSeq.Add(1), 36)
		}
		c.Header("X-Request-Id", id)
		ctx := api.WithRequestID(c.Request.Context(), id)
		ctx = controlplane.WithCallerSlot(ctx)
		ctx = controlplane.WithCredentials(ctx, controlplane.Credentials{
			Authorization: c.Request.Header.Get("Authorization"),
			Cookie:        strings.Join(c.Request.Header.Values("Cookie"), "; "),
		})
		c.Request = c.Request.WithContext(ctx)
	}
}

func plainID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.' || b == ':') {
			return false
		}
	}
	return true
}

// accessLog writes one line per request: never a credential, a query string or a body.
func (s *Server) accessLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		ctx := c.Request.Context()
		if !s.log.Enabled(ctx, slog.LevelInfo) {
			return
		}
		attrs := []slog.Attr{
			slog.String("request_id", api.RequestIDFrom(ctx)),
			slog.String("method", c.Request.Method),
			slog.String("path", c.Request.URL.EscapedPath()),
			slog.Int("status", c.Writer.Status()),
			// Whole microseconds: slog writes an integer with strconv, a float through
			// json.Marshal, which made the access line a third dearer.
			slog.Int64("latency_us", time.Since(start).Microseconds()),
		}
		if m := s.route(c); m != nil {
			attrs = append(attrs, slog.String("operation_id", m.id))
		}
		who := controlplane.ReportedCaller(ctx)
		if who.Subject == "" {
			who, _ = controlplane.IdentityFrom(ctx) // verified by the auth layer
		}
		if who.Subject != "" {
			attrs = append(attrs, slog.String("caller", who.Subject))
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
	}
}

// recovery turns a panic into a 500 problem and a log line with the stack; the caller sees
// only the request id.
func (s *Server) recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				id := api.RequestIDFrom(c.Request.Context())
				s.log.Error("panic while serving a request", "request_id", id, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if !c.Writer.Written() {
					api.Fail(c, http.StatusInternalServerError, "internal error; quote request_id "+id+" when reporting it")
				}
				c.Abort()
			}
		}()
		c.Next()
	}
}
