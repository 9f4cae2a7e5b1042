package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jobrun/jobrun/internal/dockertest"
	"github.com/jobrun/jobrun/internal/s3test"
	"github.com/jobrun/jobrun/internal/sshtest"
	"github.com/jobrun/jobrun/runner/enginetest"
)

// TestRemoteCheck runs `jobrun remote --check` against a private sshd on
// this machine, through an ~/.ssh/config alias, as a user would.
func TestRemoteCheck(t *testing.T) {
	srv := sshtest.Start(t)
	home := srv.Home(t, "gpu-box")
	run := func(args ...string) (int, string) {
		cmd := exec.Command(jobrunBinary(t), args...)
		cmd.Env = append(os.Environ(), "HOME="+home, "SSH_AUTH_SOCK=")
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	code, out := run("remote", "--check", "--host", "gpu-box")
	if code != 0 || !strings.Contains(out, "ok   docker") || !strings.Contains(out, "ok   arch") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	code, out = run("remote", "--check", "--host", "gpu-box", "--docker-socket", "/nonexistent.sock", "--json")
	if code != 125 || !strings.Contains(out, `"name":"docker","ok":false`) {
		t.Errorf("a host without Docker: exit %d:\n%s", code, out)
	}
	// An unknown host key is refused with its fingerprint.
	os.Remove(filepath.Join(home, ".ssh", "known_hosts"))
	code, out = run("remote", "--check", "--host", "gpu-box")
	if code != 125 || !strings.Contains(out, "SHA256:") {
		t.Errorf("unknown host: exit %d:\n%s", code, out)
	}
}

// remoteHost is a private sshd standing for a GPU host, an ssh config
// naming it gpu-box, and the agent's folder on it.
type remoteHost struct {
	t    *testing.T
	srv  *sshtest.Server
	home string // the client's HOME
	root string // --remote-dir
}

func newRemoteHost(t *testing.T, opts ...sshtest.Option) *remoteHost {
	t.Helper()
	srv := sshtest.Start(t, opts...)
	h := &remoteHost{t: t, srv: srv, home: t.TempDir(), root: t.TempDir()}
	srv.WriteHome(t, h.home, "gpu-box")
	// Notice a dead link within 3 s rather than the default 15 s.
	appendLine(t, filepath.Join(h.home, ".ssh", "config"), "  ServerAliveInterval 1\n  ServerAliveCountMax 3\n")
	t.Cleanup(h.assertNoAgents)
	return h
}

func appendLine(t *testing.T, path, text string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// command prepares `jobrun ARGS... --host gpu-box --remote-dir ROOT` run
// in the job's folder.
func (h *remoteHost) command(j *job, env []string, args ...string) (*exec.Cmd, *enginetest.Buffer, *enginetest.Buffer) {
	args = append(args, "--host", "gpu-box", "--remote-dir", h.root)
	cmd := exec.Command(jobrunBinary(h.t), args...)
	cmd.Dir = j.dir
	cmd.Env = append(append(os.Environ(), "HOME="+h.home, "SSH_AUTH_SOCK=", "JOBRUN_CACHE_DIR="+filepath.Join(h.home, "cache")), env...)
	stdout, stderr := &enginetest.Buffer{}, &enginetest.Buffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd, stdout, stderr
}

// run runs a jobrun command to its end.
func (h *remoteHost) run(j *job, env []string, args ...string) (int, string, string) {
	cmd, stdout, stderr := h.command(j, env, args...)
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		h.t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// agents lists the agent processes running jobs below the host's root.
func (h *remoteHost) agents() []int {
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(data), "agent\x00run\x00"+h.root+"/") {
			pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
			pids = append(pids, pid)
		}
	}
	return pids
}

// assertNoAgents fails the test if an agent outlived it, and kills it.
func (h *remoteHost) assertNoAgents() {
	for _, pid := range h.agents() {
		h.t.Errorf("agent process %d still running after the test", pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// waitForAgents waits until the host's agents have all ended.
func (h *remoteHost) waitForAgents(d time.Duration) {
	deadline := time.Now().Add(d)
	for len(h.agents()) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
}

// epochLines checks that the trainer's epoch lines 1..n appear exactly
// once each, in order: the streamed log has no gap and no repeat.
func epochLines(t *testing.T, out string, n int) {
	t.Helper()
	got := regexp.MustCompile(`(?m)^epoch=(\d+) `).FindAllStringSubmatch(out, -1)
	var nums []string
	for _, m := range got {
		nums = append(nums, m[1])
	}
	var want []string
	for i := 1; i <= n; i++ {
		want = append(want, strconv.Itoa(i))
	}
	if strings.Join(nums, ",") != strings.Join(want, ",") {
		t.Errorf("epoch lines %v, want 1..%d once each, in order:\n%s", nums, n, out)
	}
}

// TestRemoteRunS3 runs a job with S3 inputs and outputs on the host, the
// client's credentials forwarded, and lists it there.
func TestRemoteRunS3(t *testing.T) {
	h := newRemoteHost(t)
	s3 := s3test.Start(t)
	s3.Bucket(t, "data")
	s3.Put(t, "data", "iris/train/a.csv", []byte("1,2,1\n-1,-2,0\n"))
	s3.Put(t, "data", "iris/train/b.csv", []byte("2,1,1\n-2,-1,0\n"))
	j := newJob(t, "")
	j.write("train.yaml", "name: e2e\nimage: "+trainerTag+"\nhyperparameters: {epochs: 2}\n"+
		"inputs:\n  train: {uri: s3://data/iris/train/, mode: file}\noutput: s3://data/runs\n")
	code, stdout, stderr := h.run(j, s3.Env(), "remote", "train.yaml", "--name", j.name, "--forward-credentials")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "4 rows") || !strings.Contains(stdout, "epoch=2") {
		t.Errorf("the job's log was not streamed:\n%s", stdout)
	}
	if !strings.Contains(stdout, "s3://data/runs/"+j.name) {
		t.Errorf("the result does not name the run's place:\n%s", stdout)
	}
	keys := strings.Join(s3.List(t, "data", "runs/"), "\n")
	if !strings.Contains(keys, "runs/"+j.name+"/job.json") || !strings.Contains(keys, "runs/"+j.name+"/model/model.json") {
		t.Errorf("the run was not uploaded from the host; keys:\n%s", keys)
	}
	code, stdout, stderr = h.run(j, nil, "ls", "--json")
	if code != 0 || !strings.Contains(stdout, `"job_name":"`+j.name+`"`) || !strings.Contains(stdout, `"status":"Completed"`) {
		t.Errorf("ls --host: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// The request on the host holds no credentials.
	req, err := os.ReadFile(filepath.Join(h.root, "jobs", j.name, "request.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range s3.Env() {
		if k, v, _ := strings.Cut(kv, "="); strings.Contains(k, "SECRET") && strings.Contains(string(req), v) {
			t.Errorf("request.json holds %s", k)
		}
	}
}

// TestRemoteShipsImageAndUploadsOnce runs a job with a local input and a
// local output twice on a host whose Docker Engine (a second daemon) lacks
// the image: the image is shipped and the input uploaded the first time
// only, and the run comes back to ./runs as with jobrun local.
func TestRemoteShipsImageAndUploadsOnce(t *testing.T) {
	h := newRemoteHost(t)
	engine := dockertest.Start(t)
	j := newJob(t, "hyperparameters: {epochs: 2}\n")
	code, stdout, stderr := h.run(j, nil, "remote", "train.yaml", "--name", j.name, "--docker-socket", engine.Socket)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "shipped image "+trainerTag) {
		t.Errorf("the image was not shipped:\n%s", stderr)
	}
	if rec := j.record(); rec.Status != "Completed" {
		t.Errorf("the run pulled back: %+v", rec)
	}
	if !strings.Contains(j.read("logs/algo-1.log"), "epoch=2") {
		t.Error("the pulled run's log lacks the job's output")
	}
	first := stderr
	j.name += "-2"
	code, stdout, stderr = h.run(j, nil, "remote", "train.yaml", "--name", j.name, "--docker-socket", engine.Socket)
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if strings.Contains(stderr, "shipped image") || !strings.Contains(stderr, "0 B new") {
		t.Errorf("the image or the unchanged input was sent again?\nfirst:\n%s\nsecond:\n%s", first, stderr)
	}
	code, stdout, _ = h.run(j, nil, "logs", j.name)
	if code != 0 || !strings.Contains(stdout, "epoch=2") {
		t.Errorf("logs --host: exit %d\n%s", code, stdout)
	}
	// gc --host removes the ended jobs' directories and another version's
	// agent, keeps the runs and its own agent.
	bins, _ := filepath.Glob(filepath.Join(h.root, "bin", "jobrun-*"))
	oldAgent := filepath.Join(h.root, "bin", "jobrun-0123456789abcdef")
	if err := os.WriteFile(oldAgent, []byte("an older jobrun"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = h.run(j, nil, "gc", "--older-than", "0s", "--docker-socket", engine.Socket)
	if code != 0 || strings.Count(stdout, "removed jobdir") != 2 || strings.Count(stdout, "removed agent") != 1 {
		t.Errorf("gc --host: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if now, _ := filepath.Glob(filepath.Join(h.root, "bin", "jobrun-*")); len(bins) != 1 || !slices.Equal(now, bins) {
		t.Errorf("agents before gc %v, after %v; want the installed one kept, the other removed", bins, now)
	}
	if jobs, _ := os.ReadDir(filepath.Join(h.root, "jobs")); len(jobs) != 0 {
		t.Errorf("job directories left: %v", jobs)
	}
	if runs, _ := os.ReadDir(filepath.Join(h.root, "runs")); len(runs) != 2 {
		t.Errorf("gc touched the runs: %v", runs)
	}
}

// TestRemoteSurvivesLinkCut cuts the network between client and host for
// 10 s mid-run: the job goes on, the client reconnects and its log has no
// gap.
func TestRemoteSurvivesLinkCut(t *testing.T) {
	h := newRemoteHost(t, sshtest.InNetns())
	j := newJob(t, "hyperparameters: {epochs: 24, sleep: 0.5}\n")
	cmd, stdout, stderr := h.command(j, nil, "remote", "train.yaml", "--name", j.name)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, stdout, "epoch=2 ")
	if err := h.srv.CutLink(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Second)
	if err := h.srv.RestoreLink(); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
	}
	epochLines(t, stdout.String(), 24)
	if !strings.Contains(stderr.String(), "reconnected") {
		t.Errorf("the client did not notice the cut:\n%s", stderr)
	}
	if rec := j.record(); rec.Status != "Completed" {
		t.Errorf("record: %+v", rec)
	}
}

// TestRemoteClientKilled kills the client mid-run: the job completes on
// the host, and jobrun logs -f re-attaches and exits with its status.
func TestRemoteClientKilled(t *testing.T) {
	h := newRemoteHost(t)
	j := newJob(t, "hyperparameters: {epochs: 6, sleep: 0.5}\n")
	cmd, stdout, _ := h.command(j, nil, "remote", "train.yaml", "--name", j.name)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, stdout, "epoch=1 ")
	cmd.Process.Kill()
	cmd.Wait()
	code, out, errOut := h.run(j, nil, "logs", "-f", j.name)
	if code != 0 {
		t.Fatalf("logs -f: exit %d\n%s\n%s", code, out, errOut)
	}
	epochLines(t, out, 6)
	code, out, errOut = h.run(j, nil, "pull", j.name)
	if code != 0 {
		t.Fatalf("pull: exit %d\n%s\n%s", code, out, errOut)
	}
	if rec := j.record(); rec.Status != "Completed" {
		t.Errorf("record: %+v", rec)
	}
	h.waitForAgents(10 * time.Second)
}

// TestRemoteStop stops a job on the host: the container gets SIGTERM,
// the trainer checkpoints, and the checkpoint reaches S3.
func TestRemoteStop(t *testing.T) {
	h := newRemoteHost(t)
	s3 := s3test.Start(t)
	s3.Bucket(t, "ckpt")
	j := newJob(t, "hyperparameters: {epochs: 200, sleep: 0.5}\ncheckpoint: s3://ckpt/e2e\n")
	code, stdout, stderr := h.run(j, s3.Env(), "remote", "train.yaml", "--name", j.name, "--detach", "--forward-credentials")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	logs, out, _ := h.command(j, nil, "logs", "-f", j.name)
	if err := logs.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "epoch=2 ")
	// The name of a running job is taken (and its inputs left alone).
	if code, _, stderr = h.run(j, s3.Env(), "remote", "train.yaml", "--name", j.name); code != 2 || !strings.Contains(stderr, "already exists") {
		t.Errorf("a job name taken on the host: exit %d\n%s", code, stderr)
	}
	// A second request is no harm (unlike a second Ctrl-C, which kills).
	for i := 0; i < 2; i++ {
		if code, stdout, stderr = h.run(j, nil, "stop", j.name, "--no-wait"); code != 0 {
			t.Fatalf("stop --no-wait: exit %d\n%s\n%s", code, stdout, stderr)
		}
	}
	code, stdout, stderr = h.run(j, nil, "stop", j.name, "--json")
	if code != 0 || !strings.Contains(stdout, `"status":"Stopped"`) {
		t.Errorf("stop: exit %d\n%s\n%s", code, stdout, stderr)
	}
	logs.Wait()
	if got := logs.ProcessState.ExitCode(); got != 130 {
		t.Errorf("logs -f of a stopped job exited %d, want 130\n%s", got, out)
	}
	if !strings.Contains(out.String(), "SIGTERM") {
		t.Errorf("the trainer did not get SIGTERM:\n%s", out)
	}
	var ck struct{ Epoch int }
	if err := json.Unmarshal(s3.Get(t, "ckpt", "e2e/checkpoint.json"), &ck); err != nil || ck.Epoch < 2 {
		t.Errorf("final checkpoint in S3: %+v, %v", ck, err)
	}
	h.waitForAgents(10 * time.Second)
}

// TestRemoteInterruptStops: Ctrl-C without a terminal stops the job
// (--on-interrupt's default) and the client exits 130.
func TestRemoteInterruptStops(t *testing.T) {
	h := newRemoteHost(t)
	j := newJob(t, "hyperparameters: {epochs: 200, sleep: 0.5}\n")
	cmd, stdout, stderr := h.command(j, nil, "remote", "train.yaml", "--name", j.name)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, stdout, "epoch=1 ")
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit %d, want 130\n%s\n%s", code, stdout, stderr)
	}
	if rec := j.record(); rec.Status != "Stopped" {
		t.Errorf("record: %+v", rec)
	}
	h.waitForAgents(10 * time.Second)
}

// TestRemoteRefusals: a changed host key and a host without Docker are
// refused before anything is started there.
func TestRemoteRefusals(t *testing.T) {
	h := newRemoteHost(t)
	j := newJob(t, "")
	code, _, stderr := h.run(j, nil, "remote", "train.yaml", "--name", j.name, "--docker-socket", "/nonexistent.sock")
	if code != 125 || !strings.Contains(stderr, "Docker") {
		t.Errorf("no Docker: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(h.root, "jobs", j.name, "request.json")); err == nil {
		t.Error("a job was started on a host without Docker")
	}
	j.write("gpu.yaml", "name: e2e\nimage: "+trainerTag+"\nresources: {gpus: all}\n")
	code, _, stderr = h.run(j, nil, "remote", "gpu.yaml", "--name", j.name+"-gpu")
	if code != 125 || !strings.Contains(stderr, "GPU") {
		t.Errorf("GPUs on a host without: exit %d\n%s", code, stderr)
	}
	// Another key for the same host: always refused.
	other := newRemoteHost(t)
	kh := filepath.Join(h.home, ".ssh", "known_hosts")
	line := strings.Replace(other.srv.KnownHostsLine(), other.srv.KnownHostsName(), h.srv.KnownHostsName(), 1)
	if err := os.WriteFile(kh, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = h.run(j, nil, "remote", "train.yaml", "--name", j.name+"-2", "--accept-new-host-key")
	if code != 125 || !strings.Contains(strings.ToLower(stderr), "changed") {
		t.Errorf("changed host key: exit %d\n%s", code, stderr)
	}
	_ = fmt.Sprint
}

// TestRemoteBuildAndContract builds the image on the host from an uploaded
// build context and checks that the container there sees exactly the
// contract jobrun render describes, as TestContractInContainer does for
// jobrun local.
func TestRemoteBuildAndContract(t *testing.T) {
	h := newRemoteHost(t)
	j := newJob(t, "hyperparameters: {epochs: 1, dump_env: true, lr: 0.05}\n"+
		"environment: {MY_VAR: hello}\ncheckpoint: {uri: ./ckpt}\nbuild: {context: ./image}\n")
	j.write("image/Dockerfile", "FROM "+trainerTag+"\nCOPY train.py /opt/ml/code/train.py\n")
	j.write("image/train.py", "print('script mode')\n")
	j.write("train.yaml", strings.Replace(j.read0("train.yaml"), "image: "+trainerTag, "image: jobrun-test-remote-build:1", 1))
	t.Cleanup(func() { removeImage(t, "jobrun-test-remote-build:1") })
	code, stdout, stderr := h.run(j, nil, "remote", "train.yaml", "--name", j.name)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "uploading build context") {
		t.Errorf("the build context was not uploaded:\n%s", stderr)
	}
	var seen struct {
		Env  map[string]string     `json:"env"`
		Code struct{ Exists bool } `json:"code"`
	}
	if err := json.Unmarshal([]byte(j.read("output/data/env.json")), &seen); err != nil {
		t.Fatal(err)
	}
	if !seen.Code.Exists {
		t.Error("the image built on the host lacks /opt/ml/code")
	}
	for k, want := range renderEnv(t, j) {
		if got, ok := seen.Env[k]; !ok || got != want {
			t.Errorf("%s: container on the host saw %q, render says %q", k, got, want)
		}
	}
	if seen.Env["MY_VAR"] != "hello" {
		t.Errorf("env = %v", seen.Env)
	}
	ckpts, _ := filepath.Glob(filepath.Join(h.root, "checkpoints", "ckpt-*", "checkpoint.json"))
	if len(ckpts) != 1 {
		t.Errorf("the local checkpoint folder was not mapped to the host: %v", ckpts)
	}
}

// TestRemoteInterruptDetaches: with --on-interrupt detach, Ctrl-C leaves
// the job running on the host, and so does a closed terminal (SIGHUP)
// whatever --on-interrupt says.
func TestRemoteInterruptDetaches(t *testing.T) {
	h := newRemoteHost(t)
	for _, tt := range []struct {
		name string
		sig  os.Signal
		args []string
	}{
		{"ctrl-c", os.Interrupt, []string{"--on-interrupt", "detach"}},
		{"hangup", syscall.SIGHUP, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			j := newJob(t, "hyperparameters: {epochs: 200, sleep: 0.5}\n")
			cmd, stdout, stderr := h.command(j, nil, append([]string{"remote", "train.yaml", "--name", j.name}, tt.args...)...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, stdout, "epoch=1 ")
			cmd.Process.Signal(tt.sig)
			cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != 0 || !strings.Contains(stderr.String(), "goes on on gpu-box") {
				t.Errorf("exit %d, want 0 and the job left running\n%s", code, stderr)
			}
			code, out, errOut := h.run(j, nil, "ls", "--json")
			if !strings.Contains(out, `"job_name":"`+j.name+`","run_dir":"","status":"InProgress"`) {
				t.Errorf("ls --host: exit %d\n%s\n%s", code, out, errOut)
			}
			if code, out, errOut = h.run(j, nil, "stop", j.name); code != 0 {
				t.Errorf("stop: exit %d\n%s\n%s", code, out, errOut)
			}
		})
	}
	h.waitForAgents(10 * time.Second)
}

// TestRemoteKillAndPulledRecord: stop --force kills the container at once,
// and the pulled run records the spec as written on this machine (its
// paths, not the host's), so it reads as a run made here.
func TestRemoteKillAndPulledRecord(t *testing.T) {
	h := newRemoteHost(t)
	j := newJob(t, "hyperparameters: {epochs: 200, sleep: 0.5, ignore_sigterm: true}\nstopping: {grace: 60s}\n")
	code, stdout, stderr := h.run(j, nil, "remote", "train.yaml", "--name", j.name, "--detach")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	logs, out, _ := h.command(j, nil, "logs", "-f", j.name)
	if err := logs.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "epoch=1 ")
	start := time.Now()
	if code, stdout, stderr = h.run(j, nil, "stop", "--force", j.name); code != 0 {
		t.Errorf("stop --force: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("stop --force took %s: the container waited for its grace period", d)
	}
	logs.Wait()
	if code, stdout, stderr = h.run(j, nil, "pull", j.name); code != 0 {
		t.Fatalf("pull: exit %d\n%s\n%s", code, stdout, stderr)
	}
	rec := j.record()
	var sp struct {
		File   string
		Output struct{ URI string }
		Inputs []struct{ URI string }
	}
	if err := json.Unmarshal(rec.Spec, &sp); err != nil {
		t.Fatal(err)
	}
	if sp.File != filepath.Join(j.dir, "train.yaml") || sp.Output.URI != filepath.Join(j.dir, "runs") ||
		len(sp.Inputs) != 1 || sp.Inputs[0].URI != filepath.Join(j.dir, "data", "train") {
		t.Errorf("recorded spec: %+v", sp)
	}
	h.waitForAgents(10 * time.Second)
}
