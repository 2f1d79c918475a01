package client_test

import (
	"context"
	"fmt"
	"log"

	client "github.com/flyte-webhook/flyte-webhook/clients/go"
)

// Watch a run's events as they happen, to its end: one connection instead of polling, and
// the stream goes on after a dropped connection or a server restart.
func ExampleWatchRun() {
	baseURL, token, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c, err := client.New(baseURL, token)
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.RunTaskWithResponse(ctx, "development", "examples", "greet", nil, client.Inputs{"name": "Ada"})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.ErrorOf(res); err != nil {
		log.Fatal(err)
	}

	logs := true
	for ev, err := range client.WatchRun(ctx, c, res.JSON200.Name, &client.WatchRunParams{Logs: &logs}, nil) {
		if err != nil {
			log.Fatal(err) // a *client.Problem (404, 403, …), ctx's error, or the retries spent
		}
		switch ev.Type {
		case client.RunEventPhase:
			fmt.Println("phase", *ev.Phase)
		case client.RunEventLog:
			fmt.Println("log", *ev.Line)
		case client.RunEventEnd:
			fmt.Println("end", *ev.Phase, (*ev.Outputs)["greeting"])
		}
	}
	// Output:
	// phase queued
	// phase running
	// log Hello, Ada!
	// phase succeeded
	// end succeeded Hello, Ada!
}
