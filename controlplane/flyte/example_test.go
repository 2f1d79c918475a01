package flyte_test

import (
	"context"
	"fmt"

	"github.com/flyte-webhook/flyte-webhook/controlplane/flyte"
)

// Open checks the configuration before anything else and names the key at fault, as the
// user's config file spells it under backend.flyte.
func ExampleOpen() {
	_, err := flyte.Open(context.Background(), flyte.Config{Endpoint: "https://flyte.example", Project: "flytesnacks"})
	fmt.Println(err)
	_, err = flyte.Open(context.Background(), flyte.Config{
		Endpoint: "https://flyte.example", Project: "flytesnacks", Domain: "development",
		ServiceIdentity: &flyte.ServiceIdentity{ClientID: "webhook"},
	})
	fmt.Println(err)
	// Output:
	// flyte.domain: required
	// flyte.service_identity: exactly one of client_secret_file and client_secret_env is required
}
