package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/runner/docker"
	"github.com/jobrun/jobrun/runner/enginetest"
)

// End-to-end tests: the real jobrun binary against the real Docker Engine.

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// jobrunBinary builds the jobrun binary once, static like a release.
func jobrunBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "jobrun-e2e-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "jobrun")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// job is one e2e job's folder: a spec, data and the runs folder.
type job struct {
	t    *testing.T
	dir  string
	name string
}

const trainCSV = "f1,f2,label\n1,2,1\n-1,-2,0\n2,1,1\n-2,-1,0\n1.5,1,1\n-1,-1.5,0\n"

func newJob(t *testing.T, specBody string) *job {
	t.Helper()
	buildTrainer(t)
	dir := t.TempDir()
	j := &job{t: t, dir: dir, name: "e2e-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))}
	j.write("data/train/train.csv", trainCSV)
	j.write("train.yaml", "name: e2e\nimage: "+trainerTag+"\ninputs:\n  train: ./data/train\n"+specBody)
	t.Cleanup(j.assertNoContainers)
	return j
}

func (j *job) write(rel, body string) {
	p := filepath.Join(j.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		j.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		j.t.Fatal(err)
	}
}

func (j *job) runDir() string { return filepath.Join(j.dir, "runs", j.name) }

// command prepares `jobrun local train.yaml --name <job> ARGS...`.
func (j *job) command(args ...string) (*exec.Cmd, *enginetest.Buffer, *enginetest.Buffer) {
	all := append([]string{"local", "train.yaml", "--name", j.name}, args...)
	cmd := exec.Command(jobrunBinary(j.t), all...)
	cmd.Dir = j.dir
	stdout, stderr := &enginetest.Buffer{}, &enginetest.Buffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd, stdout, stderr
}

// run runs jobrun local to the end and returns its exit code.
func (j *job) run(args ...string) (int, string, string) { return j.runEnv(nil, args...) }

// runEnv is run with more environment variables.
func (j *job) runEnv(env []string, args ...string) (int, string, string) {
	cmd, stdout, stderr := j.command(args...)
	cmd.Env = append(os.Environ(), env...)
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		j.t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

func (j *job) record() *artifacts.Record {
	r, err := artifacts.ReadRecord(j.runDir())
	if err != nil {
		j.t.Fatal(err)
	}
	return r
}

func (j *job) read(rel string) string {
	data, err := os.ReadFile(filepath.Join(j.runDir(), rel))
	if err != nil {
		j.t.Fatal(err)
	}
	return string(data)
}

func (j *job) assertNoContainers() {
	eng, err := docker.New(context.Background())
	if err != nil {
		j.t.Fatal(err)
	}
	defer eng.Close()
	res, err := eng.Client().ContainerList(context.Background(), client.ContainerListOptions{
		All: true, Filters: client.Filters{}.Add("label", docker.LabelJob+"="+j.name)})
	if err != nil {
		j.t.Fatal(err)
	}
	if len(res.Items) != 0 {
		j.t.Errorf("%d container(s) of job %s left after jobrun exited", len(res.Items), j.name)
	}
}

// waitFor fails the test unless the output contains s within two minutes.
func waitFor(t *testing.T, b *enginetest.Buffer, s string) {
	t.Helper()
	if !b.WaitFor(s, 2*time.Minute) {
		t.Fatalf("output never contained %q:\n%s", s, b.String())
	}
}

func TestLocalCompletes(t *testing.T) {
	j := newJob(t, `hyperparameters: {epochs: 3, lr: 0.5}
metrics:
  - {name: "train:loss", regex: "loss=([0-9.]+)"}
checkpoint: {uri: ./ckpt}
`)
	code, stdout, stderr := j.run()
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	rec := j.record()
	if rec.Status != artifacts.StatusCompleted || rec.ExitCode == nil || *rec.ExitCode != 0 || rec.ImageID == "" {
		t.Errorf("record = %+v", rec)
	}
	if len(rec.Inputs) != 1 || rec.Inputs[0].Files != 1 || rec.Inputs[0].Size != int64(len(trainCSV)) || rec.Inputs[0].SHA256 == "" {
		t.Errorf("inputs = %+v", rec.Inputs)
	}
	if _, ok := rec.FinalMetrics["train:loss"]; !ok {
		t.Errorf("final metrics = %v", rec.FinalMetrics)
	}
	if lines := strings.Count(j.read("metrics.jsonl"), "\n"); lines != 3 {
		t.Errorf("metrics.jsonl has %d lines, want 3", lines)
	}
	if !strings.Contains(j.read("logs/algo-1.log"), "epoch=3 loss=") {
		t.Errorf("log lacks the last epoch")
	}
	var model map[string]any
	if err := json.Unmarshal([]byte(j.read("model/model.json")), &model); err != nil {
		t.Errorf("model: %v", err)
	}
	if _, err := os.Stat(filepath.Join(j.dir, "ckpt", "checkpoint.json")); err != nil {
		t.Errorf("checkpoint not saved back: %v", err)
	}
	assertNoTempDirs(t)
}

// assertNoTempDirs checks that no jobrun process left its temporary folder.
func assertNoTempDirs(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "jobrun-[0-9]*-*"))
	for _, d := range dirs {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(d), "jobrun-%d-", &pid); err == nil && syscall.Kill(pid, 0) == syscall.ESRCH {
			t.Errorf("temporary folder left behind: %s", d)
		}
	}
}

func TestLocalFailurePassesThrough(t *testing.T) {
	j := newJob(t, "hyperparameters: {fail: true, exit_code: 3}\n")
	code, _, stderr := j.run()
	if code != 3 {
		t.Fatalf("exit %d, want 3; stderr:\n%s", code, stderr)
	}
	rec := j.record()
	if rec.Status != artifacts.StatusFailed || rec.FailureReason == "" || *rec.ExitCode != 3 {
		t.Errorf("record = %+v", rec)
	}
	if got := j.read("output/failure"); !strings.HasPrefix(strings.TrimSpace(got), strings.TrimSpace(rec.FailureReason)[:10]) {
		t.Errorf("failure reason %q does not come from the failure file %q", rec.FailureReason, got)
	}
}

func TestLocalMaxRuntime(t *testing.T) {
	j := newJob(t, `hyperparameters: {epochs: 100000, sleep: 0.2}
stopping: {max_runtime: 2s, grace: 30s}
checkpoint: {uri: ./ckpt}
`)
	code, _, stderr := j.run()
	if code != 124 {
		t.Fatalf("exit %d, want 124; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(j.read("logs/algo-1.log"), "SIGTERM received") {
		t.Errorf("the container did not see SIGTERM")
	}
	rec := j.record()
	if rec.Status != artifacts.StatusStopped || rec.StopReason != "MaxRuntimeExceeded" {
		t.Errorf("record = %+v", rec)
	}
	if _, err := os.Stat(filepath.Join(j.dir, "ckpt", "checkpoint.json")); err != nil {
		t.Errorf("final checkpoint not saved: %v", err)
	}
}

func TestLocalInterrupt(t *testing.T) {
	j := newJob(t, "hyperparameters: {epochs: 100000, sleep: 0.2}\n")
	cmd, stdout, stderr := j.command()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, stdout, "epoch=")
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d, want 130; stderr:\n%s", code, stderr)
	}
	assertStoppedGracefully(t, j)
	if _, err := os.Stat(filepath.Join(j.runDir(), "model")); err != nil {
		t.Errorf("outputs not kept: %v", err)
	}
	if !strings.Contains(j.read("logs/algo-1.log"), "epoch=1 loss=") {
		t.Errorf("log not kept")
	}
}

// assertStoppedGracefully checks the run of a job stopped as on Ctrl-C.
func assertStoppedGracefully(t *testing.T, j *job) {
	t.Helper()
	if !strings.Contains(j.read("logs/algo-1.log"), "SIGTERM received") {
		t.Errorf("the container was not stopped gracefully")
	}
	if rec := j.record(); rec.Status != artifacts.StatusStopped {
		t.Errorf("status = %s", rec.Status)
	}
}

// TestStopLocalJob: `jobrun stop JOB` (no --host) stops a jobrun local
// run gracefully, and asking twice does not turn it into a kill.
func TestStopLocalJob(t *testing.T) {
	j := newJob(t, "hyperparameters: {epochs: 100000, sleep: 0.2}\n")
	cmd, stdout, stderr := j.command()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, stdout, "epoch=")
	for _, args := range [][]string{{"stop", j.name, "--no-wait"}, {"stop", j.name}} {
		if out, err := exec.Command(jobrunBinary(t), args...).CombinedOutput(); err != nil {
			t.Errorf("jobrun %v: %v\n%s", args, err, out)
		}
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d, want 130; stderr:\n%s", code, stderr)
	}
	assertStoppedGracefully(t, j)
	out, err := exec.Command(jobrunBinary(t), "stop", "no-such-job").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not running") {
		t.Errorf("stopping a job that does not run: %v\n%s", err, out)
	}
}

func TestLocalInterruptTwiceKills(t *testing.T) {
	j := newJob(t, "hyperparameters: {epochs: 100000, sleep: 0.2, ignore_sigterm: true}\nstopping: {grace: 1h}\n")
	cmd, stdout, stderr := j.command()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, stdout, "epoch=")
	cmd.Process.Signal(os.Interrupt)
	waitFor(t, stderr, "Ctrl-C again")
	cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("a second Ctrl-C did not end the run")
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d, want 130; stderr:\n%s", code, stderr)
	}
}

func TestLocalGzipOutputs(t *testing.T) {
	j := newJob(t, "hyperparameters: {epochs: 2}\noutput: {compression: gzip}\n")
	if code, _, stderr := j.run(); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	for _, f := range []string{"output/model.tar.gz", "output/output.tar.gz"} {
		if _, err := os.Stat(filepath.Join(j.runDir(), f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(j.runDir(), "model")); !os.IsNotExist(err) {
		t.Errorf("model/ should be replaced by output/model.tar.gz (stat: %v)", err)
	}
	out, err := exec.Command("tar", "-tzf", filepath.Join(j.runDir(), "output/model.tar.gz")).Output()
	if err != nil || !strings.Contains(string(out), "model.json") {
		t.Errorf("model.tar.gz lists %q (%v)", out, err)
	}
	if rec := j.record(); rec.Outputs.Model != "output/model.tar.gz" {
		t.Errorf("outputs = %+v", rec.Outputs)
	}
}

func TestLocalResumesFromCheckpoint(t *testing.T) {
	j := newJob(t, "hyperparameters: {epochs: 2}\ncheckpoint: {uri: ./ckpt}\n")
	if code, _, stderr := j.run(); code != 0 {
		t.Fatalf("first run: exit %d; stderr:\n%s", code, stderr)
	}
	j.name += "-2"
	code, stdout, stderr := j.run("--set", "hyperparameters.epochs=4")
	if code != 0 {
		t.Fatalf("second run: exit %d; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout+stderr, "resumed from epoch 2") || !strings.Contains(stdout, "epoch=4") {
		t.Errorf("second run did not resume:\n%s\n%s", stdout, stderr)
	}
}

// TestContractInContainer checks what a container really sees against the
// contract jobrun renders: every SM_* variable, the argument, the hostname,
// resolvable hosts, and the image's own /opt/ml/code left visible.
func TestContractInContainer(t *testing.T) {
	j := newJob(t, "hyperparameters: {epochs: 1, dump_env: true, lr: 0.05, layers: [1, 2]}\n"+
		"environment: {MY_VAR: hello}\ncheckpoint: {uri: ./ckpt}\nbuild: {context: ./image}\n")
	j.write("image/Dockerfile", "FROM "+trainerTag+"\nCOPY train.py /opt/ml/code/train.py\n")
	j.write("image/train.py", "print('script mode')\n")
	j.write("train.yaml", strings.Replace(j.read0("train.yaml"), "image: "+trainerTag, "image: jobrun-test-contract:1", 1))
	t.Cleanup(func() { removeImage(t, "jobrun-test-contract:1") })
	if code, _, stderr := j.run(); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	var seen struct {
		Argv            []string              `json:"argv"`
		Env             map[string]string     `json:"env"`
		Hostname        string                `json:"hostname"`
		AllHostsResolve bool                  `json:"all_hosts_resolve"`
		Code            struct{ Exists bool } `json:"code"`
	}
	if err := json.Unmarshal([]byte(j.read("output/data/env.json")), &seen); err != nil {
		t.Fatal(err)
	}
	if len(seen.Argv) != 2 || seen.Argv[1] != "train" || seen.Hostname != "algo-1" || !seen.AllHostsResolve || !seen.Code.Exists {
		t.Errorf("argv %v, hostname %q, hosts resolve %v, /opt/ml/code exists %v", seen.Argv, seen.Hostname, seen.AllHostsResolve, seen.Code.Exists)
	}
	rendered := renderEnv(t, j)
	for k, want := range rendered {
		if got, ok := seen.Env[k]; !ok || got != want {
			t.Errorf("%s: container saw %q, render says %q", k, got, want)
		}
	}
	if seen.Env["MY_VAR"] != "hello" || seen.Env["SM_HP_LAYERS"] != "[1,2]" || seen.Env["SM_CHANNEL_TRAIN"] != "/opt/ml/input/data/train" {
		t.Errorf("env = %v", seen.Env)
	}
}

func (j *job) read0(rel string) string {
	data, err := os.ReadFile(filepath.Join(j.dir, rel))
	if err != nil {
		j.t.Fatal(err)
	}
	return string(data)
}

// renderEnv renders the same job's env file and returns its SM_*,
// TRAINING_* and user variables.
func renderEnv(t *testing.T, j *job) map[string]string {
	out := filepath.Join(t.TempDir(), "ml")
	cmd := exec.Command(jobrunBinary(t), "render", "train.yaml", out, "--name", j.name)
	cmd.Dir = j.dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("render: %v\n%s", err, b)
	}
	data, err := os.ReadFile(filepath.Join(out, "env"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			env[k] = v
		}
	}
	if len(env) < 30 {
		t.Fatalf("rendered env has only %d variables", len(env))
	}
	return env
}

func removeImage(t *testing.T, ref string) {
	eng, err := docker.New(context.Background())
	if err != nil {
		t.Error(err)
		return
	}
	defer eng.Close()
	eng.Client().ImageRemove(context.Background(), ref, client.ImageRemoveOptions{Force: true})
}

func TestLocalOutOfMemory(t *testing.T) {
	j := newJob(t, "hyperparameters: {allocate_mb: 256}\nresources: {memory: 32m}\n")
	code, _, stderr := j.run()
	if code != 137 {
		t.Fatalf("exit %d, want 137 (SIGKILL by the OOM killer); stderr:\n%s", code, stderr)
	}
	rec := j.record()
	if rec.Status != artifacts.StatusFailed || !strings.Contains(rec.FailureReason, "out of memory") {
		t.Errorf("record = %+v", rec)
	}
	if !strings.Contains(stderr, "resources.memory") {
		t.Errorf("stderr does not say what to do:\n%s", stderr)
	}
}

// jobrunOutput runs another jobrun command and returns its stdout.
func jobrunOutput(t *testing.T, env []string, args ...string) string {
	cmd := exec.Command(jobrunBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jobrun %v: %v", args, err)
	}
	return string(out)
}
