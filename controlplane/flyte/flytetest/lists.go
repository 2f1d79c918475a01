package flytetest

import (
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// RunService/ListRuns as the control plane serves it (runs/service/run_service.go): root
// actions in one scope (the oneof scope_by: org, project_id, trigger_name, task_name,
// task_id; exactly one), the common ListRequest's filters ANDed, sorted by created_at
// (newest first unless asked otherwise), limit 50 by default and at most 200, and the next
// page's token an offset (as its offset-token versions answer; a client must not rely on it
// staying put while runs are added). A filter names a column of the actions table
// (models.ActionColumnsSet; another is invalid_argument "invalid filter field"); phase
// values are ActionPhase numbers as strings ("5" for SUCCEEDED), created_at values RFC 3339
// times. This fake filters by project, domain, run_name, phase, trigger_name, task_project,
// task_domain, task_name, task_version and created_at, and refuses the other columns.

// actionColumns are the columns a filter may name (models.ActionColumnsSet).
var actionColumns = []string{"project", "domain", "run_name", "phase", "run_source", "trigger_task_name", "trigger_name",
	"trigger_revision", "trigger_type", "task_project", "task_domain", "task_name", "task_version", "function_name",
	"created_at", "updated_at", "ended_at", "duration_ms"}

// phaseNumber is flyteidl2.common.ActionPhase's number of a phase name.
var phaseNumber = map[string]int{phaseQueued: 1, phaseRunning: 4, phaseSucceeded: 5, phaseFailed: 6, phaseAborted: 7}

type listFilter struct {
	Function  string   `json:"function"`
	Field     string   `json:"field"`
	Values    []string `json:"values"`
	IntValues []int32  `json:"intValues"`
}

type projectIDJSON struct {
	Organization string `json:"organization"`
	Name         string `json:"name"`
	Domain       string `json:"domain"`
}

type listSort struct {
	Key       string `json:"key"`
	Direction string `json:"direction"`
}

func (s *Server) listRuns(_ *User, body []byte) (any, error) {
	var req struct {
		Request *struct {
			Limit        json.Number  `json:"limit"`
			Token        string       `json:"token"`
			SortBy       *listSort    `json:"sortBy"`
			Filters      []listFilter `json:"filters"`
			RawFilters   []string     `json:"rawFilters"`
			SortByFields []listSort   `json:"sortByFields"`
		} `json:"request"`
		Org         string          `json:"org"`
		ProjectID   *projectIDJSON  `json:"projectId"`
		TriggerName json.RawMessage `json:"triggerName"`
		TaskName    *taskIDJSON     `json:"taskName"`
		TaskID      *taskIDJSON     `json:"taskId"`
	}
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	scopes := 0
	for _, set := range []bool{req.Org != "", req.ProjectID != nil, req.TriggerName != nil, req.TaskName != nil, req.TaskID != nil} {
		if set {
			scopes++
		}
	}
	if scopes != 1 {
		return nil, errorf(codeInvalidArgument, "invalid ListRunsRequest: exactly one field is required in oneof scope_by")
	}
	if req.TriggerName != nil {
		return nil, errorf(codeInvalidArgument, "this fake does not list runs by trigger_name")
	}
	limit, offset := 50, 0
	ascending := false
	var filters []listFilter
	if r := req.Request; r != nil {
		if r.Limit != "" {
			n, err := strconv.Atoi(string(r.Limit))
			if err != nil || n < 0 {
				return nil, errorf(codeInvalidArgument, "invalid limit: %s", r.Limit)
			}
			if n > 200 {
				return nil, errorf(codeInvalidArgument, "invalid limit: %d (exceeds maximum of 200)", n)
			}
			if n > 0 {
				limit = n
			}
		}
		if r.Token != "" {
			n, err := strconv.Atoi(r.Token)
			if err != nil || n < 0 {
				return nil, errorf(codeInvalidArgument, "invalid token: %q", r.Token)
			}
			offset = n
		}
		if len(r.RawFilters) > 0 {
			return nil, errorf(codeInvalidArgument, "this fake does not read raw_filters")
		}
		sorts := r.SortByFields
		if len(sorts) == 0 && r.SortBy != nil {
			sorts = []listSort{*r.SortBy}
		}
		for _, so := range sorts {
			if !slices.Contains(actionColumns, so.Key) {
				return nil, errorf(codeInvalidArgument, "invalid sort field: %s", so.Key)
			}
			if so.Key != "created_at" {
				return nil, errorf(codeInvalidArgument, "this fake sorts by created_at only, not %s", so.Key)
			}
			ascending = so.Direction == "ASCENDING"
		}
		for _, f := range r.Filters {
			if !slices.Contains(actionColumns, f.Field) {
				return nil, errorf(codeInvalidArgument, "failed to convert filters: invalid filter field: %s", f.Field)
			}
			if len(f.Values) == 0 {
				return nil, errorf(codeInvalidArgument, "failed to convert filters: filter %s has no values", f.Field)
			}
			switch f.Function {
			case "", "EQUAL", "NOT_EQUAL", "GREATER_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN", "LESS_THAN_OR_EQUAL", "VALUE_IN":
			default:
				return nil, errorf(codeInvalidArgument, "this fake does not filter with %s", f.Function)
			}
			filters = append(filters, f)
		}
	}
	s.mu.Lock()
	now := s.now()
	s.advance(now)
	var out []*run
	for _, r := range s.runs {
		switch {
		case req.ProjectID != nil && (r.project != req.ProjectID.Name || r.domain != req.ProjectID.Domain):
			continue
		case req.TaskName != nil && (r.task.project != req.TaskName.Project || r.task.domain != req.TaskName.Domain || r.task.name != req.TaskName.Name):
			continue
		case req.TaskID != nil && (r.task.project != req.TaskID.Project || r.task.domain != req.TaskID.Domain || r.task.name != req.TaskID.Name || r.task.version != req.TaskID.Version):
			continue
		}
		ok := true
		for _, f := range filters {
			match, err := s.filterMatches(r, f, now)
			if err != nil {
				s.mu.Unlock()
				return nil, err
			}
			ok = ok && match
		}
		if ok {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].created.Equal(out[j].created) {
			return out[i].created.After(out[j].created) != ascending
		}
		return out[i].seq > out[j].seq != ascending
	})
	token := ""
	if offset > len(out) {
		offset = len(out)
	}
	out = out[offset:]
	if len(out) > limit {
		out, token = out[:limit], strconv.Itoa(offset+limit)
	}
	runs := make([]any, 0, len(out))
	for _, r := range out {
		item := map[string]any{"action": map[string]any{
			"id":       map[string]any{"run": map[string]any{"project": r.project, "domain": r.domain, "name": r.name}, "name": "a0"},
			"metadata": s.actionMetadata(r),
			"status":   s.status(r, now),
		}}
		if len(r.labels) > 0 {
			item["labels"] = r.labels
		}
		runs = append(runs, item)
	}
	s.mu.Unlock()
	return omitEmpty(map[string]any{"runs": runs, "token": token}), nil
}

// filterMatches applies one filter to a run. Call with s.mu held.
func (s *Server) filterMatches(r *run, f listFilter, now time.Time) (bool, error) {
	var have string
	switch f.Field {
	case "project":
		have = r.project
	case "domain":
		have = r.domain
	case "run_name":
		have = r.name
	case "trigger_name":
		have = "" // this fake's runs are never a trigger's
	case "task_project":
		have = r.task.project
	case "task_domain":
		have = r.task.domain
	case "task_name":
		have = r.task.name
	case "task_version":
		have = r.task.version
	case "phase":
		// The phase column is the action's status phase, which lags (see status).
		name := strings.TrimPrefix(s.status(r, now)["phase"].(string), "ACTION_PHASE_")
		have = strconv.Itoa(phaseNumber[name])
	case "created_at":
		return compareTimes(r.created, f)
	default:
		return false, errorf(codeInvalidArgument, "this fake does not filter by %s", f.Field)
	}
	switch f.Function {
	case "", "EQUAL":
		return len(f.Values) == 1 && have == f.Values[0], nil
	case "NOT_EQUAL":
		return len(f.Values) == 1 && have != f.Values[0], nil
	case "VALUE_IN":
		return slices.Contains(f.Values, have), nil
	}
	return false, errorf(codeInvalidArgument, "this fake compares %s with EQUAL, NOT_EQUAL or VALUE_IN only", f.Field)
}

func compareTimes(t time.Time, f listFilter) (bool, error) {
	if len(f.Values) != 1 {
		return false, errorf(codeInvalidArgument, "created_at: want one value")
	}
	v, err := time.Parse(time.RFC3339Nano, f.Values[0])
	if err != nil {
		return false, errorf(codeInvalidArgument, "created_at: %q is not a time", f.Values[0])
	}
	switch f.Function {
	case "", "EQUAL":
		return t.Equal(v), nil
	case "NOT_EQUAL":
		return !t.Equal(v), nil
	case "GREATER_THAN":
		return t.After(v), nil
	case "GREATER_THAN_OR_EQUAL":
		return !t.Before(v), nil
	case "LESS_THAN":
		return t.Before(v), nil
	case "LESS_THAN_OR_EQUAL":
		return !t.After(v), nil
	}
	return false, errorf(codeInvalidArgument, "created_at: cannot compare with %s", f.Function)
}
