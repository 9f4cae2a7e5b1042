package contract

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCrosscheckToolkit runs the real sagemaker-training-toolkit on the
// files jobrun writes and compares its SM_* set with jobrun's. It needs
// python3 (with six) and the toolkit's source, so it runs only when asked:
//
//	JOBRUN_TOOLKIT_SRC=/path/to/sagemaker-training-toolkit/src go test ./contract/ -run Crosscheck
func TestCrosscheckToolkit(t *testing.T) {
	src := os.Getenv("JOBRUN_TOOLKIT_SRC")
	if src == "" {
		t.Skip("set JOBRUN_TOOLKIT_SRC to a sagemaker-training-toolkit src/ directory")
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			job := tc.job(t)
			tree, err := Compute(job)
			if err != nil {
				t.Fatal(err)
			}
			want := runToolkit(t, src, job, tree)
			compareWithToolkit(t, job, envMap(tree.Env), want)
		})
	}
}

// runToolkit writes the tree, starts the container's environment as on
// SageMaker (the user's plus TRAINING_JOB_*; no SM_*) and returns the
// toolkit's to_env_vars().
func runToolkit(t *testing.T, src string, job Job, tree Tree) map[string]string {
	t.Helper()
	dir := t.TempDir()
	optML := filepath.Join(dir, "opt", "ml")
	if err := tree.WriteConfig(optML); err != nil {
		t.Fatal(err)
	}
	start := map[string]string{}
	for k, v := range envMap(tree.Env) {
		if _, user := job.Environment[k]; user || strings.HasPrefix(k, "TRAINING_JOB_") {
			start[k] = job.Environment[k]
			if !user {
				start[k] = v
			}
		}
	}
	envFile := filepath.Join(dir, "env.json")
	if err := os.WriteFile(envFile, []byte(mustJSON(t, start)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("python3", "testdata/crosscheck/toolkit_env.py", src, optML, envFile,
		strconv.Itoa(job.NumCPUs), strconv.Itoa(job.NumGPUs)).Output()
	if err != nil {
		t.Fatalf("toolkit: %v\n%s", err, exitStderr(err))
	}
	var env map[string]string
	if err := json.Unmarshal(out, &env); err != nil {
		t.Fatalf("toolkit output: %v\n%s", err, out)
	}
	return env
}

func exitStderr(err error) []byte {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.Stderr
	}
	return nil
}

// compareWithToolkit expects every toolkit variable, byte for byte, except
// the documented deviation: with no program the toolkit says "None".
func compareWithToolkit(t *testing.T, job Job, got, want map[string]string) {
	t.Helper()
	_, hasHP := job.Hyperparameters["sagemaker_program"]
	_, hasEnv := job.Environment["SAGEMAKER_PROGRAM"]
	noProgram := !hasHP && !hasEnv
	for k, w := range want {
		switch {
		case noProgram && k == "SM_MODULE_NAME":
			w = ""
		case noProgram && k == "SM_TRAINING_ENV":
			w = strings.Replace(w, `"module_name":"None"`, `"module_name":null`, 1)
		}
		if got[k] != w {
			t.Errorf("%s:\n got %q\nwant %q", k, got[k], w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok && strings.HasPrefix(k, "SM_") && job.Environment[k] == "" {
			t.Errorf("%s: set by jobrun, not by the toolkit", k)
		}
	}
}
