package spec

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/jobrun/jobrun/exitcode"
)

// Validate checks a Spec that did not come from Parse, such as one read
// back from a run's job.json, against Parse's rules for normalised values.
// Problems are Errors whose Pos is the field ("inputs.train.mode"), wrapped
// as a usage error. A Spec from Parse always passes.
func (s *Spec) Validate() error {
	v := &validator{}
	v.check("name", s.Name, checkJobName(s.Name))
	v.image(s)
	v.hyperparameters(s.Hyperparameters)
	v.environment(s.Environment)
	v.inputs(s.Inputs)
	v.uri("output.uri", s.Output.URI)
	v.enum("output.compression", compressionEnum, s.Output.Compression)
	if c := s.Checkpoint; c != nil {
		v.uri("checkpoint.uri", c.URI)
		v.check("checkpoint.local_path", c.LocalPath, checkLocalPath(c.LocalPath))
	}
	v.resources(s.Resources)
	v.check("stopping.max_runtime", s.Stopping.MaxRuntime.String(), checkMaxRuntime(s.Stopping.MaxRuntime))
	v.check("stopping.grace", s.Stopping.Grace.String(), checkGrace(s.Stopping.Grace))
	v.metrics(s.Metrics)
	if len(v.errs) > 0 {
		sort.SliceStable(v.errs, func(i, j int) bool { return v.errs[i].Pos < v.errs[j].Pos })
		return exitcode.NewUsage(v.errs)
	}
	return nil
}

type validator struct{ errs Errors }

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, Error{Pos: field, Msg: fmt.Sprintf(format, args...)})
}

// check reports msg, a problem with value, unless it is "".
func (v *validator) check(field, value, msg string) {
	if msg != "" {
		v.add(field, "%q %s", value, msg)
	}
}

func (v *validator) enum(field string, e enum, value string) {
	for _, norm := range e.values {
		if value == norm {
			return
		}
	}
	v.add(field, "invalid value %q: want %s", value, e.want)
}

// uri checks a normalised uri: s3://, or an absolute, clean local path.
func (v *validator) uri(field, uri string) {
	switch {
	case strings.HasPrefix(uri, "s3://"):
		v.check(field, uri, checkS3URI(uri))
	case !filepath.IsAbs(uri) || filepath.Clean(uri) != uri:
		v.add(field, "%q must be an s3:// URI or an absolute, clean local path", uri)
	}
}

func (v *validator) image(s *Spec) {
	if s.Image == "" && s.Build == nil {
		v.add("image", "a spec needs image or build")
	}
	if s.Image != "" {
		v.check("image", s.Image, checkImage(s.Image))
	}
	if b := s.Build; b != nil {
		if !filepath.IsAbs(b.Context) {
			v.add("build.context", "%q must be an absolute path", b.Context)
		}
		if !filepath.IsLocal(b.Dockerfile) {
			v.add("build.dockerfile", "%q must be a relative path inside the build context", b.Dockerfile)
		}
	}
}

func (v *validator) hyperparameters(hps map[string]string) {
	if len(hps) > maxHyperparameters {
		v.add("hyperparameters", "too many hyperparameters: %d, SageMaker allows at most %d", len(hps), maxHyperparameters)
	}
	for k, val := range hps {
		if msg := checkHPKey(k); msg != "" {
			v.add("hyperparameters", "%s", msg)
		}
		if msg := checkHPValue(val); msg != "" {
			v.add("hyperparameters."+k, "%s", msg)
		}
	}
}

func (v *validator) environment(env map[string]string) {
	if len(env) > maxEnv {
		v.add("environment", "too many environment variables: %d, SageMaker allows at most %d", len(env), maxEnv)
	}
	for k, val := range env {
		if msg := checkEnvName(k); msg != "" {
			v.add("environment", "%s", msg)
		}
		if len([]rune(val)) > maxEnvValue {
			v.add("environment."+k, "value is longer than %d characters, SageMaker's limit", maxEnvValue)
		}
	}
}

func (v *validator) inputs(ins []Input) {
	if len(ins) > maxChannels {
		v.add("inputs", "too many input channels: %d, SageMaker allows at most %d", len(ins), maxChannels)
	}
	seen := map[string]bool{}
	for _, in := range ins {
		field := "inputs." + in.Name
		if seen[in.Name] {
			v.add(field, "duplicate channel %q", in.Name)
		}
		seen[in.Name] = true
		if msg := checkChannelName(in.Name); msg != "" {
			v.add(field, "%s", msg)
		}
		v.input(field, in)
	}
}

func (v *validator) input(field string, in Input) {
	v.uri(field+".uri", in.URI)
	v.enum(field+".type", typeEnum, in.Type)
	v.enum(field+".mode", modeEnum, in.Mode)
	v.enum(field+".compression", compressionEnum, in.Compression)
	v.enum(field+".distribution", distributionEnum, in.Distribution)
	v.enum(field+".record_wrapper", wrapperEnum, in.RecordWrapper)
	if len([]rune(in.ContentType)) > maxContentType {
		v.add(field+".content_type", "longer than %d characters, SageMaker's limit", maxContentType)
	}
	if len(in.AttributeNames) > maxAttributeNames {
		v.add(field+".attribute_names", "too many: %d, SageMaker allows at most %d", len(in.AttributeNames), maxAttributeNames)
	}
	for _, c := range in.conflicts() {
		v.add(field+"."+c.keys[0], "%s", c.msg)
	}
}

func (v *validator) resources(r Resources) {
	v.check("resources.instance_type", r.InstanceType, checkInstanceType(r.InstanceType))
	if r.InstanceCount != 1 {
		v.add("resources.instance_count", "%d: only single-host jobs (1) are supported yet", r.InstanceCount)
	}
	v.check("resources.gpus", r.GPUs, checkGPUs(r.GPUs))
	if r.ShmSize < 1 {
		v.add("resources.shm_size", "%d must be more than 0", r.ShmSize)
	}
	if r.Memory != 0 && r.Memory < minMemory {
		v.add("resources.memory", "%d is less than Docker's minimum of 6m", r.Memory)
	}
	if !(r.CPUs >= 0) {
		v.add("resources.cpus", "%v must not be negative", r.CPUs)
	}
}

func (v *validator) metrics(ms []Metric) {
	if len(ms) > maxMetrics {
		v.add("metrics", "too many metrics: %d, SageMaker allows at most %d", len(ms), maxMetrics)
	}
	seen := map[string]bool{}
	for i, m := range ms {
		field := fmt.Sprintf("metrics.%d", i)
		if seen[m.Name] {
			v.add(field+".name", "duplicate metric name %q", m.Name)
		}
		seen[m.Name] = true
		if msg := checkMetricName(m.Name); msg != "" {
			v.add(field+".name", "%s", msg)
		}
		if msg := checkMetricRegex(m.Regex); msg != "" {
			v.add(field+".regex", "%s", msg)
		}
	}
}
