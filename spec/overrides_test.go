package spec

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestOverrides(t *testing.T) {
	const src = base + `inputs:
  train: s3://bkt/train
  train.v2: {uri: s3://bkt/v2}
output: out
hyperparameters: &hp {lr: 0.1}
metrics: [{name: loss, regex: "loss=(.*)"}]
`
	tests := []struct {
		name string
		ov   Overrides
		get  func(*Spec) any
		want any
	}{
		{"set hyperparameter", Overrides{Set: []string{"hyperparameters.lr=0.01"}}, func(s *Spec) any { return s.Hyperparameters["lr"] }, "0.01"},
		{"set new hyperparameter", Overrides{Set: []string{"hyperparameters.epochs=10"}}, func(s *Spec) any { return s.Hyperparameters }, map[string]string{"lr": "0.1", "epochs": "10"}},
		{"set flow value", Overrides{Set: []string{"hyperparameters.layers=[64, 32]"}}, func(s *Spec) any { return s.Hyperparameters["layers"] }, "[64,32]"},
		{"set quoted key with dots", Overrides{Set: []string{`hyperparameters."a.b"=1`}}, func(s *Spec) any { return s.Hyperparameters["a.b"] }, "1"},
		{"set nested map", Overrides{Set: []string{"hyperparameters.opt.name=adam"}}, func(s *Spec) any { return s.Hyperparameters["opt"] }, `{"name":"adam"}`},
		{"set gpus", Overrides{Set: []string{"resources.gpus=all"}}, func(s *Spec) any { return s.Resources.GPUs + " " + s.Resources.InstanceType }, "all local_gpu"},
		{"set runtime", Overrides{Set: []string{"stopping.max_runtime=1h"}}, func(s *Spec) any { return s.Stopping.MaxRuntime }, time.Hour},
		{"set expands input shorthand", Overrides{Set: []string{"inputs.train.mode=pipe"}}, func(s *Spec) any { return s.Inputs[0].URI + " " + s.Inputs[0].Mode }, "s3://bkt/train pipe"},
		{"set channel with a dot", Overrides{Set: []string{"inputs.train.v2.mode=fastfile"}}, func(s *Spec) any { return s.Inputs[1].Mode }, "fastfile"},
		{"set new channel", Overrides{Set: []string{"inputs.test=s3://bkt/test"}}, func(s *Spec) any { return s.Inputs[2] }, Input{Name: "test", URI: "s3://bkt/test", Type: "s3prefix", Mode: "file", Compression: "none", Distribution: "fully_replicated", RecordWrapper: "none", Pos: "--set inputs.test=s3://bkt/test"}},
		{"set expands output shorthand", Overrides{Set: []string{"output.compression=gzip"}}, func(s *Spec) any { return s.Output.Compression + " " + filepath.Base(s.Output.URI) }, "gzip out"},
		{"set creates section", Overrides{Set: []string{"checkpoint.uri=s3://bkt/ck"}}, func(s *Spec) any { return s.Checkpoint.URI }, "s3://bkt/ck"},
		{"set list item", Overrides{Set: []string{"metrics.0.regex=l=(.+)"}}, func(s *Spec) any { return s.Metrics[0].Regex }, "l=(.+)"},
		{"set list", Overrides{Set: []string{"arguments=[train, --fast]"}}, func(s *Spec) any { return s.Arguments }, []string{"train", "--fast"}},
		{"set null removes", Overrides{Set: []string{"output="}}, func(s *Spec) any { return filepath.Base(s.Output.URI) }, "runs"},
		{"set in order", Overrides{Set: []string{"hyperparameters.lr=1", "hyperparameters.lr=2"}}, func(s *Spec) any { return s.Hyperparameters["lr"] }, "2"},
		{"set name is a base name", Overrides{Set: []string{"name=other"}}, func(s *Spec) any { return []any{s.Name, s.NameFixed} }, []any{"other", false}},
		{"env", Overrides{Env: []string{"A=1", "B=x=y", "C="}}, func(s *Spec) any { return s.Environment }, map[string]string{"A": "1", "B": "x=y", "C": ""}},
		{"env is a string", Overrides{Env: []string{"A=[1, 2]"}}, func(s *Spec) any { return s.Environment["A"] }, "[1, 2]"},
		{"env after set", Overrides{Set: []string{"environment.A=1"}, Env: []string{"A=2"}}, func(s *Spec) any { return s.Environment["A"] }, "2"},
		{"output", Overrides{Output: "elsewhere"}, func(s *Spec) any { return s.Output.URI }, filepath.Join(cwd(t), "elsewhere")},
		{"output s3", Overrides{Output: "s3://bkt/o"}, func(s *Spec) any { return s.Output.URI }, "s3://bkt/o"},
		{"name", Overrides{Name: "exact-name"}, func(s *Spec) any { return []any{s.Name, s.NameFixed} }, []any{"exact-name", true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.get(mustParse(t, src, tt.ov))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func cwd(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// TestOverrideKeepsAlias checks that --set on a value reached through an
// alias leaves the anchor's other uses alone.
func TestOverrideKeepsAlias(t *testing.T) {
	src := base + "inputs:\n  a: &in {uri: s3://bkt/a, mode: pipe}\n  b: *in\n"
	s := mustParse(t, src, Overrides{Set: []string{"inputs.b.mode=file"}})
	if s.Inputs[0].Mode != "pipe" || s.Inputs[1].Mode != "file" {
		t.Errorf("modes %s, %s: want pipe, file", s.Inputs[0].Mode, s.Inputs[1].Mode)
	}
}

func TestOverrideErrors(t *testing.T) {
	tests := []struct {
		name string
		ov   Overrides
		want []string
	}{
		{"no equals", Overrides{Set: []string{"hyperparameters.lr"}}, []string{"--set hyperparameters.lr: want path=value, such as hyperparameters.lr=0.1"}},
		{"empty part", Overrides{Set: []string{"a..b=1"}}, []string{`--set a..b=1: empty part in path "a..b"`}},
		{"trailing dot", Overrides{Set: []string{"a.=1"}}, []string{`--set a.=1: empty part in path "a."`}},
		{"unterminated quote", Overrides{Set: []string{`a."b=1`}}, []string{`--set a."b=1: unterminated quote in path "a.\"b"`}},
		{"bad yaml", Overrides{Set: []string{"hyperparameters.lr=[1"}}, []string{`--set hyperparameters.lr=[1: value "[1" is not valid YAML: line 1: did not find expected ',' or ']'`}},
		{"unknown key", Overrides{Set: []string{"hyperparamters.lr=1"}}, []string{`--set hyperparamters.lr=1: unknown key "hyperparamters" (did you mean "hyperparameters"?)`}},
		{"bad value", Overrides{Set: []string{"resources.gpus=-1"}}, []string{"--set resources.gpus=-1: gpus must not be negative"}},
		{"bad type", Overrides{Set: []string{"pull=maybe"}}, []string{`--set pull=maybe: "pull" must be true or false, not "maybe"`}},
		{"into a scalar", Overrides{Set: []string{"name.first=a"}}, []string{`--set name.first=a: "name" is a string, not a mapping`}},
		{"bad index", Overrides{Set: []string{"metrics.3.name=a"}}, []string{`--set metrics.3.name=a: "metrics" is a list of 1 items: "3" is not an index into it`}},
		{"missing uri in new channel", Overrides{Set: []string{"inputs.x.mode=pipe"}}, []string{`--set inputs.x.mode=pipe: missing required key "uri"`}},
		{"combination", Overrides{Set: []string{"inputs.train.compression=gzip"}}, []string{`--set inputs.train.compression=gzip: input "train": compression gzip needs mode pipe: SageMaker decompresses only in Pipe mode`}},
		{"null name", Overrides{Set: []string{"name="}}, []string{`--set name=: "name" needs a value`}},
		{"env without value", Overrides{Env: []string{"A"}}, []string{"--env A: want NAME=value"}},
		{"env bad name", Overrides{Env: []string{"1A=x"}}, []string{`--env 1A=x: environment variable name "1A" must be letters, digits and _, not starting with a digit`}},
		{"output scheme", Overrides{Output: "gs://b/o"}, []string{`--output gs://b/o: uri "gs://b/o" has an unsupported scheme: want s3://bucket/prefix, file:///abs/path or a path`}},
		{"name", Overrides{Name: "bad_name"}, []string{`--name bad_name: name "bad_name" is not a valid job name: 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit`}},
		{"flags and file", Overrides{Set: []string{"pull=1"}}, []string{`--set pull=1: "pull" must be true or false, not "1"`, `t.yaml:3:1: unknown key "bogus" (known keys: ` + strings.Join(rootKeys, ", ") + ")"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := base + "inputs: {train: s3://bkt/t}\nmetrics: [{name: a, regex: (x)}]\n"
			if tt.name == "flags and file" {
				src = base + "bogus: 1\n"
			}
			got := parseErrors(t, src, tt.ov)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
