package api

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/flyte-webhook/flyte-webhook/gen"
)

// GroupAll is the group name that selects every operation.
const GroupAll = "all"

// Operation is one operation of the spec, as the catalog knows it.
type Operation struct {
	// ID is the operationId, e.g. "run_task"; users name it in `endpoints:`.
	ID string
	// Group is the operation's one tag, e.g. "task"; users name it in `endpoint_groups:`.
	Group string
	// Method is the HTTP method in upper case.
	Method string
	// Path is the spec's path template, e.g. "/run-task/{domain}/{project}/{name}".
	Path string
	// Open is true when the operation declares no security (`security: []`).
	Open bool
	// Allowlist is the operation's x-allowlist extension: which allowlist guards it and how
	// the guarded name is found (impl's guard knows the policies and refuses to start with
	// an enabled operation that has none or an unknown one). "" when the spec gives none.
	Allowlist string
}

// AllowlistExtension is the operation extension that names its allowlist policy.
const AllowlistExtension = "x-allowlist"

// Catalog lists the spec's operations and groups. It is derived from the spec's tags.
type Catalog struct {
	Operations []Operation
	// Groups are the tag names, in the order the spec lists them.
	Groups []string
	byID   map[string]Operation
}

// LoadSpec returns a fresh copy of the embedded openapi.yaml; callers may change it.
func LoadSpec() (*openapi3.T, error) {
	doc, err := gen.GetSwagger()
	if err != nil {
		return nil, fmt.Errorf("api: load embedded spec: %w", err)
	}
	return doc, nil
}

// NewCatalog derives the catalog from doc. Every operation must have an operationId and
// exactly one tag that the spec's top-level tags declare.
func NewCatalog(doc *openapi3.T) (*Catalog, error) {
	c := &Catalog{byID: map[string]Operation{}}
	declared := map[string]bool{}
	for _, t := range doc.Tags {
		c.Groups = append(c.Groups, t.Name)
		declared[t.Name] = true
	}
	if declared[GroupAll] {
		return nil, fmt.Errorf("api: tag %q is reserved", GroupAll)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" {
				return nil, fmt.Errorf("api: %s %s has no operationId", method, path)
			}
			if len(op.Tags) != 1 || !declared[op.Tags[0]] {
				return nil, fmt.Errorf("api: operation %s must have exactly one declared group tag, has %v", op.OperationID, op.Tags)
			}
			if _, dup := c.byID[op.OperationID]; dup {
				return nil, fmt.Errorf("api: duplicate operationId %s", op.OperationID)
			}
			o := Operation{
				ID:     op.OperationID,
				Group:  op.Tags[0],
				Method: strings.ToUpper(method),
				Path:   path,
				Open:   op.Security != nil && len(*op.Security) == 0,
			}
			if v, ok := op.Extensions[AllowlistExtension]; ok {
				if o.Allowlist, ok = v.(string); !ok || o.Allowlist == "" {
					return nil, fmt.Errorf("api: operation %s: %s must be a policy name, is %v", op.OperationID, AllowlistExtension, v)
				}
			}
			c.byID[o.ID] = o
			c.Operations = append(c.Operations, o)
		}
	}
	sort.Slice(c.Operations, func(i, j int) bool { return c.Operations[i].ID < c.Operations[j].ID })
	return c, nil
}

// Operation returns the operation with the given operationId.
func (c *Catalog) Operation(id string) (Operation, bool) {
	o, ok := c.byID[id]
	return o, ok
}

// Select returns the set of enabled operationIds for a configuration: groups (`all` for
// every operation) or endpoints (operationIds), never both. Neither means every operation.
// Unknown names are errors that name them.
func (c *Catalog) Select(groups, endpoints []string) (map[string]bool, error) {
	if len(groups) > 0 && len(endpoints) > 0 {
		return nil, fmt.Errorf("endpoint_groups and endpoints are mutually exclusive: set one of them")
	}
	enabled := map[string]bool{}
	switch {
	case len(endpoints) > 0:
		for _, id := range endpoints {
			if _, ok := c.byID[id]; !ok {
				return nil, fmt.Errorf("endpoints: unknown endpoint %q (known: %s)", id, strings.Join(c.ids(), ", "))
			}
			enabled[id] = true
		}
	case len(groups) > 0:
		known := map[string]bool{GroupAll: true}
		for _, g := range c.Groups {
			known[g] = true
		}
		for _, g := range groups {
			if !known[g] {
				return nil, fmt.Errorf("endpoint_groups: unknown group %q (known: %s, %s)", g, GroupAll, strings.Join(c.Groups, ", "))
			}
			for _, o := range c.Operations {
				if g == GroupAll || o.Group == g {
					enabled[o.ID] = true
				}
			}
		}
	default:
		for _, o := range c.Operations {
			enabled[o.ID] = true
		}
	}
	return enabled, nil
}

func (c *Catalog) ids() []string {
	out := make([]string, 0, len(c.Operations))
	for _, o := range c.Operations {
		out = append(out, o.ID)
	}
	return out
}

// Filter removes from doc every operation not in enabled, then the paths and tags left empty.
// doc is changed in place and returned.
func Filter(doc *openapi3.T, enabled map[string]bool) *openapi3.T {
	usedTags := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if !enabled[op.OperationID] {
				item.SetOperation(method, nil)
				continue
			}
			for _, t := range op.Tags {
				usedTags[t] = true
			}
		}
		if len(item.Operations()) == 0 {
			doc.Paths.Delete(path)
		}
	}
	tags := doc.Tags[:0]
	for _, t := range doc.Tags {
		if usedTags[t.Name] {
			tags = append(tags, t)
		}
	}
	doc.Tags = tags
	pruneComponents(doc)
	return doc
}

var componentRef = regexp.MustCompile(`"#/components/(schemas|responses|parameters|requestBodies|headers)/([^"/]+)"`)

// pruneComponents drops the components that no remaining operation reaches, so the docs of a
// filtered deployment do not describe what it does not serve. References stay resolved in
// the loaded document, so validation is unaffected.
func pruneComponents(doc *openapi3.T) {
	if doc.Components == nil {
		return
	}
	c := doc.Components
	lookup := func(kind, name string) any {
		switch kind {
		case "schemas":
			return c.Schemas[name]
		case "responses":
			return c.Responses[name]
		case "parameters":
			return c.Parameters[name]
		case "requestBodies":
			return c.RequestBodies[name]
		case "headers":
			return c.Headers[name]
		}
		return nil
	}
	reached := map[string]bool{}
	start, err := json.Marshal(doc.Paths)
	if err != nil {
		return // keep everything rather than drop something still used
	}
	queue := [][]byte{start}
	for len(queue) > 0 {
		b := queue[0]
		queue = queue[1:]
		for _, m := range componentRef.FindAllSubmatch(b, -1) {
			key := string(m[1]) + "/" + string(m[2])
			if reached[key] {
				continue
			}
			reached[key] = true
			js, err := json.Marshal(lookup(string(m[1]), string(m[2])))
			if err != nil {
				return
			}
			queue = append(queue, js)
		}
	}
	prune(c.Schemas, "schemas", reached)
	prune(c.Responses, "responses", reached)
	prune(c.Parameters, "parameters", reached)
	prune(c.RequestBodies, "requestBodies", reached)
	prune(c.Headers, "headers", reached)
}

func prune[T any](m map[string]T, kind string, reached map[string]bool) {
	for name := range m {
		if !reached[kind+"/"+name] {
			delete(m, name)
		}
	}
}

// Served is the spec a deployment serves, the catalog it was filtered from, and the whole
// spec's defaults.
type Served struct {
	Spec     *openapi3.T
	Catalog  *Catalog
	Defaults Defaults
	// Enabled holds the operationIds the deployment serves.
	Enabled map[string]bool
}

// SpecOptions say which spec a deployment serves.
type SpecOptions struct {
	// Groups or Endpoints (never both) select the operations; neither means every operation
	// (see Catalog.Select).
	Groups    []string
	Endpoints []string
	// Name is the webhook's own name, for the default title.
	Name string
	// Title is the docs' title. Defaults to "Flyte Webhook: <Name>" (the Python app's
	// default), or the spec's own title when Name is "" too.
	Title string
	// Description opens the docs' description; the spec's own description (the guide to
	// groups, authentication and errors) follows it, always. Defaults to DefaultDescription.
	Description string
}

// DefaultDescription opens the served description when none is configured (the Python
// app's default).
const DefaultDescription = "A webhook service for Flyte operations"

// ServedSpec loads the embedded spec and keeps the operations opts select, titled and
// described as opts say.
func ServedSpec(opts SpecOptions) (Served, error) {
	doc, err := LoadSpec()
	if err != nil {
		return Served{}, err
	}
	return ServedSpecOf(doc, opts)
}

// ServedSpecOf is ServedSpec over doc instead of the embedded spec; doc is changed in place.
// Tests use it to check what start-up does with a spec that breaks a rule.
func ServedSpecOf(doc *openapi3.T, opts SpecOptions) (Served, error) {
	catalog, err := NewCatalog(doc)
	if err != nil {
		return Served{}, err
	}
	enabled, err := catalog.Select(opts.Groups, opts.Endpoints)
	if err != nil {
		return Served{}, err
	}
	defaults := NewDefaults(doc) // before Filter drops what this deployment does not serve
	doc = Filter(doc, enabled)
	switch {
	case opts.Title != "":
		doc.Info.Title = opts.Title
	case opts.Name != "":
		doc.Info.Title = "Flyte Webhook: " + opts.Name
	}
	lead := strings.TrimSpace(opts.Description)
	if lead == "" {
		lead = DefaultDescription
	}
	doc.Info.Description = lead + "\n\n" + doc.Info.Description
	return Served{Spec: doc, Catalog: catalog, Defaults: defaults, Enabled: enabled}, nil
}

// GinPath turns a spec path template into gin's syntax: {name} → :name.
func GinPath(specPath string) string {
	var b strings.Builder
	for _, seg := range strings.Split(specPath, "/") {
		if b.Len() > 0 || seg != "" {
			b.WriteByte('/')
		}
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			b.WriteByte(':')
			b.WriteString(seg[1 : len(seg)-1])
		} else {
			b.WriteString(seg)
		}
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}
