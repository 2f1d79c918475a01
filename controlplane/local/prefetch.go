package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/flyte-webhook/flyte-webhook/controlplane"
	"github.com/flyte-webhook/flyte-webhook/internal/hfhub"
)

// PrefetchConfig configures prefetch_hf_model (backend.local.prefetch): model snapshots the
// server downloads from the HuggingFace Hub itself (see package hfhub).
type PrefetchConfig struct {
	// Endpoint is the Hub's base URL: https, or http on a loopback address. Defaults to the
	// server's HF_ENDPOINT environment variable, else https://huggingface.co.
	Endpoint string `yaml:"endpoint"`
	// Dir is where models go; a request's raw_data_path resolves inside it, and defaults to
	// <owner>/<name>. Defaults to data_dir/models.
	Dir string `yaml:"dir"`
	// AllowedTokenKeys are the secrets (the server's environment variables) a request's
	// hf_token_key may name. Defaults to [HF_TOKEN]; [] allows none (public repos only). A
	// key outside the list is refused (403) only when a token is actually needed: see
	// prefetchPlan.checkToken.
	AllowedTokenKeys []string `yaml:"allowed_token_keys"`
	// Timeout bounds a whole prefetch run; a longer one ends timed_out. Defaults to 6h.
	Timeout time.Duration `yaml:"timeout"`
	// ProbeTimeout bounds the file list request made while answering prefetch_hf_model,
	// when hf_token_key is not allowed (to know whether a token is needed). Defaults to 10s.
	ProbeTimeout time.Duration `yaml:"probe_timeout"`
	// MaxBytes caps a model's size, whatever disk a request asks for (a quantity: "200Gi").
	// Defaults to "": no cap beyond disk and the free space.
	MaxBytes string `yaml:"max_bytes"`
	// KeepFree is disk space a prefetch leaves free on Dir's file system (a quantity).
	// Defaults to "1Gi".
	KeepFree string `yaml:"keep_free"`

	// client is the Hub client tests adjust (retries without waiting); nil builds one.
	client *hfhub.Client
	// endpointFrom names where Endpoint came from, for messages.
	endpointFrom string
}

// withDefaults fills in zero fields; dataDir is the backend's data_dir.
func (c PrefetchConfig) withDefaults(dataDir string) PrefetchConfig {
	c.endpointFrom = "prefetch.endpoint"
	if c.Endpoint == "" {
		c.Endpoint, c.endpointFrom = hfhub.EndpointFromEnv(), "prefetch.endpoint (from HF_ENDPOINT)"
	}
	c.Endpoint = strings.TrimRight(c.Endpoint, "/")
	if c.Dir == "" {
		c.Dir = filepath.Join(dataDir, "models")
	}
	if c.AllowedTokenKeys == nil {
		c.AllowedTokenKeys = []string{"HF_TOKEN"}
	}
	if c.Timeout == 0 {
		c.Timeout = 6 * time.Hour
	}
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = 10 * time.Second
	}
	if c.KeepFree == "" {
		c.KeepFree = "1Gi"
	}
	return c
}

// validate names the field at fault.
func (c PrefetchConfig) validate() error {
	if err := hfhub.ValidateEndpoint(c.Endpoint); err != nil {
		return fmt.Errorf("local: %s: %w", c.endpointFrom, err)
	}
	for i, k := range c.AllowedTokenKeys {
		if !envNamePattern.MatchString(k) {
			return fmt.Errorf("local: prefetch.allowed_token_keys[%d]: %q is not an environment variable name", i, k)
		}
	}
	switch {
	case c.Timeout < 0:
		return fmt.Errorf("local: prefetch.timeout: %s is negative", c.Timeout)
	case c.ProbeTimeout < 0:
		return fmt.Errorf("local: prefetch.probe_timeout: %s is negative", c.ProbeTimeout)
	}
	if c.MaxBytes != "" {
		if _, err := hfhub.ParseBytes(c.MaxBytes); err != nil {
			return fmt.Errorf("local: prefetch.max_bytes: %w", err)
		}
	}
	if _, err := hfhub.ParseBytes(c.KeepFree); err != nil {
		return fmt.Errorf("local: prefetch.keep_free: %w", err)
	}
	return nil
}

// hubClient is the client prefetches use.
func (c PrefetchConfig) hubClient() *hfhub.Client {
	if c.client != nil {
		cl := *c.client
		cl.Endpoint = c.Endpoint
		return &cl
	}
	return &hfhub.Client{Endpoint: c.Endpoint, UserAgent: "flyte-webhook"}
}

// artifactName is Flyte's rule for an artifact's name (flyte-sdk's prefetch).
var artifactName = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// Bounds derived from the cpu and memory caps: files downloaded at once, and the memory each
// download is given (its buffers take far less).
const (
	maxParallel       = 8
	memoryPerParallel = 64 << 20
)

// prefetchPlan is a checked prefetch request: what the run does.
type prefetchPlan struct {
	Repo string
	// RelDir is the destination relative to the models folder ("/"-separated).
	RelDir string
	// TokenKey names the secret holding the token; TokenAllowed says whether the
	// configuration lets it be used.
	TokenKey     string
	TokenAllowed bool
	// MaxBytes is the smaller of the disk cap and max_bytes; MaxBytesName says which.
	MaxBytes     int64
	MaxBytesName string
	Parallel     int
	Force        bool
	// Metadata is the request's artifact metadata, passed to the outputs.
	ArtifactName, Architecture, Task, SerialFormat, ModelType, ShortDescription string
	Modalities                                                                  []string
}

// planPrefetch checks a request against c (with defaults) and returns the plan, or a
// CodeInvalidInput naming the parameter at fault. Nothing is read from the Hub or from the
// secrets here; see checkToken.
func planPrefetch(c PrefetchConfig, req controlplane.ModelPrefetch) (prefetchPlan, error) {
	bad := func(param string, err error) (prefetchPlan, error) {
		return prefetchPlan{}, controlplane.Errorf(controlplane.CodeInvalidInput, "%s: %v", param, err)
	}
	if err := hfhub.ValidRepo(req.Repo); err != nil {
		return bad("repo", err)
	}
	p := prefetchPlan{Repo: req.Repo, TokenKey: req.HFTokenKey, Force: req.Force != 0,
		ArtifactName: req.ArtifactName, Architecture: req.Architecture, Task: req.Task, SerialFormat: req.SerialFormat,
		ModelType: req.ModelType, ShortDescription: req.ShortDescription, Modalities: req.Modalities}
	rel, err := hfhub.ResolveDir(c.Dir, req.RawDataPath, req.Repo)
	if err != nil {
		return prefetchPlan{}, controlplane.Errorf(controlplane.CodeInvalidInput, "%v", err)
	}
	p.RelDir = rel
	if p.ArtifactName == "" {
		p.ArtifactName = strings.ReplaceAll(req.Repo[strings.IndexByte(req.Repo, '/')+1:], ".", "-")
	} else if !artifactName.MatchString(p.ArtifactName) {
		return bad("artifact_name", fmt.Errorf("%q may hold only letters, digits, '_' and '-'", p.ArtifactName))
	}
	if p.TokenKey == "" {
		p.TokenKey = "HF_TOKEN"
	}
	if !envNamePattern.MatchString(p.TokenKey) {
		return bad("hf_token_key", fmt.Errorf("%q is not a secret name", p.TokenKey))
	}
	p.TokenAllowed = slices.Contains(c.AllowedTokenKeys, p.TokenKey)
	if p.Modalities == nil {
		p.Modalities = []string{}
	}
	// cpu, memory and disk are caps here, not requirements (they are Flyte's resource
	// requests): a machine with less than them still runs the prefetch.
	cpu, err := hfhub.ParseCPU(orDefault(req.CPU, "2"))
	if err != nil {
		return bad("cpu", err)
	}
	mem, err := hfhub.ParseBytes(orDefault(req.Memory, "8Gi"))
	if err != nil {
		return bad("memory", err)
	}
	disk, err := hfhub.ParseBytes(orDefault(req.Disk, "50Gi"))
	if err != nil {
		return bad("disk", err)
	}
	p.Parallel = int(min(max(cpu/1000, 1), maxParallel, max(mem/memoryPerParallel, 1)))
	p.MaxBytes, p.MaxBytesName = disk, fmt.Sprintf("the disk cap (disk=%s)", orDefault(req.Disk, "50Gi"))
	if c.MaxBytes != "" {
		if m, _ := hfhub.ParseBytes(c.MaxBytes); m < p.MaxBytes {
			p.MaxBytes, p.MaxBytesName = m, fmt.Sprintf("the server's cap (backend.local.prefetch.max_bytes=%s)", c.MaxBytes)
		}
	}
	return p, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// tokenRule is the refusal of a token key outside the allowed list.
func tokenRule(c PrefetchConfig, key string) string {
	allowed := "none"
	if len(c.AllowedTokenKeys) > 0 {
		allowed = strings.Join(c.AllowedTokenKeys, ", ")
	}
	return fmt.Sprintf("hf_token_key %q is not one of the secrets prefetches may use (backend.local.prefetch.allowed_token_keys: %s)", key, allowed)
}

// checkToken applies the token rule when it can be known that a token will be used. A key
// in the allowed list needs no check. A key outside it is fine as long as no token is
// needed: the file list is asked for anonymously (bounded by ProbeTimeout), and when the Hub
// answers that the repo needs a token, the request is refused with CodePermissionDenied
// naming the rule. When the Hub cannot be asked (down, slow), the request goes on: the run
// never reads a secret outside the list (prefetchToken refuses it), so it fails then, naming
// the same rule, if the repo turns out to need a token (a gated repo, whose file list is
// public and whose files are not, is refused that way too).
func checkToken(ctx context.Context, c PrefetchConfig, p prefetchPlan) error {
	if p.TokenAllowed {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.ProbeTimeout)
	defer cancel()
	_, err := c.hubClient().ModelInfo(ctx, p.Repo, "", nil)
	var herr *hfhub.HubError
	if errors.As(err, &herr) && herr.NeedsToken() {
		return controlplane.Errorf(controlplane.CodePermissionDenied, "%s, and %s needs a token: %v", tokenRule(c, p.TokenKey), p.Repo, err)
	}
	return nil
}

// prefetchToken is the run's hfhub.TokenFunc: the secret named by the plan's key, read from
// the server's environment when the Hub asks for a token, refused when the key is not
// allowed.
func prefetchToken(c PrefetchConfig, p prefetchPlan) hfhub.TokenFunc {
	return func(context.Context) (string, error) {
		if !p.TokenAllowed {
			return "", errors.New(tokenRule(c, p.TokenKey))
		}
		v := os.Getenv(p.TokenKey)
		if v == "" {
			return "", fmt.Errorf("secret %s is not set in the server's environment", p.TokenKey)
		}
		return v, nil
	}
}

// runPrefetch downloads the plan's snapshot into the models folder and returns the run's
// outputs. ctx ends it (abort, timeout, shutdown); log receives its steps. The caller bounds
// ctx by c.Timeout.
func runPrefetch(ctx context.Context, c PrefetchConfig, p prefetchPlan, log io.Writer) (map[string]any, error) {
	keepFree, err := hfhub.ParseBytes(c.KeepFree)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("the models folder: %w", err)
	}
	models, err := os.OpenRoot(c.Dir)
	if err != nil {
		return nil, fmt.Errorf("the models folder: %w", err)
	}
	defer models.Close()
	// The destination is made and opened through the models folder's root, so a link placed
	// on the way since the request was checked cannot lead outside it.
	if err := models.MkdirAll(p.RelDir, 0o755); err != nil {
		return nil, fmt.Errorf("raw_data_path %s: %w", p.RelDir, err)
	}
	dir, err := models.OpenRoot(p.RelDir)
	if err != nil {
		return nil, fmt.Errorf("raw_data_path %s: %w", p.RelDir, err)
	}
	defer dir.Close()
	res, err := c.hubClient().Snapshot(ctx, hfhub.Options{
		Repo: p.Repo, Token: prefetchToken(c, p), Dir: dir, Force: p.Force,
		MaxBytes: p.MaxBytes, MaxBytesName: p.MaxBytesName, KeepFree: keepFree,
		Parallel: p.Parallel, Log: log, DropPartial: dropPartialOnAbort,
	})
	if err != nil {
		return nil, err
	}
	arch, mtype := p.Architecture, p.ModelType
	if arch == "" || mtype == "" {
		a, m := modelConfig(dir)
		arch, mtype = orDefault(arch, a), orDefault(mtype, m)
	}
	abs, err := filepath.Abs(filepath.Join(c.Dir, filepath.FromSlash(p.RelDir)))
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"path": abs, "files": len(res.Files), "bytes": res.Bytes, "revision": res.Commit,
		"artifact_name": p.ArtifactName, "architecture": arch, "task": p.Task, "modality": p.Modalities,
		"serial_format": p.SerialFormat, "model_type": mtype, "short_description": p.ShortDescription,
	}, nil
}

// modelConfig reads the architecture and model type from the snapshot's config.json, as
// Flyte's prefetch does when the request does not give them: "architectures" joined by ","
// (or "architecture"), and "model_type". "" for what it does not say.
func modelConfig(dir *os.Root) (arch, modelType string) {
	f, err := dir.Open("config.json")
	if err != nil {
		return "", ""
	}
	defer f.Close()
	var cfg struct {
		Architecture  string   `json:"architecture"`
		Architectures []string `json:"architectures"`
		ModelType     string   `json:"model_type"`
	}
	if json.NewDecoder(io.LimitReader(f, 1<<20)).Decode(&cfg) != nil {
		return "", ""
	}
	arch = cfg.Architecture
	if arch == "" {
		arch = strings.Join(cfg.Architectures, ",")
	}
	return arch, cfg.ModelType
}
