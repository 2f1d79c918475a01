package client_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"time"

	client "github.com/flyte-webhook/flyte-webhook/clients/go"
	"github.com/flyte-webhook/flyte-webhook/controlplane/local/identity"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

// Run a task, wait for it, read its outputs, and handle a problem+json error.
func Example() {
	baseURL, token, stop := exampleServer() // the real server, in-process, on the local backend
	defer stop()
	ctx := context.Background()

	c, err := client.New(baseURL, token)
	if err != nil {
		log.Fatal(err)
	}

	// run_task: the body is the task's inputs.
	res, err := c.RunTaskWithResponse(ctx, "development", "examples", "greet", nil,
		client.Inputs{"name": "Ada"})
	if err != nil {
		log.Fatal(err) // transport failure
	}
	if err := client.ErrorOf(res); err != nil {
		log.Fatal(err) // the API answered with a problem
	}

	// get_run until done, then get_run_io.
	run, err := client.WaitForRun(ctx, c, res.JSON200.Name, 100*time.Millisecond)
	if err != nil {
		log.Fatal(err)
	}
	io, err := c.GetRunIoWithResponse(ctx, run.Name, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(run.Phase, (*io.JSON200.Outputs)["greeting"])

	// Errors are RFC 9457 problems.
	missing, err := c.GetTaskWithResponse(ctx, "development", "examples", "no-such-task", nil)
	if err != nil {
		log.Fatal(err)
	}
	if p := client.ProblemOf(missing); p != nil {
		fmt.Println(p.Status, p.Title)
	}
	// Output:
	// succeeded Hello, Ada!
	// 404 Not Found
}

// exampleServer starts the webhook on the example workspace in a temporary data directory.
func exampleServer() (baseURL, token string, stop func()) {
	dir, err := os.MkdirTemp("", "client-example-")
	if err != nil {
		log.Fatal(err)
	}
	token, _, err = identity.NewToken()
	if err != nil {
		log.Fatal(err)
	}
	b, err := openBackend(dir, token)
	if err != nil {
		log.Fatal(err)
	}
	h, err := impl.NewHandler(impl.Config{}, b)
	if err != nil {
		log.Fatal(err)
	}
	ts := httptest.NewServer(h)
	return ts.URL, token, func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Close(ctx)
		_ = os.RemoveAll(dir)
	}
}
