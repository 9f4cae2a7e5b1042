package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// workedExample is the job behind testdata/toolkit/: the inputs the real
// sagemaker-training-toolkit v5.1 read when it produced toolkit-env.json.
func workedExample(t *testing.T) Job {
	t.Helper()
	var hps map[string]string
	readJSON(t, "testdata/toolkit/input-hyperparameters.json", &hps)
	csv := func(name string) Channel {
		return Channel{Name: name, ContentType: "text/csv", Mode: "File"}
	}
	return Job{
		Name:            "job-1",
		Hyperparameters: hps,
		Channels:        []Channel{csv("training"), csv("validation")},
		InstanceType:    "ml.m5.large",
		InstanceCount:   1,
		NumCPUs:         2,
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// TestWorkedExampleEnv compares every SM_* variable the toolkit computed
// with jobrun's, byte for byte.
func TestWorkedExampleEnv(t *testing.T) {
	tree, err := Compute(workedExample(t))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]string
	readJSON(t, "testdata/toolkit/toolkit-env.json", &want)
	got := envMap(tree.Env)
	for k, w := range want {
		if k == "SM_TRAINING_ENV" {
			continue // below
		}
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s:\n got %q (set: %v)\nwant %q", k, g, ok, w)
		}
	}
	checkTrainingEnv(t, got["SM_TRAINING_ENV"], want["SM_TRAINING_ENV"])
}

// checkTrainingEnv compares SM_TRAINING_ENV as data without the four
// job-dependent properties, then as bytes with them put to jobrun's values.
func checkTrainingEnv(t *testing.T, got, want string) {
	t.Helper()
	var g, w map[string]any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("SM_TRAINING_ENV: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"num_cpus", "module_name", "user_entry_point", "job_name"} {
		delete(g, k)
		delete(w, k)
	}
	if gj, wj := mustJSON(t, g), mustJSON(t, w); gj != wj {
		t.Errorf("SM_TRAINING_ENV differs:\n got %s\nwant %s", gj, wj)
	}
	exact := strings.NewReplacer(
		`"job_name":null`, `"job_name":"job-1"`,
		`"module_name":"jobrun_probe"`, `"module_name":null`,
		`"user_entry_point":"jobrun_probe.py"`, `"user_entry_point":null`,
	).Replace(want)
	if got != exact {
		t.Errorf("SM_TRAINING_ENV bytes:\n got %s\nwant %s", got, exact)
	}
	checkToolkitJSON(t, "SM_TRAINING_ENV", got)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v) // maps marshal with sorted keys
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkToolkitJSON asserts the toolkit's JSON form: valid, ASCII only,
// compact (no insignificant whitespace) and every object's keys sorted.
func checkToolkitJSON(t *testing.T, name, s string) {
	t.Helper()
	if !json.Valid([]byte(s)) {
		t.Fatalf("%s is not valid JSON: %s", name, s)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(s)); err != nil || compact.String() != s {
		t.Errorf("%s is not compact: %s", name, s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			t.Fatalf("%s has a non-ASCII byte at %d", name, i)
		}
	}
	dec := json.NewDecoder(strings.NewReader(s))
	if err := checkSortedKeys(dec); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}

// checkSortedKeys walks one JSON value and fails on an object whose keys
// are not in increasing order.
func checkSortedKeys(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('['):
		for dec.More() {
			if err := checkSortedKeys(dec); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	case json.Delim('{'):
		prev := ""
		for i := 0; dec.More(); i++ {
			k, _ := dec.Token()
			key := k.(string)
			if i > 0 && key <= prev {
				return fmt.Errorf("key %q after %q", key, prev)
			}
			prev = key
			if err := checkSortedKeys(dec); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	}
	return err
}

// TestWorkedExampleFiles checks jobrun writes the example's config files:
// the same key order as SageMaker, in compact form.
func TestWorkedExampleFiles(t *testing.T) {
	tree, err := Compute(workedExample(t))
	if err != nil {
		t.Fatal(err)
	}
	for file, example := range map[string]string{
		InputDataConfigFile: "testdata/toolkit/input-inputdataconfig.json",
		ResourceConfigFile:  "testdata/toolkit/input-resourceconfig.json",
	} {
		raw, err := os.ReadFile(example)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if err := json.Compact(&want, raw); err != nil {
			t.Fatal(err)
		}
		if got := string(tree.Files[file]); got != want.String() {
			t.Errorf("%s:\n got %s\nwant %s", file, got, want.String())
		}
	}
	var got, want map[string]string
	if err := json.Unmarshal(tree.Files[HyperparametersFile], &got); err != nil {
		t.Fatal(err)
	}
	readJSON(t, "testdata/toolkit/input-hyperparameters.json", &want)
	if mustJSON(t, got) != mustJSON(t, want) {
		t.Errorf("hyperparameters.json: got %v, want %v", got, want)
	}
}

// TestToolkitJSONValues checks every non-string SM_* value has the
// toolkit's JSON form.
func TestToolkitJSONValues(t *testing.T) {
	tree, err := Compute(workedExample(t))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range envMap(tree.Env) {
		if strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[") {
			checkToolkitJSON(t, k, v)
		}
	}
}
