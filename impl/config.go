package impl

import (
	"fmt"
	"log/slog"
	"strings"
)

// Defaults of Config, exported so a command line can show and check the effective values
// without repeating them.
const (
	// DefaultName is Config.Name's default.
	DefaultName = "flyte-webhook"
	// DefaultMaxBodyBytes is Config.MaxBodyBytes's default: 1 MiB.
	DefaultMaxBodyBytes = 1 << 20
)

// Config configures the HTTP service. The zero value is usable: every operation enabled,
// credentials required, no allowlists.
type Config struct {
	// Name is the webhook's own name: app endpoints that target it are refused (400).
	// Defaults to DefaultName ("flyte-webhook").
	Name string
	// Title is the title of /openapi.json and /docs. Defaults to "Flyte Webhook: <Name>".
	Title string
	// Description opens the description of /openapi.json and /docs, above the spec's own
	// guide (groups, authentication, errors), which is always kept. Defaults to
	// api.DefaultDescription.
	Description string
	// AuthOptional turns off the 401 for requests without credentials (requires_auth: false).
	// The backend still decides who such a caller is. Defaults to false: credentials required.
	AuthOptional bool
	// EndpointGroups or Endpoints (never both) select the enabled operations; neither means
	// every operation.
	EndpointGroups []string
	Endpoints      []string
	// TaskAllowlist, AppAllowlist and TriggerAllowlist: nil means unrestricted, an empty list
	// allows nothing. Entry formats are the seed's (see ParseTaskAllowlist and friends).
	TaskAllowlist    *[]string
	AppAllowlist     *[]string
	TriggerAllowlist *[]string
	// MaxBodyBytes bounds request bodies (413 beyond). Defaults to DefaultMaxBodyBytes (1 MiB).
	MaxBodyBytes int64
	// Logger receives the access log and error logs. Defaults to discarding.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// allowlists are the parsed allowlists; a nil field is unrestricted.
type allowlists struct {
	tasks    *TaskAllowlist
	apps     map[string]bool
	triggers *TriggerAllowlist
}

func (c Config) allowlists() (allowlists, error) {
	var a allowlists
	if c.TaskAllowlist != nil {
		t, err := ParseTaskAllowlist(*c.TaskAllowlist)
		if err != nil {
			return a, err
		}
		a.tasks = t
	}
	if c.AppAllowlist != nil {
		a.apps = map[string]bool{}
		for i, e := range *c.AppAllowlist {
			if e == "" || strings.ContainsAny(e, "/ \t") {
				return a, fmt.Errorf("app_allowlist[%d]: %q is not an app name", i, e)
			}
			a.apps[e] = true
		}
	}
	if c.TriggerAllowlist != nil {
		t, err := ParseTriggerAllowlist(*c.TriggerAllowlist)
		if err != nil {
			return a, err
		}
		a.triggers = t
	}
	return a, nil
}

// Validate checks the allowlists' entries, naming the first malformed one. NewHandler
// validates too; this lets a config checker do it without building a handler.
func (c Config) Validate() error {
	_, err := c.allowlists()
	return err
}
