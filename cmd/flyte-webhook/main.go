// Command flyte-webhook serves the webhook API.
//
//	flyte-webhook [serve] [--config FILE] [--host H] [--port N] [--dev-token]
//	flyte-webhook check-config FILE
//	flyte-webhook openapi [--config FILE] [--yaml]
//	flyte-webhook token [--subject S] [--name N]
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
	"syscall"

	"gopkg.in/yaml.v3"

	"github.com/flyte-webhook/flyte-webhook/api"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serveCmd(ctx, args, stdout, stderr, env)
	case "check-config":
		err = checkConfigCmd(args, stdout, env)
	case "openapi":
		err = openapiCmd(args, stdout, env)
	case "token":
		err = tokenCmd(args, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "flyte-webhook: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "flyte-webhook:", err)
		return 1
	}
	return 0
}

const usage = `Usage:
  flyte-webhook [serve] [--config FILE] [--host HOST] [--port PORT] [--dev-token]
      Serve the API. FLYTE_WEBHOOK_CONFIG names the config file when --config is absent.
  flyte-webhook check-config FILE
      Validate a config file (and the files it names) without serving.
  flyte-webhook openapi [--config FILE] [--yaml]
      Print the OpenAPI document of the operations the config enables.
  flyte-webhook token [--subject SUBJECT] [--name NAME]
      Make an API token for the local backend; prints the token once and the config entry
      (its SHA-256) to paste under backend.local.auth.tokens.
`

func configPath(fs *flag.FlagSet, env func(string) string) *string {
	return fs.String("config", env("FLYTE_WEBHOOK_CONFIG"), "config file (YAML)")
}

func checkConfigCmd(args []string, stdout io.Writer, env func(string) string) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("check-config: want exactly one config file")
	}
	c, err := loadConfig(fs.Arg(0), env)
	if err != nil {
		return err
	}
	if c.Backend.Local != nil {
		if _, err := os.Stat(c.Backend.Local.Workspace); err != nil {
			return fmt.Errorf("config: backend.local.workspace: %w", err)
		}
	}
	fmt.Fprintf(stdout, "%s: ok (%s backend, listening on %s:%d)\n", fs.Arg(0), c.Backend.Type, c.Host, c.Port)
	return nil
}

func openapiCmd(args []string, stdout io.Writer, env func(string) string) error {
	fs := flag.NewFlagSet("openapi", flag.ContinueOnError)
	path := configPath(fs, env)
	asYAML := fs.Bool("yaml", false, "print YAML instead of JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := loadConfig(*path, env)
	if err != nil {
		return err
	}
	served, err := api.ServedSpec(api.SpecOptions{
		Groups: c.EndpointGroups, Endpoints: c.Endpoints, Name: c.Name, Title: c.Title, Description: c.Description,
	})
	if err != nil {
		return err
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

func tokenCmd(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	subject := fs.String("subject", "me", "the subject the token stands for")
	name := fs.String("name", "", "display name (defaults to the subject)")
	if err := fs.Parse(args); err != nil {
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
