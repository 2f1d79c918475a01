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
	// Labels are kept on the run (see CheckLabels for what is accepted); nil for none.
	Labels map[string]string
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
	// Trigger names the trigger that started the run (a trigger of the run's task), "" for a
	// run started otherwise. ScheduledAt is the schedule time it fired for, zero when Trigger
	// is "".
	Trigger     string
	ScheduledAt time.Time
	// Caller is the subject of who started the run ("trigger:<task>/<trigger>" for a
	// trigger's run), "" when the backend does not know (runs stored before it recorded
	// callers). Labels are the labels the run was started with, nil for none.
	Caller string
	Labels map[string]string
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

// AppStatus is what an app's process is doing.
type AppStatus string

// The statuses. "" means the backend does not say.
const (
	// AppStarting: started, its health check has not passed yet.
	AppStarting AppStatus = "starting"
	// AppRunning: its health check passed; it serves.
	AppRunning AppStatus = "running"
	// AppCrashed: it exited without being asked to; it is restarted after a backoff while
	// it is wanted active.
	AppCrashed AppStatus = "crashed"
	// AppStopped: no process (never started, or deactivated).
	AppStopped AppStatus = "stopped"
)

// App is a served app.
type App struct {
	Name string
	// Revision changes whenever the app's declaration changes.
	Revision int64
	// Endpoint is the app's base URL, "" when it has none (for the local backend: while it
	// has no process).
	Endpoint string
	// Active: wanted active and serving. Deactivated: wanted inactive and stopped. Both are
	// false on the way from one to the other.
	Active      bool
	Deactivated bool
	// URL is where to look at the app.
	URL string
	// Status, Restarts (since it was last activated) and LastError (why it last crashed or
	// failed to start, "" when it has not) are optional: "" and 0 when the backend does not
	// say.
	Status    AppStatus
	Restarts  int
	LastError string
}

// SetAppActiveRequest activates (Active) or deactivates an app. With Wait the answer comes
// once the app has reached that state: for an activation, once it serves (or
// CodeDeadlineExceeded after the backend's bound, the app still starting); for a
// deactivation, once its process has exited.
type SetAppActiveRequest struct {
	App    AppRef
	Active bool
	Wait   bool
}

// AppCall is one request to an app. The HTTP layer has checked Path with AppPath and built
// RawQuery with MergeQuery, so every backend sends what the same rules let through.
type AppCall struct {
	App AppRef
	// Method is upper case: GET, POST, PUT, PATCH, DELETE or HEAD.
	Method string
	// Path on the app: escaped, starting with "/" (AppPath's result).
	Path string
	// RawQuery is the encoded query string, without '?' ("" for none): MergeQuery's result.
	RawQuery string
	// Payload, when not nil, is sent as the JSON body (for methods that have a body).
	Payload map[string]any
}

// AppResponse is an app's answer.
type AppResponse struct {
	Status      int
	ContentType string
	Body        []byte
	// Location is the answer's Location header (of a redirect, which is relayed, not
	// followed), "" when there is none or when it pointed at the app's own address, which
	// the backend never relays.
	Location string
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
	// Run is the build's run, of KindImageBuild.
	Run Run
	// ImageName is the image the build makes when the request named one, "" (JSON null, as
	// the Python app answers) when it did not; the run's outputs then carry the reference
	// built.
	ImageName string
	// BaseImage is the image built on, the backend's default applied.
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
