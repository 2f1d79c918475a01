package local

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// The apps of the workspace file:
//
//	apps:
//	  - name: hello            # 1-63 lower-case letters, digits, '-', starting and ending
//	                           # with a letter or digit; unique in the workspace
//	    domain: development
//	    project: examples
//	    command: [node, apps/hello.mjs]   # run in workdir
//	    args: []               # appended to command
//	    port: auto             # 1-65535, or auto (default): a free loopback port at each start;
//	                           # the app reads it from $PORT and listens on 127.0.0.1
//	    health_path: /healthz  # default "/": a GET answering 2xx means healthy
//	    env: {K: V}
//	    secrets: [NAME]        # server environment variables handed to the app
//	    workdir: .             # default: the workspace's folder
//	    start_timeout: 30s     # default 30s: how long activate_app?wait=true waits for health
//	    forward_credentials: false  # call_app forwards the caller's Authorization and Cookie
//
// Refused when the workspace loads: a bad or duplicate name, the webhook's own name (the API
// refuses to address it), a port Flyte reserves (8012, 8022, 8112, 9090, 9091), the
// webhook's own port, a port two apps declare, a health_path that is not an absolute path on
// the app, PORT or a FLYTE_WEBHOOK_ variable in env (the server sets those), a bad env or
// secret name, a start_timeout that is not positive.
type appSpec struct {
	Name               string            `yaml:"name"`
	Domain             string            `yaml:"domain"`
	Project            string            `yaml:"project"`
	Command            []string          `yaml:"command"`
	Args               []string          `yaml:"args"`
	Port               appPort           `yaml:"port"`
	HealthPath         string            `yaml:"health_path"`
	Env                map[string]string `yaml:"env"`
	Secrets            []string          `yaml:"secrets"`
	Workdir            string            `yaml:"workdir"`
	StartTimeout       duration          `yaml:"start_timeout"`
	ForwardCredentials bool              `yaml:"forward_credentials"`
}

// appPort is a port number, or 0 for "auto".
type appPort int

// UnmarshalYAML takes a number 1-65535 or "auto".
func (p *appPort) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Value == "auto" {
		*p = 0
		return nil
	}
	v, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil || v < 1 || v > 65535 {
		return fmt.Errorf("line %d: want a port number 1-65535 or auto, got %q", n.Line, n.Value)
	}
	*p = appPort(v)
	return nil
}

// DefaultAppStartTimeout is an app's start_timeout when it declares none.
const DefaultAppStartTimeout = 30 * time.Second

// MaxAppStartTimeout bounds start_timeout: the HTTP layer lifts its write deadline for a
// wait=true activation, so the backend's bound is the request's bound.
const MaxAppStartTimeout = time.Hour

// app is a loaded, checked app declaration.
type app struct {
	Ref     controlplane.AppRef
	Command []string // command, then args
	// Port is the declared port, 0 for auto.
	Port               int
	HealthPath         string
	Env                map[string]string
	Secrets            []string
	Workdir            string
	StartTimeout       time.Duration
	ForwardCredentials bool
	// Hash is the declaration's fingerprint: the app's revision changes when it does.
	Hash string
}

var (
	appNameRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// reservedPorts are the ports Flyte keeps for itself in an app's container.
	reservedPorts = map[int]bool{8012: true, 8022: true, 8112: true, 9090: true, 9091: true}
)

// loadApps checks the apps of a workspace file in dir against the server's own name and
// port (cfg.WebhookName, cfg.WebhookPort).
func loadApps(specs []appSpec, dir string, cfg Config) (map[string]*app, error) {
	apps := map[string]*app{}
	ports := map[int]string{}
	for i, s := range specs {
		a, err := s.check(dir, cfg)
		if err != nil {
			return nil, fmt.Errorf("workspace: apps[%d] (%s): %w", i, s.Name, err)
		}
		if apps[a.Ref.Name] != nil {
			return nil, fmt.Errorf("workspace: apps[%d]: name: %q is declared twice (app names are unique in the workspace)", i, a.Ref.Name)
		}
		if other, ok := ports[a.Port]; ok && a.Port != 0 {
			return nil, fmt.Errorf("workspace: apps[%d] (%s): port: %d is app %s's port too", i, a.Ref.Name, a.Port, other)
		}
		apps[a.Ref.Name], ports[a.Port] = a, a.Ref.Name
	}
	return apps, nil
}

func (s appSpec) check(dir string, cfg Config) (*app, error) {
	if !appNameRe.MatchString(s.Name) {
		return nil, fmt.Errorf("name: %q must be 1-63 lower-case letters, digits and '-', starting and ending with a letter or digit", s.Name)
	}
	if cfg.WebhookName != "" && s.Name == cfg.WebhookName {
		return nil, fmt.Errorf("name: %q is the webhook's own name, which the API refuses to address", s.Name)
	}
	for key, v := range map[string]string{"domain": s.Domain, "project": s.Project} {
		if !namePart.MatchString(v) {
			return nil, fmt.Errorf("%s: %q must be 1-255 letters, digits, '.', '_' or '-'", key, v)
		}
	}
	if len(s.Command) == 0 || s.Command[0] == "" {
		return nil, fmt.Errorf("command: required")
	}
	port := int(s.Port)
	switch {
	case reservedPorts[port]:
		return nil, fmt.Errorf("port: %d is reserved by Flyte (8012, 8022, 8112, 9090, 9091 are)", port)
	case port != 0 && port == cfg.WebhookPort:
		return nil, fmt.Errorf("port: %d is the webhook's own port", port)
	}
	health := s.HealthPath
	if health == "" {
		health = "/"
	}
	if health[0] != '/' {
		return nil, fmt.Errorf("health_path: %q must start with \"/\"", health)
	}
	if p, q, err := controlplane.AppPath(health); err != nil || q != nil {
		return nil, fmt.Errorf("health_path: %q must be a plain path on the app, without a query", health)
	} else {
		health = p
	}
	for k := range s.Env {
		switch {
		case !envNameRe.MatchString(k):
			return nil, fmt.Errorf("env: %q is not an environment variable name", k)
		case k == "PORT" || strings.HasPrefix(k, "FLYTE_WEBHOOK_"):
			return nil, fmt.Errorf("env: %s is set by the server", k)
		}
	}
	for i, name := range s.Secrets {
		if !envNameRe.MatchString(name) {
			return nil, fmt.Errorf("secrets[%d]: %q is not an environment variable name", i, name)
		}
	}
	timeout := time.Duration(s.StartTimeout)
	switch {
	case timeout == 0:
		timeout = DefaultAppStartTimeout
	case timeout < 0:
		return nil, fmt.Errorf("start_timeout: must be positive")
	case timeout > MaxAppStartTimeout:
		return nil, fmt.Errorf("start_timeout: %s is over %s (a wait=true activation holds its request that long)", timeout, MaxAppStartTimeout)
	}
	workdir := s.Workdir
	if workdir == "" {
		workdir = dir
	} else if !filepath.IsAbs(workdir) {
		workdir = filepath.Join(dir, workdir)
	}
	a := &app{
		Ref:                controlplane.AppRef{Domain: s.Domain, Project: s.Project, Name: s.Name},
		Command:            append(append([]string{}, s.Command...), s.Args...),
		Port:               port,
		HealthPath:         health,
		Env:                s.Env,
		Secrets:            append([]string{}, s.Secrets...),
		Workdir:            workdir,
		StartTimeout:       timeout,
		ForwardCredentials: s.ForwardCredentials,
	}
	a.Hash = a.fingerprint()
	return a, nil
}

// fingerprint hashes everything the declaration says (the secrets' names, not their values):
// encoding/json writes map keys sorted, so the same declaration always hashes the same.
func (a *app) fingerprint() string {
	js, _ := json.Marshal(struct {
		Ref                 controlplane.AppRef
		Command             []string
		Port                int
		HealthPath, Workdir string
		Env                 map[string]string
		Secrets             []string
		StartTimeout        time.Duration
		ForwardCredentials  bool
	}{a.Ref, a.Command, a.Port, a.HealthPath, a.Workdir, a.Env, a.Secrets, a.StartTimeout, a.ForwardCredentials})
	sum := sha256.Sum256(js)
	return hex.EncodeToString(sum[:])
}
