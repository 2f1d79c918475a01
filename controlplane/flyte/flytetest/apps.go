package flytetest

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// app is a served app. Its spec is kept as deployed; Update must send it back whole.
type app struct {
	project, domain, name string
	publicURL             string
	spec                  map[string]any
	revision              int
	// status is the deployment status reached (ACTIVE or STOPPED); toward and at say where
	// it is heading and when it gets there.
	status string
	toward string
	at     time.Time
	reason string
}

// AddApp adds an app with a container spec, active (serving at publicURL) or stopped.
func (s *Server) AddApp(project, domain, name, publicURL string, active bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	status, desired := "STOPPED", "DESIRED_STATE_STOPPED"
	if active {
		status, desired = "ACTIVE", "DESIRED_STATE_ACTIVE"
	}
	s.apps[project+"/"+domain+"/"+name] = &app{
		project: project, domain: domain, name: name, publicURL: publicURL, revision: 1, status: status,
		spec: map[string]any{
			"container":    map[string]any{"image": "registry.example/apps/" + name + ":1", "args": []any{"serve", "--port", "8080"}},
			"autoscaling":  map[string]any{"replicas": map[string]any{"min": 0, "max": 2}},
			"desiredState": desired,
		},
	}
}

// AppStatus returns an app's deployment status (ACTIVE, STOPPED or DEPLOYING) and how many
// times it was updated.
func (s *Server) AppStatus(project, domain, name string) (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[project+"/"+domain+"/"+name]
	if a == nil {
		return "", 0
	}
	s.settle(a)
	if a.toward != "" {
		return "DEPLOYING", a.revision - 1
	}
	return a.status, a.revision - 1
}

func (s *Server) settle(a *app) {
	if a.toward != "" && !s.now().Before(a.at) {
		a.status, a.toward = a.toward, ""
	}
}

func (s *Server) appJSON(a *app) map[string]any {
	s.settle(a)
	status := map[string]any{}
	var conds []any
	switch {
	case a.toward != "":
		conds = append(conds, map[string]any{"deploymentStatus": "DEPLOYMENT_STATUS_" + a.status},
			map[string]any{"deploymentStatus": "DEPLOYMENT_STATUS_DEPLOYING", "message": "Deploying revision " + strconv.Itoa(a.revision)})
	case a.status == "ACTIVE":
		conds = append(conds, map[string]any{"deploymentStatus": "DEPLOYMENT_STATUS_ACTIVE", "message": "App is serving"})
	default:
		// A stopped app has one condition and no ingress.
		conds = append(conds, map[string]any{"deploymentStatus": "DEPLOYMENT_STATUS_STOPPED", "message": "App scaled to zero"})
	}
	status["conditions"] = conds
	if a.status == "ACTIVE" && a.toward == "" && a.publicURL != "" {
		status["ingress"] = map[string]any{"publicUrl": a.publicURL}
	}
	meta := map[string]any{"id": map[string]any{"project": a.project, "domain": a.domain, "name": a.name}}
	if a.revision > 1 { // metadata.revision may be absent
		meta["revision"] = strconv.Itoa(a.revision)
	}
	return map[string]any{"metadata": meta, "spec": a.spec, "status": status}
}

type appIDJSON struct {
	Org     string `json:"org"`
	Project string `json:"project"`
	Domain  string `json:"domain"`
	Name    string `json:"name"`
}

func (s *Server) getApp(_ *User, body []byte) (any, error) {
	var req struct {
		AppID   *appIDJSON      `json:"appId"`
		Ingress json.RawMessage `json:"ingress"`
	}
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	if req.AppID == nil {
		return nil, errorf(codeInvalidArgument, "invalid GetRequest: appId is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[req.AppID.Project+"/"+req.AppID.Domain+"/"+req.AppID.Name]
	if a == nil {
		return nil, errorf(codeNotFound, "app not found")
	}
	return map[string]any{"app": s.appJSON(a)}, nil
}

func (s *Server) updateApp(_ *User, body []byte) (any, error) {
	var req struct {
		App *struct {
			Metadata *struct {
				ID       *appIDJSON      `json:"id"`
				Revision json.RawMessage `json:"revision"`
			} `json:"metadata"`
			Spec   map[string]any  `json:"spec"`
			Status json.RawMessage `json:"status"`
		} `json:"app"`
		Reason string `json:"reason"`
	}
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	if req.App == nil || req.App.Metadata == nil || req.App.Metadata.ID == nil || req.App.Spec == nil {
		return nil, errorf(codeInvalidArgument, "invalid UpdateRequest: app with metadata.id and spec is required")
	}
	if len(req.Reason) > 100 {
		return nil, errorf(codeInvalidArgument, "invalid UpdateRequest.Reason: at most 100 characters")
	}
	id := req.App.Metadata.ID
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[id.Project+"/"+id.Domain+"/"+id.Name]
	if a == nil {
		return nil, errorf(codeNotFound, "app not found")
	}
	desired, _ := req.App.Spec["desiredState"].(string)
	var toward string
	switch desired {
	case "DESIRED_STATE_ACTIVE", "DESIRED_STATE_STARTED":
		toward = "ACTIVE"
	case "DESIRED_STATE_STOPPED":
		toward = "STOPPED"
	default:
		return nil, errorf(codeInvalidArgument, "invalid desiredState %q", desired)
	}
	// The update carries the whole app: a spec that lost a field would replace the app's.
	if !sameExcept(req.App.Spec, a.spec, "desiredState") {
		return nil, errorf(codeInvalidArgument, "the spec differs from the app's beyond desiredState")
	}
	s.settle(a)
	a.spec["desiredState"] = desired
	a.revision++
	a.reason = req.Reason
	if toward != a.status || a.toward != "" {
		a.toward, a.at = toward, s.now().Add(s.opts.AppTransition)
	}
	return map[string]any{"app": s.appJSON(a)}, nil
}

func sameExcept(a, b map[string]any, skip string) bool {
	strip := func(m map[string]any) []byte {
		c := map[string]any{}
		for k, v := range m {
			if k != skip {
				c[k] = v
			}
		}
		js, _ := json.Marshal(c)
		return js
	}
	return bytes.Equal(normalize(strip(a)), normalize(strip(b)))
}

// normalize rewrites JSON so numbers decoded in different ways compare equal.
func normalize(js []byte) []byte {
	var v any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	_ = dec.Decode(&v)
	out, _ := json.Marshal(v)
	return out
}
