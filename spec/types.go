// Package spec holds the job spec (train.yaml): its schema, defaults,
// validation with file:line:col errors, and command-line overrides.
package spec

import "time"

// Spec is a parsed, validated and defaulted job spec. Paths are resolved
// against the spec file's folder; enum values are normalised to the
// lower-case snake_case forms documented in docs/spec.md.
type Spec struct {
	// Name is the job's base name: the runner adds a unique suffix per run
	// (see JobName), unless NameFixed.
	Name string `json:"name"`
	// NameFixed is set by --name (Overrides.Name): Name is then the full
	// job name, used as is.
	NameFixed bool   `json:"name_fixed,omitempty"`
	Image     string `json:"image,omitempty"`
	Pull      bool   `json:"pull,omitempty"`
	Build     *Build `json:"build,omitempty"`

	// Entrypoint overrides the image's ENTRYPOINT when set.
	Entrypoint []string `json:"entrypoint,omitempty"`
	// Arguments are the container's arguments; ["train"] by default, as SageMaker.
	Arguments []string `json:"arguments"`

	// Hyperparameters are already in SageMaker's form: every value a string
	// (YAML scalars as written, lists and maps as compact JSON).
	Hyperparameters map[string]string `json:"hyperparameters"`
	Environment     map[string]string `json:"environment"`

	// Inputs in the order the spec lists them.
	Inputs []Input `json:"inputs"`

	Output     Output      `json:"output"`
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
	Resources  Resources   `json:"resources"`
	Stopping   Stopping    `json:"stopping"`
	Metrics    []Metric    `json:"metrics,omitempty"`
	Notify     *Notify     `json:"notify,omitempty"`

	// File is the spec's absolute path ("" when read from standard input)
	// and Dir the folder relative paths were resolved against.
	File string `json:"file"`
	Dir  string `json:"-"`
	// Source is the spec file's text as read, before overrides: job.json
	// keeps it so `jobrun rerun` can parse it again with new overrides.
	Source string `json:"-"`
}

// Build describes an image built through the Engine API before the run.
type Build struct {
	Context    string            `json:"context"`    // absolute path
	Dockerfile string            `json:"dockerfile"` // relative to Context; default "Dockerfile"
	Args       map[string]string `json:"args,omitempty"`
}

// Input is one input channel.
type Input struct {
	Name           string   `json:"name"`
	URI            string   `json:"uri"`  // s3://..., or an absolute local path
	Type           string   `json:"type"` // s3prefix | manifest | augmented_manifest
	Mode           string   `json:"mode"` // file | fastfile | pipe
	ContentType    string   `json:"content_type,omitempty"`
	Compression    string   `json:"compression"`    // none | gzip
	Distribution   string   `json:"distribution"`   // fully_replicated | sharded_by_s3_key
	RecordWrapper  string   `json:"record_wrapper"` // none | recordio
	AttributeNames []string `json:"attribute_names,omitempty"`
	// Pos is where the channel is declared ("train.yaml:12:3", or the
	// --set flag that made it), for the runner's messages about it.
	Pos string `json:"-"`
}

// IsLocal reports whether the input is a local path rather than S3.
func (in Input) IsLocal() bool { return len(in.URI) > 0 && in.URI[0] == '/' }

// Output says where the run directory goes.
type Output struct {
	URI         string `json:"uri"`         // absolute local path, or s3://
	Compression string `json:"compression"` // none | gzip
}

// Checkpoint is the checkpoint location restored before and saved after a run.
type Checkpoint struct {
	URI       string `json:"uri"`        // s3://..., or an absolute local path
	LocalPath string `json:"local_path"` // container path; default /opt/ml/checkpoints
}

// Resources are the container's limits and the instance it pretends to be.
type Resources struct {
	InstanceType  string `json:"instance_type"` // default "local" ("local_gpu" with gpus)
	InstanceCount int    `json:"instance_count"`
	// GPUs is "" (none), "all", a count ("2": any two), or device ids,
	// comma-separated ("0,1", "GPU-3a2c"); a single device index has
	// Docker's prefix ("device=1") so it does not read as a count.
	// GPURequest decodes it.
	GPUs    string  `json:"gpus,omitempty"`
	ShmSize int64   `json:"shm_size"`         // bytes; default 1 GiB
	Memory  int64   `json:"memory,omitempty"` // bytes; 0: no limit
	CPUs    float64 `json:"cpus,omitempty"`   // 0: no limit
}

// Stopping bounds the run.
type Stopping struct {
	MaxRuntime time.Duration `json:"max_runtime"` // default 24h
	Grace      time.Duration `json:"grace"`       // default 120s
}

// Metric is a metric definition: the first capture group of Regex is the value.
type Metric struct {
	Name  string `json:"name"`
	Regex string `json:"regex"`
}

// Overrides are the command line's changes to a spec.
type Overrides struct {
	Name   string   // --name: the full job name, used as is (no suffix)
	Output string   // --output: output.uri, relative to the current directory
	Set    []string // --set path=value, e.g. hyperparameters.lr=0.1
	Env    []string // --env K=V
}
