package client_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	client "github.com/flyte-webhook/flyte-webhook/clients/go"
	"github.com/flyte-webhook/flyte-webhook/impl"
)

const (
	dom  = "development"
	proj = "examples"
)

// wantProblem checks that res is the problem+json answer status and returns it.
func wantProblem(t *testing.T, res client.Result, status int, detail string) *client.Problem {
	t.Helper()
	p := client.ProblemOf(res)
	if p == nil {
		t.Fatalf("want a %d problem, got %d: %s", status, res.StatusCode(), res.GetBody())
	}
	if p.Status != status || res.StatusCode() != status {
		t.Fatalf("want status %d, got %d (problem status %d): %s", status, res.StatusCode(), p.Status, res.GetBody())
	}
	if !strings.HasPrefix(res.ContentType(), "application/problem+json") {
		t.Errorf("content type %q, want application/problem+json", res.ContentType())
	}
	if !strings.Contains(p.Detail, detail) {
		t.Errorf("detail %q does not contain %q", p.Detail, detail)
	}
	if p.RequestId == nil || *p.RequestId == "" {
		t.Errorf("problem without request_id: %s", res.GetBody())
	}
	var err error = p
	var as *client.Problem
	if !errors.As(client.ErrorOf(res), &as) || as.Status != status || err.Error() == "" {
		t.Errorf("ErrorOf does not give the problem back")
	}
	return p
}

func mustOK(t *testing.T, res client.Result, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if err := client.ErrorOf(res); err != nil {
		t.Fatalf("unexpected problem: %v", err)
	}
	if client.ProblemOf(res) != nil {
		t.Fatal("ProblemOf of a 2xx answer is not nil")
	}
}

func TestCore(t *testing.T) {
	t.Parallel()
	s := startServer(t, impl.Config{Name: "test-webhook"}, nil, "")
	c := newClient(t, s, s.Token)
	anon := newClient(t, s, "")
	ctx := ctxT(t)

	t.Run("health needs no credentials", func(t *testing.T) {
		res, err := anon.HealthWithResponse(ctx)
		mustOK(t, res, err)
		if res.JSON200 == nil || res.JSON200.Status != "healthy" {
			t.Fatalf("health: %s", res.Body)
		}
	})
	t.Run("me", func(t *testing.T) {
		res, err := c.MeWithResponse(ctx)
		mustOK(t, res, err)
		if got := *res.JSON200; got.Subject != "tester" || got.Name != "Tester" {
			t.Fatalf("me: %+v", got)
		}
	})
	t.Run("me without credentials is 401", func(t *testing.T) {
		res, err := anon.MeWithResponse(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, res, http.StatusUnauthorized, "credentials required")
		if !strings.HasPrefix(res.HTTPResponse.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("WWW-Authenticate %q", res.HTTPResponse.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("me with a wrong token is 401", func(t *testing.T) {
		res, err := newClient(t, s, "not-the-token").MeWithResponse(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, res, http.StatusUnauthorized, "")
	})
	t.Run("run_task without credentials is 401", func(t *testing.T) {
		res, err := anon.RunTaskWithResponse(ctx, dom, proj, "greet", nil, client.Inputs{})
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, res, http.StatusUnauthorized, "")
	})
}

func TestTasks(t *testing.T) {
	t.Parallel()
	s := startServer(t, impl.Config{}, nil, "")
	c := newClient(t, s, s.Token)
	ctx := ctxT(t)

	t.Run("get_task", func(t *testing.T) {
		res, err := c.GetTaskWithResponse(ctx, dom, proj, "greet", nil)
		mustOK(t, res, err)
		got := res.JSON200
		if got.Name != "greet" || got.Version != "v1" || len(got.RequiredArgs) != 0 {
			t.Fatalf("get_task: %s", res.Body)
		}
		if strings.Join(got.DefaultInputArgs, ",") != "name,times" {
			t.Errorf("default_input_args: %v", got.DefaultInputArgs)
		}
		// inputs: the defaults are raw JSON (exact integers; a null default is not none).
		if got.Inputs == nil || len(*got.Inputs) != 2 {
			t.Fatalf("inputs: %s", res.Body)
		}
		name, times := (*got.Inputs)[0], (*got.Inputs)[1]
		if name.Name != "name" || name.Type != "string" || name.Required || string(name.Default) != `"world"` ||
			name.Description == nil || *name.Description != "Who to greet." {
			t.Errorf("inputs[0]: %+v", name)
		}
		if times.Name != "times" || times.Type != "integer" || times.Required || string(times.Default) != "1" || times.Description != nil {
			t.Errorf("inputs[1]: %+v", times)
		}
		if got.Outputs == nil || len(*got.Outputs) != 1 || (*got.Outputs)[0].Name != "greeting" || (*got.Outputs)[0].Type != "string" {
			t.Errorf("outputs: %s", res.Body)
		}
		res, err = c.GetTaskWithResponse(ctx, dom, proj, "sum", &client.GetTaskParams{Version: ptr("v1")})
		mustOK(t, res, err)
		if strings.Join(res.JSON200.RequiredArgs, ",") != "a,b" || len(res.JSON200.DefaultInputArgs) != 0 {
			t.Errorf("sum required_args %v, default_input_args %v", res.JSON200.RequiredArgs, res.JSON200.DefaultInputArgs)
		}
		for _, in := range *res.JSON200.Inputs {
			if !in.Required || in.Default != nil {
				t.Errorf("sum input without a default: %+v", in)
			}
		}
	})
	t.Run("get_task unknown is 404", func(t *testing.T) {
		res, err := c.GetTaskWithResponse(ctx, dom, proj, "nope", nil)
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, res, http.StatusNotFound, "nope")
		res, err = c.GetTaskWithResponse(ctx, dom, proj, "greet", &client.GetTaskParams{Version: ptr("v999")})
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, res, http.StatusNotFound, "")
	})
	t.Run("get_task empty version is 422", func(t *testing.T) {
		res, err := c.GetTaskWithResponse(ctx, dom, proj, "greet", &client.GetTaskParams{Version: ptr("")})
		if err != nil {
			t.Fatal(err)
		}
		p := wantProblem(t, res, http.StatusUnprocessableEntity, "")
		if p.Errors == nil || len(*p.Errors) == 0 || (*p.Errors)[0].Name != "version" {
			t.Errorf("422 errors: %s", res.Body)
		}
	})
	t.Run("run, poll, read I/O", func(t *testing.T) {
		res, err := c.RunTaskWithResponse(ctx, dom, proj, "greet", nil, client.Inputs{"name": "Ada", "times": 2})
		mustOK(t, res, err)
		name := res.JSON200.Name
		if name == "" || res.JSON200.Url == "" {
			t.Fatalf("run_task: %s", res.Body)
		}
		run, err := client.WaitForRun(ctx, c, name, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if run.Phase != client.Succeeded || !run.Done {
			t.Fatalf("run: %+v", run)
		}
		io, err := c.GetRunIoWithResponse(ctx, name, nil)
		mustOK(t, io, err)
		if io.JSON200.Inputs == nil || (*io.JSON200.Inputs)["name"] != "Ada" {
			t.Errorf("inputs: %s", io.Body)
		}
		if io.JSON200.Outputs == nil || (*io.JSON200.Outputs)["greeting"] != "Hello, Ada! Hello, Ada!" {
			t.Errorf("outputs: %s", io.Body)
		}
	})
	t.Run("large integers stay exact", func(t *testing.T) {
		body := strings.NewReader(`{"a": 9007199254740993, "b": 1}`)
		res, err := c.RunTaskWithBodyWithResponse(ctx, dom, proj, "sum", nil, "application/json", body)
		mustOK(t, res, err)
		if _, err := client.WaitForRun(ctx, c, res.JSON200.Name, 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		io, err := c.GetRunIoWithResponse(ctx, res.JSON200.Name, nil)
		mustOK(t, io, err)
		if !strings.Contains(string(io.Body), `9007199254740994`) {
			t.Errorf("sum: %s", io.Body)
		}
	})
	t.Run("a failing task ends failed with no outputs", func(t *testing.T) {
		res, err := c.RunTaskWithResponse(ctx, dom, proj, "fail", nil, client.Inputs{})
		mustOK(t, res, err)
		run, err := client.WaitForRun(ctx, c, res.JSON200.Name, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if run.Phase != client.Failed || run.Error == nil || *run.Error == "" {
			t.Fatalf("run: %+v", run)
		}
		io, err := c.GetRunIoWithResponse(ctx, res.JSON200.Name, nil)
		mustOK(t, io, err)
		if io.JSON200.Outputs != nil {
			t.Errorf("outputs of a failed run: %s", io.Body)
		}
	})
	t.Run("retries", func(t *testing.T) {
		res, err := c.RunTaskWithResponse(ctx, dom, proj, "flaky", nil, client.Inputs{})
		mustOK(t, res, err)
		run, err := client.WaitForRun(ctx, c, res.JSON200.Name, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if run.Phase != client.Succeeded || run.Attempts == nil || *run.Attempts < 2 {
			t.Fatalf("run: %+v", run)
		}
	})
	t.Run("inputs that don't fit the task are 400", func(t *testing.T) {
		for _, tc := range []struct {
			name, detail string
			in           client.Inputs
		}{
			{"wrong type", `input "a": want integer`, client.Inputs{"a": "x", "b": 1}},
			{"missing", `input "b": required`, client.Inputs{"a": 1}},
			{"unknown input", `input "c"`, client.Inputs{"a": 1, "b": 2, "c": 3}},
		} {
			res, err := c.RunTaskWithResponse(ctx, dom, proj, "sum", nil, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			wantProblem(t, res, http.StatusBadRequest, tc.detail)
		}
	})
	t.Run("no body means no inputs", func(t *testing.T) {
		res, err := c.RunTaskWithBodyWithResponse(ctx, dom, proj, "greet", nil, "", http.NoBody)
		mustOK(t, res, err)
		run, err := client.WaitForRun(ctx, c, res.JSON200.Name, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		io, err := c.GetRunIoWithResponse(ctx, run.Name, nil)
		mustOK(t, io, err)
		if run.Phase != client.Succeeded || io.JSON200.Outputs == nil || (*io.JSON200.Outputs)["greeting"] != "Hello, world!" {
			t.Errorf("run %+v, io %s", run, io.Body)
		}
	})
	t.Run("a body that is not an object is 422", func(t *testing.T) {
		res, err := c.RunTaskWithBodyWithResponse(ctx, dom, proj, "sum", nil, "application/json", strings.NewReader(`[1, 2]`))
		if err != nil {
			t.Fatal(err)
		}
		p := wantProblem(t, res, http.StatusUnprocessableEntity, "")
		if p.Errors == nil || len(*p.Errors) == 0 || (*p.Errors)[0].In != client.Body {
			t.Errorf("422 errors: %s", res.Body)
		}
	})
	t.Run("run_task unknown task is 404", func(t *testing.T) {
		res, err := c.RunTaskWithResponse(ctx, dom, proj, "nope", nil, client.Inputs{})
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, res, http.StatusNotFound, "nope")
	})
	t.Run("Idempotency-Key", func(t *testing.T) {
		key := ptr("key-" + t.Name())
		first, err := c.RunTaskWithResponse(ctx, dom, proj, "greet", &client.RunTaskParams{IdempotencyKey: key}, client.Inputs{"name": "x"})
		mustOK(t, first, err)
		again, err := c.RunTaskWithResponse(ctx, dom, proj, "greet", &client.RunTaskParams{IdempotencyKey: key}, client.Inputs{"name": "x"})
		mustOK(t, again, err)
		if again.JSON200.Name != first.JSON200.Name {
			t.Errorf("same key, same inputs: runs %s and %s", first.JSON200.Name, again.JSON200.Name)
		}
		other, err := c.RunTaskWithResponse(ctx, dom, proj, "greet", &client.RunTaskParams{IdempotencyKey: key}, client.Inputs{"name": "y"})
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, other, http.StatusConflict, "")
	})
}

func TestRuns(t *testing.T) {
	t.Parallel()
	s := startServer(t, impl.Config{}, nil, "")
	c := newClient(t, s, s.Token)
	ctx := ctxT(t)

	t.Run("unknown run is 404", func(t *testing.T) {
		get, err := c.GetRunWithResponse(ctx, "r-unknown", nil)
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, get, http.StatusNotFound, "r-unknown")
		io, err := c.GetRunIoWithResponse(ctx, "r-unknown", nil)
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, io, http.StatusNotFound, "r-unknown")
		ab, err := c.AbortRunWithResponse(ctx, "r-unknown", nil)
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, ab, http.StatusNotFound, "r-unknown")
	})
	t.Run("abort a slow run, then abort again is 409", func(t *testing.T) {
		res, err := c.RunTaskWithResponse(ctx, dom, proj, "slow", nil, client.Inputs{"seconds": 60})
		mustOK(t, res, err)
		name := res.JSON200.Name
		ab, err := c.AbortRunWithResponse(ctx, name, &client.AbortRunParams{Reason: ptr("test over")})
		mustOK(t, ab, err)
		if got := ab.JSON200; got.Name != name || got.Status != "abort_requested" || got.Reason != "test over" {
			t.Fatalf("abort: %s", ab.Body)
		}
		run, err := client.WaitForRun(ctx, c, name, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if run.Phase != client.Aborted {
			t.Fatalf("after abort: %+v", run)
		}
		again, err := c.AbortRunWithResponse(ctx, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, again, http.StatusConflict, "")
	})
	t.Run("default abort reason", func(t *testing.T) {
		res, err := c.RunTaskWithResponse(ctx, dom, proj, "slow", nil, client.Inputs{})
		mustOK(t, res, err)
		ab, err := c.AbortRunWithResponse(ctx, res.JSON200.Name, nil)
		mustOK(t, ab, err)
		if ab.JSON200.Reason != "Aborted via webhook API" {
			t.Errorf("reason %q", ab.JSON200.Reason)
		}
		if _, err := client.WaitForRun(ctx, c, res.JSON200.Name, 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	})
}

// TestBuildImage: a build through the client, its lists as query parameters, followed as a
// run; without a builder it fails, and its outputs still hand out the Containerfile.
func TestBuildImage(t *testing.T) {
	t.Parallel()
	s := startServer(t, impl.Config{Name: "test-webhook"}, nil, "")
	c := newClient(t, s, s.Token)
	ctx := ctxT(t)
	res, err := c.BuildImageWithResponse(ctx, &client.BuildImageParams{PipPackages: &[]string{"requests==2.32.3"}, AptPackages: &[]string{"curl"}}, client.BuildImageRequest{})
	mustOK(t, res, err)
	if res.JSON200.ImageName != nil || !slices.Equal(res.JSON200.PipPackages, []string{"requests==2.32.3"}) {
		t.Fatalf("build_image %+v: want no image name and the query's packages", res.JSON200)
	}
	name := res.JSON200.ImageBuildRunUrl[strings.LastIndex(res.JSON200.ImageBuildRunUrl, "/")+1:]
	run, err := client.WaitForRun(ctx, c, name, 20*time.Millisecond)
	if err != nil || run.Phase != client.Failed || run.Error == nil || !strings.Contains(*run.Error, "/nonexistent/buildah") {
		t.Fatalf("the build without a builder: %+v, %v", run, err)
	}
	io, err := c.GetRunIoWithResponse(ctx, name, nil)
	mustOK(t, io, err)
	if cf, _ := (*io.JSON200.Outputs)["containerfile"].(string); !strings.Contains(cf, "'requests==2.32.3'") {
		t.Errorf("outputs %v: want the Containerfile", io.JSON200.Outputs)
	}
	bad, err := c.BuildImageWithResponse(ctx, &client.BuildImageParams{PipPackages: &[]string{"--index-url=https://evil.example"}}, client.BuildImageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	wantProblem(t, bad, http.StatusBadRequest, "pip_packages[0]")
}

// TestUnsupported: the local backend answers 501 for model prefetches; the prefetch run
// endpoints answer 404 for runs that are not prefetches.
func TestUnsupported(t *testing.T) {
	t.Parallel()
	s := startServer(t, impl.Config{Name: "test-webhook"}, nil, "")
	c := newClient(t, s, s.Token)
	ctx := ctxT(t)

	results := map[string]func() (client.Result, error){
		"prefetch_hf_model": func() (client.Result, error) {
			return c.PrefetchHfModelWithResponse(ctx, &client.PrefetchHfModelParams{Repo: "openai-community/gpt2"}, client.Modalities{"text"})
		},
	}
	for op, call := range results {
		t.Run(op+" is 501", func(t *testing.T) {
			res, err := call()
			if err != nil {
				t.Fatal(err)
			}
			wantProblem(t, res, http.StatusNotImplemented, "not supported")
		})
	}
	t.Run("an app call aimed at the webhook itself is 400", func(t *testing.T) {
		res, err := c.GetAppWithResponse(ctx, "test-webhook", nil)
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, res, http.StatusBadRequest, "")
		call, err := c.CallAppWithResponse(ctx, "test-webhook", &client.CallAppParams{Path: "/x"}, client.CallAppRequest{})
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, call, http.StatusBadRequest, "")
	})
	t.Run("prefetch_hf_model without repo is 422", func(t *testing.T) {
		res, err := c.PrefetchHfModelWithResponse(ctx, &client.PrefetchHfModelParams{Repo: ""}, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, res, http.StatusUnprocessableEntity, "")
	})
	t.Run("prefetch run endpoints: 404 for a run that is not a prefetch", func(t *testing.T) {
		run, err := c.RunTaskWithResponse(ctx, dom, proj, "noop", nil, client.Inputs{})
		mustOK(t, run, err)
		for _, name := range []string{run.JSON200.Name, "r-unknown"} {
			get, err := c.GetPrefetchHfModelWithResponse(ctx, name, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantProblem(t, get, http.StatusNotFound, name)
			io, err := c.GetPrefetchHfModelIoWithResponse(ctx, name, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantProblem(t, io, http.StatusNotFound, name)
			ab, err := c.AbortPrefetchHfModelWithResponse(ctx, name, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantProblem(t, ab, http.StatusNotFound, name)
		}
	})
}

// TestAllowlists runs a restricted webhook over the same backend as an unrestricted one, so
// runs of tasks outside the allowlist exist and must stay out of reach.
func TestAllowlists(t *testing.T) {
	t.Parallel()
	open := startServer(t, impl.Config{}, nil, "")
	restricted := startServer(t, impl.Config{
		Name:             "test-webhook",
		TaskAllowlist:    &[]string{"greet"},
		AppAllowlist:     &[]string{"allowed-app"},
		TriggerAllowlist: &[]string{"greet/hourly"},
	}, open.Backend, open.Token)
	oc := newClient(t, open, open.Token)
	rc := newClient(t, restricted, restricted.Token)
	ctx := ctxT(t)

	sumRun, err := oc.RunTaskWithResponse(ctx, dom, proj, "sum", nil, client.Inputs{"a": 1, "b": 2})
	mustOK(t, sumRun, err)
	name := sumRun.JSON200.Name
	if _, err := client.WaitForRun(ctx, oc, name, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}

	forbidden := map[string]func() (client.Result, error){
		"run_task": func() (client.Result, error) {
			return rc.RunTaskWithResponse(ctx, dom, proj, "sum", nil, client.Inputs{"a": 1, "b": 2})
		},
		"get_task":   func() (client.Result, error) { return rc.GetTaskWithResponse(ctx, dom, proj, "sum", nil) },
		"get_run":    func() (client.Result, error) { return rc.GetRunWithResponse(ctx, name, nil) },
		"get_run_io": func() (client.Result, error) { return rc.GetRunIoWithResponse(ctx, name, nil) },
		"abort_run":  func() (client.Result, error) { return rc.AbortRunWithResponse(ctx, name, nil) },
		"get_app":    func() (client.Result, error) { return rc.GetAppWithResponse(ctx, "other-app", nil) },
		"activate_trigger": func() (client.Result, error) {
			return rc.ActivateTriggerWithResponse(ctx, "sum", "hourly", nil)
		},
	}
	for op, call := range forbidden {
		t.Run(op+" outside the allowlist is 403", func(t *testing.T) {
			res, err := call()
			if err != nil {
				t.Fatal(err)
			}
			wantProblem(t, res, http.StatusForbidden, "")
		})
	}
	t.Run("inside the allowlist", func(t *testing.T) {
		res, err := rc.RunTaskWithResponse(ctx, dom, proj, "greet", nil, client.Inputs{})
		mustOK(t, res, err)
		run, err := client.WaitForRun(ctx, rc, res.JSON200.Name, 50*time.Millisecond)
		if err != nil || run.Phase != client.Succeeded {
			t.Fatalf("run %+v, %v", run, err)
		}
	})
}

// TestDisabledOperations: an operation outside the enabled groups is a plain 404 (not in the
// deployment's spec); ProblemOf still gives a usable problem.
func TestDisabledOperations(t *testing.T) {
	t.Parallel()
	s := startServer(t, impl.Config{EndpointGroups: []string{"core"}}, nil, "")
	c := laxClient(t, s, s.Token)
	ctx := ctxT(t)
	res, err := c.RunTaskWithResponse(ctx, dom, proj, "greet", nil, client.Inputs{})
	if err != nil {
		t.Fatal(err)
	}
	p := client.ProblemOf(res)
	if p == nil || p.Status != http.StatusNotFound || p.Title != "Not Found" {
		t.Fatalf("disabled operation: %d %q → %+v", res.StatusCode(), res.Body, p)
	}
	me, err := c.MeWithResponse(ctx)
	mustOK(t, me, err)
}

func TestNewOptions(t *testing.T) {
	t.Parallel()
	s := startServer(t, impl.Config{}, nil, "")
	ctx := ctxT(t)
	// A path prefix in the base URL and a trailing slash are kept as given.
	c, err := client.New(s.URL+"/", s.Token, client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.MeWithResponse(ctx)
	mustOK(t, res, err)
	// A tiny timeout fails at the transport, not as a problem.
	slow, err := client.New(s.URL, s.Token, client.WithTimeout(time.Nanosecond))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slow.MeWithResponse(ctx); err == nil {
		t.Error("a 1ns timeout did not fail")
	}
	if _, err := client.New("://bad", ""); err == nil {
		t.Error("a bad base URL was accepted")
	}
}
