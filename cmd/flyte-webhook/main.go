// Command flyte-webhook serves the webhook API.
//
//	flyte-webhook [serve] [--config FILE] [--host H] [--port N] [--dev-token]
//	flyte-webhook check-config FILE
//	flyte-webhook openapi [--config FILE] [--yaml]
//	flyte-webhook token [--subject S] [--name N]
//	flyte-webhook version
//	flyte-webhook help
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gin-gonic/gin"
	"gopkg.in/yaml.v3"

	"github.com/flyte-webhook/flyte-webhook/api"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
)

func main() {
	// gin's debug mode prints every route and a warning at start; the access log is ours.
	gin.SetMode(gin.ReleaseMode)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// command is one subcommand: its name, its arguments and what it does, for the usage text.
type command struct {
	name, args, summary string
	run                 func(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error
}

// commands are every subcommand, in the order the usage lists them.
var commands []command

func init() {
	commands = []command{
		{"serve", "[--config FILE] [--host HOST] [--port PORT] [--dev-token]",
			"Serve the API (the default command). FLYTE_WEBHOOK_CONFIG names the config file when\n--config is absent.", serveCmd},
		{"check-config", "[--dev-token] FILE",
			"Validate a config file and the files it names (workspace, keys) without serving;\nwith --dev-token, as serve --dev-token would run it.", checkConfigCmd},
		{"openapi", "[--config FILE] [--yaml]",
			"Print the OpenAPI document of the operations the config enables (needs no tokens).", openapiCmd},
		{"token", "[--subject SUBJECT] [--name NAME]",
			"Make an API token for the local backend; prints the token once and the config entry\n(its SHA-256) to paste under backend.local.auth.tokens.", tokenCmd},
		{"version", "",
			"Print the module version, the VCS revision it was built from and the Go version.", versionCmd},
		{"help", "", "Print this text.", nil},
	}
}

// usageError is a command line that does not parse: exit code 2, as flag.ExitOnError has.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) int {
	name := "serve"
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "-h" || a == "-help" || a == "--help":
			name, args = "help", args[1:]
		case a != "" && a[0] != '-':
			name, args = a, args[1:]
		}
	}
	if name == "help" {
		fmt.Fprint(stdout, usage())
		return 0
	}
	var cmd *command
	for i := range commands {
		if commands[i].name == name {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "flyte-webhook: unknown command %q\n\n%s", name, usage())
		return 2
	}
	err := cmd.run(ctx, args, stdout, stderr, env)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "flyte-webhook %s: %v\n", name, ue.err)
		return 2
	default:
		fmt.Fprintln(stderr, "flyte-webhook:", err)
		return 1
	}
}

func usage() string {
	var b strings.Builder
	b.WriteString("Usage:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  flyte-webhook %s", c.name)
		if c.args != "" {
			fmt.Fprintf(&b, " %s", c.args)
		}
		fmt.Fprintf(&b, "\n      %s\n", strings.ReplaceAll(c.summary, "\n", "\n      "))
	}
	b.WriteString("\n`flyte-webhook COMMAND --help` lists a command's flags. Configuration: README.md.\n")
	return b.String()
}

// newFlagSet makes a subcommand's flag set. Its --help prints the command's usage and flags
// on stdout (asked for, exit 0); a bad flag is a usageError.
func newFlagSet(name string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse errors are returned and printed once, by run
	fs.Usage = func() {
		for _, c := range commands {
			if c.name == name {
				fmt.Fprintf(stdout, "Usage: flyte-webhook %s %s\n\n%s\n", c.name, c.args, c.summary)
			}
		}
		var flags strings.Builder
		fs.SetOutput(&flags)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		if flags.Len() > 0 {
			fmt.Fprintf(stdout, "\nFlags:\n%s", flags.String())
		}
	}
	return fs
}

// parseFlags parses args into fs: --help prints the usage and returns flag.ErrHelp, a bad
// flag is a usageError.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return usageError{err}
	}
	return err
}

func configPath(fs *flag.FlagSet, env func(string) string) *string {
	return fs.String("config", env("FLYTE_WEBHOOK_CONFIG"), "config file (YAML)")
}

func checkConfigCmd(_ context.Context, args []string, stdout, _ io.Writer, env func(string) string) error {
	fs := newFlagSet("check-config", stdout)
	devToken := fs.Bool("dev-token", false, "check the config as serve --dev-token runs it: with a development token (none is made)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{fmt.Errorf("want exactly one config file")}
	}
	path := fs.Arg(0)
	c, err := loadConfig(path, env, func(c *Config) error {
		if *devToken && c.Backend.Local != nil {
			// Any well-formed entry stands for the token serve would make.
			c.Backend.Local.Auth.Tokens = append(c.Backend.Local.Auth.Tokens,
				identity.Token{SHA256: strings.Repeat("0", 64), Subject: "developer"})
		}
		return nil
	})
	if err != nil {
		return err
	}
	warnings := c.warnings()
	if l := c.Backend.Local; l != nil && l.Workspace != "" {
		n, err := local.CheckWorkspace(l.Config)
		if err != nil {
			return fmt.Errorf("config: backend.local.workspace: %w", err)
		}
		if n == 0 {
			warnings = append(warnings, fmt.Sprintf("backend.local.workspace: %s declares no tasks", l.Workspace))
		}
	}
	for _, w := range warnings {
		fmt.Fprintf(stdout, "%s: warning: %s\n", path, w)
	}
	fmt.Fprintf(stdout, "%s: ok (%s backend, listening on %s:%d)\n", path, c.Backend.Type, c.Host, c.Port)
	return nil
}

func openapiCmd(_ context.Context, args []string, stdout, _ io.Writer, env func(string) string) error {
	fs := newFlagSet("openapi", stdout)
	path := configPath(fs, env)
	asYAML := fs.Bool("yaml", false, "print YAML instead of JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// Only what filters the spec matters here: no credentials or workspace are needed to
	// print it.
	c, err := readConfig(*path, env)
	if err != nil {
		return err
	}
	served, err := api.ServedSpec(api.SpecOptions{
		Groups: c.EndpointGroups, Endpoints: c.Endpoints, Name: c.Name, Title: c.Title, Description: c.Description,
	})
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	js, err := json.MarshalIndent(served.Spec, "", "  ")
	if err != nil {
		return err
	}
	if !*asYAML {
		_, err = fmt.Fprintf(stdout, "%s\n", js)
		return err
	}
	var generic any
	if err := json.Unmarshal(js, &generic); err != nil {
		return err
	}
	return yaml.NewEncoder(stdout).Encode(generic)
}

func tokenCmd(_ context.Context, args []string, stdout, _ io.Writer, _ func(string) string) error {
	fs := newFlagSet("token", stdout)
	subject := fs.String("subject", "me", "the subject the token stands for")
	name := fs.String("name", "", "display name (defaults to the subject)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *name == "" {
		*name = *subject
	}
	tok, hash, err := identity.NewToken()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token (shown once, keep it secret): %s\n\nadd under backend.local.auth.tokens:\n  - {sha256: %s, subject: %q, name: %q}\n", tok, hash, *subject, *name)
	return nil
}
