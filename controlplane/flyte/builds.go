package flyte

import (
	"context"
	"strconv"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
)

// BuildImage starts a run of build_image_task (by default system/production/build-image,
// latest), the open-source control plane having no image build service. Its inputs are named
// as the API's parameters: base_image, python_version, flyte_version, name, pre,
// pip_packages, apt_packages, platform; only those given are sent, so the task's defaults
// apply to the rest. CodeUnimplemented when the task is not deployed.
func (b *Backend) BuildImage(ctx context.Context, req controlplane.ImageBuild) (controlplane.ImageBuildResult, error) {
	leave, err := b.enter()
	if err != nil {
		return controlplane.ImageBuildResult{}, err
	}
	defer leave()
	in := map[string]any{}
	setString(in, "base_image", req.BaseImage)
	setString(in, "python_version", req.PythonVersion)
	setString(in, "flyte_version", req.FlyteVersion)
	setString(in, "name", req.Name)
	if req.Pre {
		in["pre"] = true
	}
	setList(in, "pip_packages", req.PipPackages)
	setList(in, "apt_packages", req.AptPackages)
	setList(in, "platform", req.Platforms)
	run, err := b.runSystemTask(ctx, b.cfg.BuildImageTask, "image builds", "build_image_task", in, controlplane.KindImageBuild)
	if err != nil {
		return controlplane.ImageBuildResult{}, err
	}
	return controlplane.ImageBuildResult{
		Run: run, ImageName: req.Name, BaseImage: req.BaseImage, PipPackages: req.PipPackages, AptPackages: req.AptPackages,
	}, nil
}

// PrefetchModel starts a run of prefetch_task (by default
// system/production/prefetch-hf-model, latest). Its inputs are named as the API's
// parameters: repo, raw_data_path, artifact_name, architecture, task, serial_format,
// model_type, short_description, hf_token_key, cpu, memory, disk, force, modality; only those
// given are sent. CodeUnimplemented when the task is not deployed.
func (b *Backend) PrefetchModel(ctx context.Context, req controlplane.ModelPrefetch) (controlplane.Run, error) {
	leave, err := b.enter()
	if err != nil {
		return controlplane.Run{}, err
	}
	defer leave()
	in := map[string]any{}
	setString(in, "repo", req.Repo)
	setString(in, "raw_data_path", req.RawDataPath)
	setString(in, "artifact_name", req.ArtifactName)
	setString(in, "architecture", req.Architecture)
	setString(in, "task", req.Task)
	setString(in, "serial_format", req.SerialFormat)
	setString(in, "model_type", req.ModelType)
	setString(in, "short_description", req.ShortDescription)
	setString(in, "hf_token_key", req.HFTokenKey)
	setString(in, "cpu", req.CPU)
	setString(in, "memory", req.Memory)
	setString(in, "disk", req.Disk)
	if req.Force != 0 {
		in["force"] = int64(req.Force)
	}
	setList(in, "modality", req.Modalities)
	return b.runSystemTask(ctx, b.cfg.PrefetchTask, "model prefetch", "prefetch_task", in, controlplane.KindPrefetch)
}

// runSystemTask runs one of the configured tasks that stand in for services the control
// plane does not have.
func (b *Backend) runSystemTask(ctx context.Context, tn TaskName, what, key string, in map[string]any, kind controlplane.Kind) (controlplane.Run, error) {
	ref := controlplane.TaskRef{Domain: tn.Domain, Project: tn.Project, Name: tn.Name, Version: tn.Version}
	t, err := b.lookupTask(ctx, ref)
	if controlplane.CodeOf(err) == controlplane.CodeNotFound {
		return controlplane.Run{}, controlplane.Wrap(controlplane.CodeUnimplemented, err,
			what+" run the task "+tn.Project+"/"+tn.Domain+"/"+tn.Name+versionSuffix(tn.Version)+
				", which this control plane does not have: deploy it, or name another in flyte."+key)
	}
	if err != nil {
		return controlplane.Run{}, err
	}
	return b.startRun(ctx, t, startRequest{asked: ref, inputs: in, kind: kind})
}

func versionSuffix(v string) string {
	if v == "" {
		return ""
	}
	return " version " + strconv.Quote(v)
}

func setString(in map[string]any, key, v string) {
	if v != "" {
		in[key] = v
	}
}

func setList(in map[string]any, key string, vs []string) {
	if len(vs) == 0 {
		return
	}
	list := make([]any, len(vs))
	for i, v := range vs {
		list[i] = v
	}
	in[key] = list
}
