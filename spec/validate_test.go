package spec

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/jobrun/jobrun/exitcode"
)

func TestValidate(t *testing.T) {
	good := func(t *testing.T) *Spec {
		s, err := Load("testdata/full.yaml", Overrides{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if err := good(t).Validate(); err != nil {
		t.Fatalf("Validate of a parsed spec: %v", err)
	}
	tests := []struct {
		name   string
		change func(*Spec)
		want   []string
	}{
		{"name", func(s *Spec) { s.Name = "a_b" }, []string{`name: "a_b" is not a valid job name: 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit`}},
		{"no image", func(s *Spec) { s.Image, s.Build = "", nil }, []string{"image: a spec needs image or build"}},
		{"relative uri", func(s *Spec) { s.Inputs[0].URI = "data" }, []string{`inputs.training.uri: "data" must be an s3:// URI or an absolute, clean local path`}},
		{"enum", func(s *Spec) { s.Inputs[1].Mode = "File" }, []string{`inputs.validation.mode: invalid value "File": want file, fastfile or pipe`}},
		{"conflict", func(s *Spec) { s.Inputs[3].Mode = "fastfile" }, []string{
			"inputs.stream.compression: compression gzip needs mode pipe: SageMaker decompresses only in Pipe mode",
			"inputs.stream.mode: type augmented_manifest needs mode pipe (SageMaker's only mode for augmented manifests) or file (a jobrun extension)",
			"inputs.stream.record_wrapper: record_wrapper recordio needs mode pipe: SageMaker wraps records only in Pipe mode",
		}},
		{"duplicate channel", func(s *Spec) { s.Inputs[1].Name = "training" }, []string{`inputs.training: duplicate channel "training"`}},
		{"gpus", func(s *Spec) { s.Resources.GPUs = "device=0,1" }, []string{`resources.gpus: "device=0,1" is not "", all, a count, comma-separated device ids or device=INDEX`}},
		{"gpu id", func(s *Spec) { s.Resources.GPUs = "0,-1" }, []string{`resources.gpus: "0,-1" has an invalid device id "-1"`}},
		{"instances", func(s *Spec) { s.Resources.InstanceCount = 2 }, []string{"resources.instance_count: 2: only single-host jobs (1) are supported yet"}},
		{"runtime", func(s *Spec) { s.Stopping.MaxRuntime = 0 }, []string{`stopping.max_runtime: "0s" must be between 1s and 28 days (672h), SageMaker's limits`}},
		{"checkpoint", func(s *Spec) { s.Checkpoint.LocalPath = "ck" }, []string{`checkpoint.local_path: "ck" must be an absolute path in the container`}},
		{"metrics", func(s *Spec) { s.Metrics[1].Name = s.Metrics[0].Name }, []string{`metrics.1.name: duplicate metric name "train:loss"`}},
		{"durations", func(s *Spec) { s.Stopping.Grace = -time.Second }, []string{`stopping.grace: "-1s" must not be negative`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good(t)
			tt.change(s)
			err := s.Validate()
			var es Errors
			if !errors.As(err, &es) || exitcode.Code(err) != exitcode.Usage {
				t.Fatalf("Validate = %v, want usage Errors", err)
			}
			var got []string
			for _, e := range es {
				got = append(got, e.Error())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
