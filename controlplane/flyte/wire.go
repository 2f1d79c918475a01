package flyte

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// The messages of flyteidl2 this backend uses, in protojson's shape: field names in
// lowerCamelCase, 64-bit integers as strings, enums by name, defaults omitted. Only the fields
// the backend reads or writes are declared; the decoder ignores the rest.

// runID is flyteidl2.common.RunIdentifier.
type runID struct {
	Org     string `json:"org,omitempty"`
	Project string `json:"project,omitempty"`
	Domain  string `json:"domain,omitempty"`
	Name    string `json:"name,omitempty"`
}

// actionID is flyteidl2.common.ActionIdentifier.
type actionID struct {
	Run  runID  `json:"run"`
	Name string `json:"name,omitempty"`
}

// projectID is flyteidl2.common.ProjectIdentifier.
type projectID struct {
	Organization string `json:"organization,omitempty"`
	Name         string `json:"name,omitempty"`
	Domain       string `json:"domain,omitempty"`
}

// taskID is flyteidl2.task.TaskIdentifier.
type taskID struct {
	Org     string `json:"org,omitempty"`
	Project string `json:"project,omitempty"`
	Domain  string `json:"domain,omitempty"`
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
}

// --- identity and auth metadata

type userInfoRequest struct{}

type userInfoResponse struct {
	Subject           string `json:"subject"`
	Name              string `json:"name"`
	PreferredUsername string `json:"preferredUsername"`
	GivenName         string `json:"givenName"`
	FamilyName        string `json:"familyName"`
	Email             string `json:"email"`
}

type oauth2MetadataRequest struct{}

type oauth2MetadataResponse struct {
	Issuer        string `json:"issuer"`
	TokenEndpoint string `json:"tokenEndpoint"`
}

// --- tasks

type getTaskDetailsRequest struct {
	TaskID taskID `json:"taskId"`
}

type getTaskDetailsResponse struct {
	Details taskDetails `json:"details"`
}

type taskDetails struct {
	TaskID   taskID   `json:"taskId"`
	Metadata taskMeta `json:"metadata"`
	Spec     taskSpec `json:"spec"`
}

type taskMeta struct {
	ShortName       string    `json:"shortName"`
	DeployedAt      time.Time `json:"deployedAt"`
	EnvironmentName string    `json:"environmentName"`
}

type taskSpec struct {
	TaskTemplate  taskTemplate     `json:"taskTemplate"`
	DefaultInputs []namedParameter `json:"defaultInputs"`
	ShortName     string           `json:"shortName"`
}

type taskTemplate struct {
	Type            string            `json:"type"`
	Metadata        templateMeta      `json:"metadata"`
	Interface       typedInterface    `json:"interface"`
	SecurityContext *securityContext  `json:"securityContext"`
	Config          map[string]string `json:"config"`
}

type templateMeta struct {
	Discoverable      bool   `json:"discoverable"`
	DiscoveryVersion  string `json:"discoveryVersion"`
	CacheSerializable bool   `json:"cacheSerializable"`
}

type securityContext struct {
	Secrets []secret `json:"secrets"`
}

type secret struct {
	Group  string `json:"group"`
	Key    string `json:"key"`
	EnvVar string `json:"envVar"`
}

type typedInterface struct {
	Inputs  variableMap `json:"inputs"`
	Outputs variableMap `json:"outputs"`
}

// variableMap is flyteidl2.core.VariableMap. Newer control planes send its variables as an
// ordered list of {key, value} entries; the older proto had a map (whose JSON order is not
// the declaration order). Both are read.
type variableMap struct {
	Variables []variableEntry `json:"variables"`
}

type variableEntry struct {
	Key   string   `json:"key"`
	Value variable `json:"value"`
}

type variable struct {
	Type        literalType `json:"type"`
	Description string      `json:"description"`
}

func (m *variableMap) UnmarshalJSON(b []byte) error {
	var raw struct {
		Variables json.RawMessage `json:"variables"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	v := bytes.TrimSpace(raw.Variables)
	switch {
	case len(v) == 0 || bytes.Equal(v, []byte("null")):
		m.Variables = nil
		return nil
	case v[0] == '[':
		return json.Unmarshal(v, &m.Variables)
	case v[0] == '{':
		// A JSON object keeps its order in the text: read it token by token.
		dec := json.NewDecoder(bytes.NewReader(v))
		if _, err := dec.Token(); err != nil {
			return err
		}
		m.Variables = nil
		for dec.More() {
			t, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := t.(string)
			var val variable
			if err := dec.Decode(&val); err != nil {
				return err
			}
			m.Variables = append(m.Variables, variableEntry{Key: key, Value: val})
		}
		return nil
	}
	return fmt.Errorf("variables: want a list or an object")
}

type namedParameter struct {
	Name      string    `json:"name"`
	Parameter parameter `json:"parameter"`
}

type parameter struct {
	Var      variable `json:"var"`
	Default  *literal `json:"default"`
	Required bool     `json:"required"`
}

type listTasksRequest struct {
	ProjectID projectID   `json:"projectId"`
	Request   listRequest `json:"request"`
}

type listRequest struct {
	Limit   uint32   `json:"limit"`
	SortBy  *sortBy  `json:"sortBy,omitempty"`
	Filters []filter `json:"filters,omitempty"`
}

type sortBy struct {
	Key       string `json:"key"`
	Direction string `json:"direction"`
}

type filter struct {
	Function string   `json:"function"`
	Field    string   `json:"field"`
	Values   []string `json:"values"`
}

type listTasksResponse struct {
	Tasks []struct {
		TaskID taskID `json:"taskId"`
	} `json:"tasks"`
}

// --- runs

type createRunRequest struct {
	RunID     *runID     `json:"runId,omitempty"`
	ProjectID *projectID `json:"projectId,omitempty"`
	TaskID    taskID     `json:"taskId"`
	Inputs    inputs     `json:"inputs"`
	RunSpec   runSpec    `json:"runSpec"`
}

type inputs struct {
	Literals []namedLiteral `json:"literals,omitempty"`
}

type namedLiteral struct {
	Name  string   `json:"name"`
	Value *literal `json:"value"`
}

type runSpec struct {
	Labels *labels `json:"labels,omitempty"`
}

type labels struct {
	Values map[string]string `json:"values,omitempty"`
}

type createRunResponse struct {
	Run struct {
		Action action            `json:"action"`
		Labels map[string]string `json:"labels"`
	} `json:"run"`
}

// action is flyteidl2.workflow.Action (and the fields of ActionDetails it shares).
type action struct {
	ID       actionID       `json:"id"`
	Metadata actionMetadata `json:"metadata"`
	Status   actionStatus   `json:"status"`
}

type actionMetadata struct {
	Task *struct {
		ID       taskID `json:"id"`
		TaskType string `json:"taskType"`
	} `json:"task"`
	// ExecutedBy is who created the run, when the control plane knows (see lists.go).
	ExecutedBy  *enrichedIdentity `json:"executedBy"`
	TriggerName string            `json:"triggerName"`
}

type actionStatus struct {
	Phase      string     `json:"phase"`
	StartTime  *time.Time `json:"startTime"`
	EndTime    *time.Time `json:"endTime"`
	Attempts   uint32     `json:"attempts"`
	DurationMs int64s     `json:"durationMs"`
}

type getRunDetailsRequest struct {
	RunID runID `json:"runId"`
}

type getRunDetailsResponse struct {
	Details struct {
		RunSpec struct {
			Labels       labels     `json:"labels"`
			RunStartTime *time.Time `json:"runStartTime"`
		} `json:"runSpec"`
		Action actionDetails `json:"action"`
	} `json:"details"`
}

type actionDetails struct {
	action
	ErrorInfo *errorInfo      `json:"errorInfo"`
	AbortInfo *abortInfo      `json:"abortInfo"`
	Attempts  []actionAttempt `json:"attempts"`
}

type errorInfo struct {
	Message string `json:"message"`
	Kind    string `json:"kind"`
}

type abortInfo struct {
	Reason string `json:"reason"`
}

type actionAttempt struct {
	Phase     string     `json:"phase"`
	StartTime *time.Time `json:"startTime"`
	EndTime   *time.Time `json:"endTime"`
	ErrorInfo *errorInfo `json:"errorInfo"`
	Attempt   uint32     `json:"attempt"`
}

type abortRunRequest struct {
	RunID  runID  `json:"runId"`
	Reason string `json:"reason,omitempty"`
}

type empty struct{}

type getActionDataRequest struct {
	ActionID actionID `json:"actionId"`
}

type getActionDataResponse struct {
	Inputs  *literalList `json:"inputs"`
	Outputs *literalList `json:"outputs"`
}

type literalList struct {
	Literals []namedLiteral `json:"literals"`
}

// --- triggers

// triggerName is flyteidl2.common.TriggerName.
type triggerName struct {
	Org      string `json:"org,omitempty"`
	Project  string `json:"project,omitempty"`
	Domain   string `json:"domain,omitempty"`
	TaskName string `json:"taskName,omitempty"`
	Name     string `json:"name,omitempty"`
}

type getTriggerDetailsRequest struct {
	Name triggerName `json:"name"`
}

type getTriggerDetailsResponse struct {
	Trigger struct {
		Spec struct {
			Active bool `json:"active"`
		} `json:"spec"`
	} `json:"trigger"`
}

type updateTriggersRequest struct {
	Names  []triggerName `json:"names"`
	Active bool          `json:"active"`
}

// --- apps

// appID is flyteidl2.app.Identifier.
type appID struct {
	Org     string `json:"org,omitempty"`
	Project string `json:"project,omitempty"`
	Domain  string `json:"domain,omitempty"`
	Name    string `json:"name,omitempty"`
}

type getAppRequest struct {
	AppID appID `json:"appId"`
}

// getAppResponse keeps the app as it came (for Update, which wants the whole app back) next
// to the fields the backend reads.
type getAppResponse struct {
	App json.RawMessage `json:"app"`
}

type appView struct {
	Metadata struct {
		ID       appID  `json:"id"`
		Revision int64s `json:"revision"`
	} `json:"metadata"`
	Spec struct {
		DesiredState string `json:"desiredState"`
	} `json:"spec"`
	Status struct {
		Ingress struct {
			PublicURL string `json:"publicUrl"`
		} `json:"ingress"`
		Conditions []struct {
			DeploymentStatus string `json:"deploymentStatus"`
			Message          string `json:"message"`
		} `json:"conditions"`
	} `json:"status"`
}

type updateAppRequest struct {
	App    json.RawMessage `json:"app"`
	Reason string          `json:"reason,omitempty"`
}

type updateAppResponse struct {
	App json.RawMessage `json:"app"`
}

// int64s is a protojson 64-bit integer: written as a string, read from a string or a number.
type int64s int64

func (n int64s) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatInt(int64(n), 10) + `"`), nil
}

func (n *int64s) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	if s == "null" {
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// uint64 fields beyond int64 (never seen for revisions or durations) saturate.
		u, uerr := strconv.ParseUint(s, 10, 64)
		if uerr != nil {
			return fmt.Errorf("want a 64-bit integer, got %s", b)
		}
		v = int64(min(u, 1<<63-1))
	}
	*n = int64s(v)
	return nil
}
