package flytetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"testing"
	"time"
)

// task is a deployed task version.
type task struct {
	project, domain, name, version string
	spec                           json.RawMessage
	deployedAt                     time.Time
	seq                            int
	// parsed from spec
	typ      string
	defaults map[string]json.RawMessage // input name → default literal
	inputs   []string
	outputs  []string
	short    string
	env      string
}

type taskIDJSON struct {
	Org     string `json:"org,omitempty"`
	Project string `json:"project"`
	Domain  string `json:"domain"`
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Deploy deploys tasks through the DeployTask procedure, as a client would, with the
// credentials of token. bodies are DeployTaskRequest JSON texts.
func (s *Server) Deploy(t testing.TB, token string, bodies ...string) {
	t.Helper()
	if err := s.DeployTasks(token, bodies...); err != nil {
		t.Fatal(err)
	}
}

// DeployTasks is Deploy outside a test (a load program), returning the first failure.
func (s *Server) DeployTasks(token string, bodies ...string) error {
	for _, b := range bodies {
		req, err := http.NewRequest(http.MethodPost, s.URL+"/flyteidl2.task.TaskService/DeployTask", bytes.NewReader([]byte(b)))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := s.srv.Client().Do(req)
		if err != nil {
			return fmt.Errorf("DeployTask: %w", err)
		}
		msg, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("DeployTask: %s: %s", res.Status, msg)
		}
	}
	return nil
}

func (s *Server) deployTask(_ *User, body []byte) (any, error) {
	var req struct {
		TaskID   taskIDJSON      `json:"taskId"`
		Spec     json.RawMessage `json:"spec"`
		Triggers json.RawMessage `json:"triggers"`
	}
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	id := req.TaskID
	if id.Project == "" || id.Domain == "" || id.Name == "" || id.Version == "" || len(req.Spec) == 0 {
		return nil, errorf(codeInvalidArgument, "taskId and spec are required")
	}
	var spec struct {
		TaskTemplate struct {
			Type      string `json:"type"`
			Interface struct {
				Inputs  struct{ Variables []struct{ Key string } } `json:"inputs"`
				Outputs struct{ Variables []struct{ Key string } } `json:"outputs"`
			} `json:"interface"`
		} `json:"taskTemplate"`
		DefaultInputs []struct {
			Name      string `json:"name"`
			Parameter struct {
				Default json.RawMessage `json:"default"`
			} `json:"parameter"`
		} `json:"defaultInputs"`
		ShortName   string `json:"shortName"`
		Environment struct {
			Name string `json:"name"`
		} `json:"environment"`
	}
	if err := json.Unmarshal(req.Spec, &spec); err != nil {
		return nil, errorf(codeInvalidArgument, "spec: %v", err)
	}
	t := &task{
		project: id.Project, domain: id.Domain, name: id.Name, version: id.Version, spec: req.Spec,
		typ: spec.TaskTemplate.Type, defaults: map[string]json.RawMessage{}, short: spec.ShortName, env: spec.Environment.Name,
	}
	for _, v := range spec.TaskTemplate.Interface.Inputs.Variables {
		t.inputs = append(t.inputs, v.Key)
	}
	for _, v := range spec.TaskTemplate.Interface.Outputs.Variables {
		t.outputs = append(t.outputs, v.Key)
	}
	for _, d := range spec.DefaultInputs {
		if len(d.Parameter.Default) > 0 {
			if err := checkLiteral(d.Parameter.Default, "defaultInputs."+d.Name); err != nil {
				return nil, err
			}
			t.defaults[d.Name] = d.Parameter.Default
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	t.seq, t.deployedAt = s.seq, s.now()
	key := id.Project + "/" + id.Domain + "/" + id.Name
	versions := s.tasks[key]
	for i, old := range versions {
		if old.version == id.Version {
			versions = append(versions[:i], versions[i+1:]...)
			break
		}
	}
	s.tasks[key] = append(versions, t)
	s.projects[id.Project+"/"+id.Domain] = true
	return map[string]any{}, nil
}

// findTask returns a deployed version, nil when there is none. Call with s.mu held.
func (s *Server) findTask(project, domain, name, version string) *task {
	for _, t := range s.tasks[project+"/"+domain+"/"+name] {
		if t.version == version {
			return t
		}
	}
	return nil
}

func (s *Server) getTaskDetails(_ *User, body []byte) (any, error) {
	var req struct {
		TaskID taskIDJSON `json:"taskId"`
	}
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	id := req.TaskID
	if id.Project == "" || id.Domain == "" || id.Name == "" || id.Version == "" {
		return nil, errorf(codeInvalidArgument, "invalid GetTaskDetailsRequest.TaskId: value is required")
	}
	s.mu.Lock()
	t := s.findTask(id.Project, id.Domain, id.Name, id.Version)
	s.mu.Unlock()
	if t == nil {
		return nil, errorf(codeNotFound, "task not found")
	}
	return map[string]any{"details": map[string]any{
		"taskId":   taskIDJSON{Project: t.project, Domain: t.domain, Name: t.name, Version: t.version},
		"metadata": omitEmpty(map[string]any{"shortName": t.short, "deployedAt": ts(t.deployedAt), "environmentName": t.env}),
		"spec":     t.spec,
	}}, nil
}

func (s *Server) listTasks(_ *User, body []byte) (any, error) {
	var req struct {
		Request *struct {
			Limit  json.Number `json:"limit"`
			Token  string      `json:"token"`
			SortBy *struct {
				Key       string `json:"key"`
				Direction string `json:"direction"`
			} `json:"sortBy"`
			Filters []struct {
				Function string   `json:"function"`
				Field    string   `json:"field"`
				Values   []string `json:"values"`
			} `json:"filters"`
		} `json:"request"`
		Org       string `json:"org"`
		ProjectID *struct {
			Organization string `json:"organization"`
			Name         string `json:"name"`
			Domain       string `json:"domain"`
		} `json:"projectId"`
		KnownFilters json.RawMessage `json:"knownFilters"`
	}
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	if (req.Org != "") == (req.ProjectID != nil) {
		return nil, errorf(codeInvalidArgument, "exactly one of org and projectId is required")
	}
	limit := 100
	var nameIs string
	ascending := false
	if r := req.Request; r != nil {
		if n, err := strconv.Atoi(string(r.Limit)); err == nil && n > 0 {
			limit = n
		}
		for _, f := range r.Filters {
			if f.Field != "name" || (f.Function != "" && f.Function != "EQUAL") || len(f.Values) != 1 {
				return nil, errorf(codeInvalidArgument, "unsupported filter %s %s", f.Function, f.Field)
			}
			nameIs = f.Values[0]
		}
		if r.SortBy != nil {
			if r.SortBy.Key != "created_at" {
				return nil, errorf(codeInvalidArgument, "unsupported sort key %q", r.SortBy.Key)
			}
			ascending = r.SortBy.Direction == "ASCENDING"
		}
	}
	s.mu.Lock()
	var latest []*task // one per name: its newest version
	total := 0
	for _, versions := range s.tasks {
		if len(versions) == 0 {
			continue
		}
		t := versions[len(versions)-1]
		if req.ProjectID != nil && (t.project != req.ProjectID.Name || t.domain != req.ProjectID.Domain) {
			continue
		}
		total++
		if nameIs == "" || t.name == nameIs {
			latest = append(latest, t)
		}
	}
	s.mu.Unlock()
	sort.Slice(latest, func(i, j int) bool {
		if ascending {
			return latest[i].seq < latest[j].seq
		}
		return latest[i].seq > latest[j].seq
	})
	if len(latest) > limit {
		latest = latest[:limit]
	}
	// With no match the answer is {"metadata": {}}, as observed.
	meta := map[string]any{}
	if len(latest) > 0 {
		meta["total"], meta["filteredTotal"] = total, len(latest)
	}
	out := map[string]any{"metadata": meta}
	if len(latest) > 0 {
		list := make([]any, len(latest))
		for i, t := range latest {
			list[i] = map[string]any{
				"taskId":   taskIDJSON{Project: t.project, Domain: t.domain, Name: t.name, Version: t.version},
				"metadata": omitEmpty(map[string]any{"shortName": t.short, "deployedAt": ts(t.deployedAt)}),
			}
		}
		out["tasks"] = list
	}
	return out, nil
}
