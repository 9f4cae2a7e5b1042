package spec

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jobrun/jobrun/exitcode"
)

// FuzzParse checks that Parse never panics, that every error it returns
// is a usage error whose every line carries a position, and that every
// spec it accepts passes Validate, also after a round trip through JSON.
func FuzzParse(f *testing.F) {
	samples, _ := filepath.Glob("testdata/*.yaml")
	bad, _ := filepath.Glob("testdata/errors/*.yaml")
	for _, path := range append(samples, bad...) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "hyperparameters.lr=0.1")
	}
	f.Add([]byte(base+"inputs: {a: &x {uri: s3://bkt/k}, b: *x}\n"), "inputs.b.mode=pipe")
	f.Add([]byte(base+"hyperparameters: {a: &a [1, 2], b: [*a, *a]}\n"), `hyperparameters."x.y"={a: [1]}`)
	f.Add([]byte(base+"resources: {gpus: '0,1', shm_size: 1.5g}\n"), "resources.gpus=all")
	f.Add([]byte(base+"output: out\n"), "output.compression=gzip")
	f.Fuzz(func(t *testing.T, data []byte, set string) {
		ov := Overrides{Set: []string{set}}
		s, err := Parse("f.yaml", data, ov)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted spec fails Validate: %v\n%s", err, data)
		}
		checkRoundTrip(t, s)
		again, err := Parse("f.yaml", data, ov)
		if err != nil || !reflect.DeepEqual(s, again) {
			t.Fatalf("second Parse differs: %v", err)
		}
	})
}

func checkFuzzError(t *testing.T, err error) {
	var es Errors
	if exitcode.Code(err) != exitcode.Usage || !errors.As(err, &es) || len(es) == 0 {
		t.Fatalf("error is not usage Errors: %T %v", err, err)
	}
	for _, e := range es {
		inFile := strings.HasPrefix(e.Pos, "f.yaml:") && e.Line > 0 && e.Column > 0
		if !inFile && !strings.HasPrefix(e.Pos, "--set ") {
			t.Fatalf("error without a position: %q", e.Error())
		}
		if e.Msg == "" {
			t.Fatalf("error without a message at %s", e.Pos)
		}
	}
}

func checkRoundTrip(t *testing.T, s *Spec) {
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	var back Spec
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("json.Unmarshal: %v", err)
	}
	if err := back.Validate(); err != nil {
		t.Fatalf("spec read back from JSON fails Validate: %v\n%s", err, b)
	}
	want := *s
	want.Dir, want.Source = "", "" // not in JSON
	want.Inputs = make([]Input, len(s.Inputs))
	copy(want.Inputs, s.Inputs)
	for i := range want.Inputs {
		want.Inputs[i].Pos = ""
	}
	if !reflect.DeepEqual(&back, &want) {
		t.Fatalf("JSON round trip differs:\n%+v\n%+v", back, want)
	}
}
