package controlplane_test

import (
	"context"
	"strings"
	"testing"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// served serves tasks only; everything else is left to the embedded Unimplemented.
type served struct{ controlplane.Unimplemented }

func (served) GetTask(context.Context, controlplane.TaskRef) (controlplane.Task, error) {
	return controlplane.Task{Type: "served"}, nil
}

func TestUnimplementedChecksCredentialsFirst(t *testing.T) {
	refuse := controlplane.Errorf(controlplane.CodeUnauthenticated, "who are you")
	var b controlplane.Backend = served{controlplane.Unimplemented{
		Backend: "the test backend",
		Authenticate: func(ctx context.Context) error {
			if controlplane.CredentialsFrom(ctx).Authorization != "Bearer ok" {
				return refuse
			}
			return nil
		},
	}}
	good := controlplane.WithCredentials(context.Background(), controlplane.Credentials{Authorization: "Bearer ok"})
	bad := controlplane.WithCredentials(context.Background(), controlplane.Credentials{Authorization: "Bearer nope"})

	if task, err := b.GetTask(bad, controlplane.TaskRef{}); err != nil || task.Type != "served" {
		t.Fatalf("an overridden method is the backend's own: %v %v", task, err)
	}
	_, err := b.GetApp(bad, controlplane.AppRef{Name: "a"})
	if controlplane.CodeOf(err) != controlplane.CodeUnauthenticated {
		t.Errorf("bad credentials on an unimplemented method: %v, want unauthenticated", err)
	}
	_, err = b.GetApp(good, controlplane.AppRef{Name: "a"})
	if controlplane.CodeOf(err) != controlplane.CodeUnimplemented || !strings.Contains(controlplane.MessageOf(err), "the test backend") {
		t.Errorf("good credentials on an unimplemented method: %v, want unimplemented naming the backend", err)
	}
	_, err = controlplane.Unimplemented{}.PrefetchModel(context.Background(), controlplane.ModelPrefetch{})
	if controlplane.CodeOf(err) != controlplane.CodeUnimplemented || !strings.Contains(err.Error(), "this backend") {
		t.Errorf("zero Unimplemented: %v", err)
	}
}
