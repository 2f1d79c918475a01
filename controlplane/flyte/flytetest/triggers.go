package flytetest

// trigger is a task's trigger and whether it is on.
type trigger struct {
	project, domain, taskName, name string
	active                          bool
	updates                         int
}

// AddTrigger adds a trigger of a task.
func (s *Server) AddTrigger(project, domain, taskName, name string, active bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.triggers[project+"/"+domain+"/"+taskName+"/"+name] = &trigger{project: project, domain: domain, taskName: taskName, name: name, active: active}
}

// TriggerActive returns whether a trigger is on, and how many updates it received.
func (s *Server) TriggerActive(project, domain, taskName, name string) (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.triggers[project+"/"+domain+"/"+taskName+"/"+name]
	if t == nil {
		return false, 0
	}
	return t.active, t.updates
}

type triggerNameJSON struct {
	Org      string `json:"org"`
	Project  string `json:"project"`
	Domain   string `json:"domain"`
	TaskName string `json:"taskName"`
	Name     string `json:"name"`
}

func (s *Server) getTriggerDetails(_ *User, body []byte) (any, error) {
	var req struct {
		Name *triggerNameJSON `json:"name"`
	}
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	if req.Name == nil || req.Name.Name == "" || req.Name.TaskName == "" {
		return nil, errorf(codeInvalidArgument, "invalid GetTriggerDetailsRequest.Name: value is required")
	}
	n := req.Name
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.triggers[n.Project+"/"+n.Domain+"/"+n.TaskName+"/"+n.Name]
	if t == nil {
		return nil, errorf(codeNotFound, "trigger not found")
	}
	spec := map[string]any{"taskVersion": "v1"}
	if t.active { // omitted when false, as protojson does
		spec["active"] = true
	}
	return map[string]any{"trigger": map[string]any{
		"id":   map[string]any{"name": map[string]any{"project": t.project, "domain": t.domain, "taskName": t.taskName, "name": t.name}, "revision": "1"},
		"spec": spec,
	}}, nil
}

func (s *Server) updateTriggers(_ *User, body []byte) (any, error) {
	var req struct {
		Names  []triggerNameJSON `json:"names"`
		Active bool              `json:"active"`
	}
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	if len(req.Names) == 0 {
		return nil, errorf(codeInvalidArgument, "invalid UpdateTriggersRequest.Names: at least 1 item")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range req.Names {
		// An unknown trigger is no error: the answer is {} all the same.
		if t := s.triggers[n.Project+"/"+n.Domain+"/"+n.TaskName+"/"+n.Name]; t != nil {
			t.active = req.Active
			t.updates++
		}
	}
	return map[string]any{}, nil
}
