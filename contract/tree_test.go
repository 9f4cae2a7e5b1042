package contract

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"unicode"
)

func minimalJob() Job {
	return Job{Name: "Job-1", InstanceCount: 1, NumCPUs: 4}
}

func TestHosts(t *testing.T) {
	if got := Hosts(3); !reflect.DeepEqual(got, []string{"algo-1", "algo-2", "algo-3"}) {
		t.Errorf("Hosts(3) = %v", got)
	}
	if got := Hosts(0); len(got) != 0 {
		t.Errorf("Hosts(0) = %v", got)
	}
	if got := HostName(0); got != "algo-1" {
		t.Errorf("HostName(0) = %q", got)
	}
}

func TestPlatformEnv(t *testing.T) {
	job := minimalJob()
	tree, err := Compute(job)
	if err != nil {
		t.Fatal(err)
	}
	env := envMap(tree.Env)
	if got := env["TRAINING_JOB_ARN"]; got != "arn:aws:sagemaker:local:000000000000:training-job/job-1" {
		t.Errorf("ARN %q", got)
	}
	if env["TRAINING_JOB_NAME"] != "Job-1" {
		t.Errorf("TRAINING_JOB_NAME %q", env["TRAINING_JOB_NAME"])
	}
	if !sort.StringsAreSorted(tree.Env) {
		t.Error("Env is not sorted")
	}
	if _, ok := tree.Files[CheckpointConfigFile]; ok {
		t.Error("checkpointconfig.json without a checkpoint path")
	}
}

// TestPrecedence: the user's variables are kept, except where the toolkit
// (SM_*) or SageMaker (TRAINING_JOB_*) set the same name.
func TestPrecedence(t *testing.T) {
	job := minimalJob()
	job.Environment = map[string]string{
		"MINE": "x", "SM_MODEL_DIR": "/mine", "SM_OWN": "kept", "TRAINING_JOB_NAME": "other",
	}
	tree, err := Compute(job)
	if err != nil {
		t.Fatal(err)
	}
	env := envMap(tree.Env)
	for k, want := range map[string]string{
		"MINE": "x", "SM_MODEL_DIR": "/opt/ml/model", "SM_OWN": "kept", "TRAINING_JOB_NAME": "Job-1",
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
}

// TestNoProgram: with no script named, jobrun reports null, not the
// toolkit's "None" (see docs/contract.md).
func TestNoProgram(t *testing.T) {
	tree, err := Compute(minimalJob())
	if err != nil {
		t.Fatal(err)
	}
	env := envMap(tree.Env)
	for _, k := range []string{"SM_MODULE_NAME", "SM_USER_ENTRY_POINT"} {
		if v, ok := env[k]; !ok || v != "" {
			t.Errorf("%s = %q (set %v), want empty", k, v, ok)
		}
	}
	for _, frag := range []string{`"module_name":null`, `"user_entry_point":null`, `"module_dir":"/opt/ml/code"`, `"log_level":20`} {
		if !strings.Contains(env["SM_TRAINING_ENV"], frag) {
			t.Errorf("SM_TRAINING_ENV lacks %s", frag)
		}
	}
}

// TestNameClash: "a" and "A" both give SM_HP_A; the toolkit's dict keeps
// the later one in file order, which is sorted: "a".
func TestNameClash(t *testing.T) {
	job := minimalJob()
	job.Hyperparameters = map[string]string{"A": "upper", "a": "lower"}
	tree, err := Compute(job)
	if err != nil {
		t.Fatal(err)
	}
	if got := envMap(tree.Env)["SM_HP_A"]; got != "lower" {
		t.Errorf("SM_HP_A = %q", got)
	}
}

func TestComputeErrors(t *testing.T) {
	for name, mutate := range map[string]func(*Job){
		"no name":           func(j *Job) { j.Name = "" },
		"no hosts":          func(j *Job) { j.InstanceCount = 0 },
		"host out of range": func(j *Job) { j.HostIndex = 1 },
		"no CPUs":           func(j *Job) { j.NumCPUs = 0 },
		"relative ckpt":     func(j *Job) { j.CheckpointPath = "ckpt" },
		"bad channel":       func(j *Job) { j.Channels = []Channel{{Name: "a/b"}} },
		"dot channel":       func(j *Job) { j.Channels = []Channel{{Name: ".."}} },
		"twice":             func(j *Job) { j.Channels = []Channel{{Name: "a"}, {Name: "a"}} },
		"bad mode":          func(j *Job) { j.Channels = []Channel{{Name: "a", Mode: "file"}} },
		"bad compression":   func(j *Job) { j.Channels = []Channel{{Name: "a", Compression: "zip"}} },
		"env with =":        func(j *Job) { j.Environment = map[string]string{"A=B": "1"} },
		"NUL value":         func(j *Job) { j.Environment = map[string]string{"A": "\x00"} },
		"bad UTF-8":         func(j *Job) { j.Hyperparameters = map[string]string{"k": "\xff"} },
		"hp key with =":     func(j *Job) { j.Hyperparameters = map[string]string{"a=b": "1"} },
		"decoded NUL":       func(j *Job) { j.Hyperparameters = map[string]string{"k": `"\u0000"`} },
		"lone surrogate":    func(j *Job) { j.Hyperparameters = map[string]string{"k": `"\ud800"`} },
		"groups not a list": func(j *Job) { j.Hyperparameters = map[string]string{"sagemaker_distribution_instance_groups": "5"} },
		"too long":          func(j *Job) { j.Hyperparameters = map[string]string{"k": strings.Repeat("x", maxEnvEntry)} },
	} {
		job := minimalJob()
		mutate(&job)
		if _, err := Compute(job); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.HasPrefix(err.Error(), "contract: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestWriteConfig(t *testing.T) {
	job := minimalJob()
	job.CheckpointPath = "/opt/ml/checkpoints"
	tree, err := Compute(job)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "opt", "ml")
	if err := tree.WriteConfig(root); err != nil {
		t.Fatal(err)
	}
	for rel, want := range tree.Files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %q, %v", rel, got, err)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v", rel, fi.Mode())
		}
	}
	entries, _ := os.ReadDir(filepath.Join(root, "input", "config"))
	if len(entries) != len(tree.Files) {
		t.Errorf("config dir holds %d entries, want %d (temporary files left?)", len(entries), len(tree.Files))
	}
	bad := Tree{Files: map[string][]byte{"../escape": nil}}
	if err := bad.WriteConfig(root); err == nil {
		t.Error("wrote outside root")
	}
}

// readDockerEnvFile follows docker's --env-file reader (opts/envfile.go):
// bufio lines, leading white space trimmed, # comments, KEY=VALUE verbatim.
func readDockerEnvFile(t *testing.T, data []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimLeftFunc(sc.Text(), unicode.IsSpace)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, _ := strings.Cut(line, "=")
		if strings.ContainsAny(k, " \t") {
			t.Fatalf("docker would reject %q", line)
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEnvFile(t *testing.T) {
	long := "LONG=" + strings.Repeat("x", maxEnvFileLine)
	longest := "M=" + strings.Repeat("x", maxEnvFileLine-2) // exactly fits bufio's limit
	tree := Tree{Env: []string{"A=1", "B= spaced =x ", "C=two\nlines", "D=cr\r", "E=", "F G=1", long, longest, "Z=ü"}}
	data := tree.EnvFile()
	got := readDockerEnvFile(t, data)
	want := []string{"A=1", "B= spaced =x ", "E=", longest, "Z=ü"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("docker reads %q, want %q", got, want)
	}
	for _, k := range []string{"C", "D", "F G", "LONG"} {
		if !bytes.Contains(data, []byte("# "+k+" left out: ")) {
			t.Errorf("no comment for %s:\n%s", k, data)
		}
	}
}
