package controlplane

import "time"

// Identity is who the control plane says the caller is.
type Identity struct {
	Subject string
	Name    string
	// Allowlists, when not nil, narrow what this caller may reach: the webhook allows a
	// target only when both its own allowlists and these do (for example, the allowlists a
	// CI token's claims select; see package identity). Nil narrows nothing. A pointer, so
	// an Identity stays comparable.
	Allowlists *Allowlists
}

// TaskRef names a task. Version "" means the latest registered version.
type TaskRef struct {
	Domain  string
	Project string
	Name    string
	Version string
}

// Task is a registered task version.
type Task struct {
	// Ref names the task with its resolved version.
	Ref  TaskRef
	Type string
	// Inputs and Outputs are the task's interface, in declaration order.
	Inputs  []Variable
	Outputs []Variable
	Cache   Cache
	// Secrets are the names of the secrets the task uses, never their values.
	Secrets []string
}

// RequiredArgs returns the names of the inputs without a default, in declaration order.
func (t Task) RequiredArgs() []string {
	out := []string{}
	for _, v := range t.Inputs {
		if !v.HasDefault {
			out = append(out, v.Name)
		}
	}
	return out
}

// DefaultInputNames returns the names of the inputs with a default, in declaration order.
func (t Task) DefaultInputNames() []string {
	out := []string{}
	for _, v := range t.Inputs {
		if v.HasDefault {
			out = append(out, v.Name)
		}
	}
	return out
}

// DefaultInputs returns the inputs with a default, and their defaults.
func (t Task) DefaultInputs() map[string]any {
	out := map[string]any{}
	for _, v := range t.Inputs {
		if v.HasDefault {
			out[v.Name] = v.Default
		}
	}
	return out
}

// Variable is one input or output of a task.
type Variable struct {
	Name string
	// Type is one of string, integer, float, boolean, list, object, datetime, duration, or a
	// backend's own type name.
	Type        string
	Description string
	// HasDefault tells a default of nil (JSON null) from no default.
	HasDefault bool
	Default    any
}

// Cache is a task's cache settings.
type Cache struct {
	// Behavior is disable, auto or override.
	Behavior        string
	VersionOverride string
	Serialize       bool
}

// RunTaskRequest asks for a run of a task.
type RunTaskRequest struct {
	Task TaskRef
	// Inputs by name. Numbers arrive as json.Number so integers stay exact.
	Inputs map[string]any
	// IdempotencyKey, when not "", makes the request safe to retry (see Backend.RunTask).
	IdempotencyKey string
}

// Kind says what started a run.
type Kind string

// The kinds of run.
const (
	KindTask       Kind = "task"
	KindPrefetch   Kind = "prefetch"
	KindImageBuild Kind = "image_build"
)

// Phase is a run's phase, named as Flyte names it in lower case.
type Phase string

// The phases of a run.
const (
	PhaseQueued              Phase = "queued"
	PhaseWaitingForResources Phase = "waiting_for_resources"
	PhaseInitializing        Phase = "initializing"
	PhaseRunning             Phase = "running"
	PhasePaused              Phase = "paused"
	PhaseSucceeded           Phase = "succeeded"
	PhaseFailed              Phase = "failed"
	PhaseAborted             Phase = "aborted"
	PhaseTimedOut            Phase = "timed_out"
	PhaseRecovered           Phase = "recovered"
)

// Done reports whether the phase is final.
func (p Phase) Done() bool {
	switch p {
	case PhaseSucceeded, PhaseFailed, PhaseAborted, PhaseTimedOut, PhaseRecovered:
		return true
	}
	return false
}

// Run is one run of a task, a model prefetch or an image build.
type Run struct {
	Name  string
	Kind  Kind
	Task  TaskRef
	Phase Phase
	// URL is where to look at the run.
	URL string
	// Error says why the run failed, when it did.
	Error    string
	Attempts int
	// Zero times are unknown or not yet reached.
	CreatedAt time.Time
	StartedAt time.Time
	EndedAt   time.Time
}

// RunRef names a run. Project and Domain "" mean the backend's defaults (the local backend
// has one namespace of runs and ignores them; Flyte looks runs up in a project and domain).
type RunRef struct {
	Name    string
	Project string
	Domain  string
}

// AbortRunRequest asks for a run to be aborted.
type AbortRunRequest struct {
	Run RunRef
	// Reason is recorded with the abort.
	Reason string
}

// RunIO is a run with its inputs and outputs. A nil map is JSON null.
type RunIO struct {
	Run     Run
	Inputs  map[string]any
	Outputs map[string]any
}

// AppRef names an app. Domain and Project "" mean the backend's defaults.
type AppRef struct {
	Domain  string
	Project string
	Name    string
}

// App is a served app.
type App struct {
	Name     string
	Revision int64
	// Endpoint is the app's public endpoint, "" when it has none.
	Endpoint    string
	Active      bool
	Deactivated bool
	// URL is where to look at the app.
	URL string
}

// SetAppActiveRequest activates (Active) or deactivates an app. With Wait the answer comes
// once the app has reached that state.
type SetAppActiveRequest struct {
	App    AppRef
	Active bool
	Wait   bool
}

// AppCall is one request to an app.
type AppCall struct {
	App    AppRef
	Method string
	// Path on the app, starting with "/".
	Path string
	// Query values are strings, numbers, booleans or lists of them.
	Query map[string]any
	// Payload, when not nil, is sent as the JSON body.
	Payload map[string]any
}

// AppResponse is an app's answer.
type AppResponse struct {
	Status      int
	ContentType string
	Body        []byte
}

// TriggerRef names a trigger of a task. Project and Domain "" mean the backend's defaults.
type TriggerRef struct {
	TaskName string
	Name     string
	Project  string
	Domain   string
}

// SetTriggerActiveRequest switches a trigger on (Active) or off.
type SetTriggerActiveRequest struct {
	Trigger TriggerRef
	Active  bool
}

// Trigger is a trigger and whether it is on.
type Trigger struct {
	TaskName string
	Name     string
	Active   bool
}

// ImageBuild asks for a container image build. Empty strings mean the backend's defaults.
type ImageBuild struct {
	BaseImage     string
	PythonVersion string
	FlyteVersion  string
	Name          string
	Pre           bool
	PipPackages   []string
	AptPackages   []string
	Platforms     []string
}

// ImageBuildResult is a started image build.
type ImageBuildResult struct {
	Run         Run
	ImageName   string
	BaseImage   string
	PipPackages []string
	AptPackages []string
}

// ModelPrefetch asks for a HuggingFace model to be prefetched.
type ModelPrefetch struct {
	Repo             string
	RawDataPath      string
	ArtifactName     string
	Architecture     string
	Task             string
	SerialFormat     string
	ModelType        string
	ShortDescription string
	// HFTokenKey names the secret holding the HuggingFace token.
	HFTokenKey string
	CPU        string
	Memory     string
	Disk       string
	Force      int
	Modalities []string
}
