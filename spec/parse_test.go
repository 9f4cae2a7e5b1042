package spec

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jobrun/jobrun/exitcode"
)

// base is the smallest valid spec; test snippets start on its line 3.
const base = "name: job\nimage: img\n"

// dir is the folder Parse resolves "t.yaml"'s relative paths against.
func dir(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

func mustParse(t *testing.T, src string, ov Overrides) *Spec {
	t.Helper()
	s, err := Parse("t.yaml", []byte(src), ov)
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	return s
}

// parseErrors parses src, which must fail with a usage error, and returns
// the error's lines.
func parseErrors(t *testing.T, src string, ov Overrides) []string {
	t.Helper()
	s, err := Parse("t.yaml", []byte(src), ov)
	if err == nil {
		t.Fatalf("Parse(%q) = %+v, want an error", src, s)
	}
	if code := exitcode.Code(err); code != exitcode.Usage {
		t.Errorf("exitcode.Code = %d, want %d", code, exitcode.Usage)
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %T is not spec.Errors: %v", err, err)
	}
	return strings.Split(es.Error(), "\n")
}

func TestDefaults(t *testing.T) {
	s := mustParse(t, base, Overrides{})
	want := &Spec{
		Name:            "job",
		Image:           "img",
		Arguments:       []string{"train"},
		Hyperparameters: map[string]string{},
		Environment:     map[string]string{},
		Inputs:          []Input{},
		Output:          Output{URI: filepath.Join(dir(t), "runs"), Compression: "none"},
		Resources:       Resources{InstanceType: "local", InstanceCount: 1, ShmSize: 1 << 30},
		Stopping:        Stopping{MaxRuntime: 24 * time.Hour, Grace: 120 * time.Second},
		File:            filepath.Join(dir(t), "t.yaml"),
		Dir:             dir(t),
		Source:          base,
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got  %+v\nwant %+v", s, want)
	}
}

// TestKeys checks each key's accepted forms and normalised values.
func TestKeys(t *testing.T) {
	const d = "<dir>" // stands for the test's folder
	tests := []struct {
		name string
		src  string // after base; name: and image: may be overridden
		get  func(*Spec) any
		want any
	}{
		{"name", "name: my-Job--2\nimage: i\n", func(s *Spec) any { return s.Name }, "my-Job--2"},
		{"name 63 chars", "name: " + strings.Repeat("a", 63) + "\nimage: i\n", func(s *Spec) any { return len(s.Name) }, 63},
		{"image with registry and digest", "name: j\nimage: reg.io:5000/a/b_c:v1.0@sha256:" + strings.Repeat("ab", 32) + "\n",
			func(s *Spec) any { return s.Image }, "reg.io:5000/a/b_c:v1.0@sha256:" + strings.Repeat("ab", 32)},
		{"image id", "name: j\nimage: sha256:" + strings.Repeat("0f", 32) + "\n", func(s *Spec) any { return s.Image }, "sha256:" + strings.Repeat("0f", 32)},
		{"pull", "pull: true\n", func(s *Spec) any { return s.Pull }, true},
		{"build shorthand", "build: ctx\n", func(s *Spec) any { return *s.Build }, Build{Context: d + "/ctx", Dockerfile: "Dockerfile"}},
		{"build mapping", "build: {context: /abs/ctx/, dockerfile: ./sub/../Dockerfile.gpu, args: {V: 1.10, E: ''}}\n",
			func(s *Spec) any { return *s.Build },
			Build{Context: "/abs/ctx", Dockerfile: "Dockerfile.gpu", Args: map[string]string{"V": "1.10", "E": ""}}},
		{"build without image", "name: j\nimage:\nbuild: ctx\n", func(s *Spec) any { return s.Image }, ""},
		{"entrypoint string is one element", "entrypoint: python -u train.py\n", func(s *Spec) any { return s.Entrypoint }, []string{"python -u train.py"}},
		{"entrypoint list", "entrypoint: [python, -u, 1]\n", func(s *Spec) any { return s.Entrypoint }, []string{"python", "-u", "1"}},
		{"arguments string", "arguments: serve\n", func(s *Spec) any { return s.Arguments }, []string{"serve"}},
		{"arguments list", "arguments: [train, --epochs, 10]\n", func(s *Spec) any { return s.Arguments }, []string{"train", "--epochs", "10"}},
		{"arguments empty", "arguments: []\n", func(s *Spec) any { return s.Arguments }, []string{}},
		{"null is unset", "arguments:\npull: ~\n", func(s *Spec) any { return s.Arguments }, []string{"train"}},
		{"environment", "environment: {A: x, _B2: 3, C: true, D: 0.50, E: ''}\n", func(s *Spec) any { return s.Environment },
			map[string]string{"A": "x", "_B2": "3", "C": "true", "D": "0.50", "E": ""}},
		{"output shorthand", "output: out/\n", func(s *Spec) any { return s.Output }, Output{URI: d + "/out", Compression: "none"}},
		{"output s3", "output: {uri: s3://my.bucket/jobs/, compression: GZIP}\n", func(s *Spec) any { return s.Output },
			Output{URI: "s3://my.bucket/jobs/", Compression: "gzip"}},
		{"output file uri", "output: {uri: 'file:///tmp/x/../runs'}\n", func(s *Spec) any { return s.Output.URI }, "/tmp/runs"},
		{"output compression only", "output: {compression: none}\n", func(s *Spec) any { return s.Output.URI }, d + "/runs"},
		{"checkpoint shorthand", "checkpoint: s3://bkt/ck\n", func(s *Spec) any { return *s.Checkpoint },
			Checkpoint{URI: "s3://bkt/ck", LocalPath: "/opt/ml/checkpoints"}},
		{"checkpoint mapping", "checkpoint: {uri: ck, local_path: /ckpt/}\n", func(s *Spec) any { return *s.Checkpoint },
			Checkpoint{URI: d + "/ck", LocalPath: "/ckpt"}},
		{"resources", "resources: {instance_type: ML.M5.XLARGE, instance_count: 1, shm_size: 512m, memory: 2GiB, cpus: 2}\n",
			func(s *Spec) any { return s.Resources },
			Resources{InstanceType: "ml.m5.xlarge", InstanceCount: 1, ShmSize: 512 << 20, Memory: 2 << 30, CPUs: 2}},
		{"gpus all", "resources: {gpus: ALL}\n", func(s *Spec) any { return []string{s.Resources.GPUs, s.Resources.InstanceType} }, []string{"all", "local_gpu"}},
		{"gpus count", "resources: {gpus: 2}\n", func(s *Spec) any { return s.Resources.GPUs }, "2"},
		{"gpus count string", "resources: {gpus: '2'}\n", func(s *Spec) any { return s.Resources.GPUs }, "2"},
		{"gpus zero", "resources: {gpus: 0}\n", func(s *Spec) any { return []string{s.Resources.GPUs, s.Resources.InstanceType} }, []string{"", "local"}},
		{"gpus list", "resources: {gpus: [0, GPU-3a2c]}\n", func(s *Spec) any { return s.Resources.GPUs }, "0,GPU-3a2c"},
		{"gpus one device", "resources: {gpus: [1]}\n", func(s *Spec) any { return s.Resources.GPUs }, "device=1"},
		{"gpus comma string", "resources: {gpus: '0, 2'}\n", func(s *Spec) any { return s.Resources.GPUs }, "0,2"},
		{"gpus docker form", "resources: {gpus: device=3}\n", func(s *Spec) any { return s.Resources.GPUs }, "device=3"},
		{"local_gpu means all gpus", "resources: {instance_type: local_gpu}\n", func(s *Spec) any { return s.Resources.GPUs }, "all"},
		{"explicit local with gpus", "resources: {instance_type: local, gpus: 1}\n", func(s *Spec) any { return s.Resources.InstanceType }, "local"},
		{"sizes", "resources: {shm_size: 1073741824, memory: 1.5g}\n", func(s *Spec) any { return []int64{s.Resources.ShmSize, s.Resources.Memory} },
			[]int64{1 << 30, 3 << 29}},
		{"size units", "resources: {shm_size: 64KB, memory: 1t}\n", func(s *Spec) any { return []int64{s.Resources.ShmSize, s.Resources.Memory} },
			[]int64{64 << 10, 1 << 40}},
		{"cpus float", "resources: {cpus: 0.5}\n", func(s *Spec) any { return s.Resources.CPUs }, 0.5},
		{"stopping", "stopping: {max_runtime: 90m, grace: 0}\n", func(s *Spec) any { return s.Stopping }, Stopping{MaxRuntime: 90 * time.Minute}},
		{"stopping seconds and days", "stopping: {max_runtime: 3600, grace: 1d2h}\n", func(s *Spec) any { return s.Stopping },
			Stopping{MaxRuntime: time.Hour, Grace: 26 * time.Hour}},
		{"stopping 28 days", "stopping: {max_runtime: 28d}\n", func(s *Spec) any { return s.Stopping.MaxRuntime }, 28 * 24 * time.Hour},
		{"metrics", "metrics:\n  - {name: 'train:loss', regex: 'loss=([0-9.]+)'}\n  - {name: acc, regex: '(?P<v>\\d+)%'}\n",
			func(s *Spec) any { return s.Metrics }, []Metric{{"train:loss", "loss=([0-9.]+)"}, {"acc", `(?P<v>\d+)%`}}},
		{"aliases", "stopping: {grace: &a 5s}\nhyperparameters: {a: *a, b: &l [1]}\nenvironment: {A: *a}\narguments: *l\n",
			func(s *Spec) any { return []any{s.Stopping.Grace, s.Hyperparameters, s.Environment, s.Arguments} },
			[]any{5 * time.Second, map[string]string{"a": "5s", "b": "[1]"}, map[string]string{"A": "5s"}, []string{"1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if !strings.HasPrefix(src, "name:") {
				src = base + src
			}
			got := tt.get(mustParse(t, src, Overrides{}))
			want := replaceDir(tt.want, d, dir(t))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %#v\nwant %#v", got, want)
			}
		})
	}
}

// replaceDir puts the real test folder in place of the placeholder d.
func replaceDir(v any, d, real string) any {
	switch w := v.(type) {
	case string:
		return strings.Replace(w, d, real, 1)
	case Build:
		w.Context = strings.Replace(w.Context, d, real, 1)
		return w
	case Output:
		w.URI = strings.Replace(w.URI, d, real, 1)
		return w
	case Checkpoint:
		w.URI = strings.Replace(w.URI, d, real, 1)
		return w
	}
	return v
}
