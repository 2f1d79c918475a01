package controlplane_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// A backend returns an *Error with a message written for the caller; the webhook maps its
// code to an HTTP status and shows the message. Causes stay in the logs.
func ExampleCodeOf() {
	_, cause := os.Open("/nonexistent/flyte-webhook.db")
	err := fmt.Errorf("local: get run: %w",
		controlplane.Wrap(controlplane.CodeUnavailable, cause, "the run store is unavailable"))

	fmt.Println(controlplane.CodeOf(err))
	fmt.Println(controlplane.MessageOf(err))
	fmt.Println(errors.Is(err, controlplane.ErrUnavailable))
	fmt.Println(controlplane.CodeOf(errors.New("anything else")))
	// Output:
	// unavailable
	// the run store is unavailable
	// true
	// internal
}
