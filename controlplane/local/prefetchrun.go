package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// prefetchKind is model prefetches' kind of server-executed run (jobs.go). The run's inputs
// are the request as the API names its parameters (the Flyte backend's prefetch task takes
// the same names), the seed's defaults applied by the HTTP layer; each attempt checks them
// again against the configuration (planPrefetch) before downloading anything.
var prefetchKind = jobKind{
	task:    controlplane.TaskRef{Project: "system", Domain: "production", Name: "prefetch-hf-model", Version: "v1"},
	timeout: func(c Config) time.Duration { return c.Prefetch.Timeout },
	decode: func(b *Backend, in map[string]any) (job, error) {
		var s prefetchInputs
		if err := decodeInputs(in, &s); err != nil {
			return nil, err
		}
		p, err := planPrefetch(b.cfg.Prefetch, s.request())
		if err != nil {
			return nil, fmt.Errorf("the prefetch's stored request does not pass its checks: %s", controlplane.MessageOf(err))
		}
		return prefetchJob{plan: p, cfg: b.cfg.Prefetch}, nil
	},
}

// prefetchInputs is a prefetch run's stored inputs: every parameter, always present.
type prefetchInputs struct {
	Repo             string   `json:"repo"`
	RawDataPath      string   `json:"raw_data_path"`
	ArtifactName     string   `json:"artifact_name"`
	Architecture     string   `json:"architecture"`
	Task             string   `json:"task"`
	SerialFormat     string   `json:"serial_format"`
	ModelType        string   `json:"model_type"`
	ShortDescription string   `json:"short_description"`
	HFTokenKey       string   `json:"hf_token_key"`
	CPU              string   `json:"cpu"`
	Memory           string   `json:"memory"`
	Disk             string   `json:"disk"`
	Force            int      `json:"force"`
	Modality         []string `json:"modality"`
}

func inputsOf(r controlplane.ModelPrefetch) prefetchInputs {
	return prefetchInputs{Repo: r.Repo, RawDataPath: r.RawDataPath, ArtifactName: r.ArtifactName, Architecture: r.Architecture,
		Task: r.Task, SerialFormat: r.SerialFormat, ModelType: r.ModelType, ShortDescription: r.ShortDescription,
		HFTokenKey: r.HFTokenKey, CPU: r.CPU, Memory: r.Memory, Disk: r.Disk, Force: r.Force, Modality: nonNilStrings(r.Modalities)}
}

func (s prefetchInputs) request() controlplane.ModelPrefetch {
	return controlplane.ModelPrefetch{Repo: s.Repo, RawDataPath: s.RawDataPath, ArtifactName: s.ArtifactName, Architecture: s.Architecture,
		Task: s.Task, SerialFormat: s.SerialFormat, ModelType: s.ModelType, ShortDescription: s.ShortDescription,
		HFTokenKey: s.HFTokenKey, CPU: s.CPU, Memory: s.Memory, Disk: s.Disk, Force: s.Force, Modalities: s.Modality}
}

// PrefetchModel checks the caller, then the request (CodeInvalidInput naming the parameter:
// repo, raw_data_path, artifact_name, hf_token_key, cpu, memory, disk), then the token rule
// (CodePermissionDenied when hf_token_key is outside prefetch.allowed_token_keys and the repo
// needs a token: see checkToken), and starts a run that downloads the snapshot into the
// models folder (see prefetchJob).
func (b *Backend) PrefetchModel(ctx context.Context, req controlplane.ModelPrefetch) (controlplane.Run, error) {
	who, err := b.caller(ctx)
	if err != nil {
		return controlplane.Run{}, err
	}
	cfg := b.cfg.Prefetch
	p, err := planPrefetch(cfg, req)
	if err != nil {
		return controlplane.Run{}, err
	}
	if err := checkToken(ctx, cfg, p); err != nil {
		return controlplane.Run{}, err
	}
	var in map[string]any
	js, _ := json.Marshal(inputsOf(req))
	if err := json.Unmarshal(js, &in); err != nil {
		return controlplane.Run{}, fmt.Errorf("local: prefetch inputs: %w", err)
	}
	row, err := b.startJob(ctx, who, controlplane.KindPrefetch, in)
	if err != nil {
		return controlplane.Run{}, err
	}
	return b.toRun(row), nil
}

// prefetchJob downloads one model snapshot (runPrefetch). Its steps are the run's logs; its
// outputs: path, files, bytes, revision (the commit the Hub resolved) and the request's
// artifact metadata (artifact_name, architecture, task, modality, serial_format,
// model_type, short_description; architecture and model_type from the model's config.json
// when the request gives none). A failed prefetch has no outputs.
type prefetchJob struct {
	plan prefetchPlan
	cfg  PrefetchConfig
}

func (j prefetchJob) run(ctx context.Context, env *jobEnv) (map[string]any, error) {
	fmt.Fprintf(env.Stdout, "flyte-webhook: prefetching %s from %s into %s\n", j.plan.Repo, j.cfg.Endpoint, j.plan.RelDir)
	out, err := runPrefetch(ctx, j.cfg, j.plan, env.Stdout)
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, fmt.Errorf("prefetch of %s failed: %v", j.plan.Repo, err)
	}
	fmt.Fprintf(env.Stdout, "flyte-webhook: %s at %v: %v files, %v bytes\n", j.plan.Repo, out["revision"], out["files"], out["bytes"])
	return out, nil
}

// dropPartialOnAbort says an aborted prefetch's partial downloads go: nobody resumes them. A
// timed-out or interrupted one keeps them for the next prefetch (or the same run after a
// restart) to resume.
func dropPartialOnAbort(cause error) bool {
	var ab abortError
	return errors.As(cause, &ab)
}
