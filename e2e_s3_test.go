package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/internal/s3test"
	"github.com/jobrun/jobrun/runner/docker"
)

// TestLocalS3OutputsAndCheckpoints runs a job whose outputs and
// checkpoints live on a real S3 server, twice, the second resuming.
func TestLocalS3OutputsAndCheckpoints(t *testing.T) {
	srv := s3test.Start(t)
	srv.Bucket(t, "jobs")
	j := newJob(t, "hyperparameters: {epochs: 2}\noutput: s3://jobs/runs\ncheckpoint: s3://jobs/ckpt/e2e\n")
	cache := t.TempDir()
	env := append(srv.Env(), "JOBRUN_CACHE_DIR="+cache)
	code, stdout, stderr := j.runEnv(env)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	keys := strings.Join(srv.List(t, "jobs", ""), "\n")
	for _, want := range []string{
		"runs/" + j.name + "/job.json", "runs/" + j.name + "/model/model.json",
		"runs/" + j.name + "/logs/algo-1.log", "runs/" + j.name + "/output/data/metrics.json",
		"ckpt/e2e/checkpoint.json",
	} {
		if !strings.Contains(keys, want) {
			t.Errorf("%s not uploaded; keys:\n%s", want, keys)
		}
	}
	var rec artifacts.Record
	if err := json.Unmarshal(srv.Get(t, "jobs", "runs/"+j.name+"/job.json"), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Status != artifacts.StatusCompleted || rec.Upload == nil || rec.Upload.CompletedAt == nil {
		t.Errorf("record = %+v", rec)
	}
	if !strings.Contains(stdout, "s3://jobs/runs/"+j.name) {
		t.Errorf("the result does not name the run's place:\n%s", stdout)
	}
	if left, _ := os.ReadDir(filepath.Join(cache, "runs")); len(left) != 0 {
		t.Errorf("the local staging copy of a pushed run was kept: %v", left)
	}
	j.name += "-2"
	code, stdout, stderr = j.runEnv(env, "--set", "hyperparameters.epochs=3")
	if code != 0 || !strings.Contains(stdout, "resumed from epoch 2") {
		t.Fatalf("second run did not resume from the S3 checkpoint: exit %d\n%s\n%s", code, stdout, stderr)
	}
	out := jobrunOutput(t, env, "ls", "--output", "s3://jobs/runs")
	if !strings.Contains(out, j.name) || !strings.Contains(out, "Completed") {
		t.Errorf("ls --output s3:// = %s", out)
	}
}

// TestNotifyWebhook: the spec's webhook gets the run's end as JSON.
func TestNotifyWebhook(t *testing.T) {
	got := make(chan map[string]any, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev map[string]any
		json.Unmarshal(body, &ev)
		got <- ev
	}))
	defer hook.Close()
	j := newJob(t, "hyperparameters: {fail: true, exit_code: 4}\nnotify: {webhook: \""+hook.URL+"/hook\", on: [failed]}\n")
	if code, _, stderr := j.run(); code != 4 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	select {
	case ev := <-got:
		if ev["status"] != "Failed" || ev["job_name"] != j.name || !strings.Contains(ev["text"].(string), j.name) {
			t.Errorf("event = %v", ev)
		}
	default:
		t.Fatal("the webhook got nothing")
	}
	if strings.Contains(j.read("job.json"), "/hook") {
		t.Error("the webhook URL is not masked in job.json")
	}
}

// TestLocalS3Inputs trains from a real S3 server in each input mode; the
// second File-mode run stages from the cache.
func TestLocalS3Inputs(t *testing.T) {
	srv := s3test.Start(t)
	srv.Bucket(t, "data")
	srv.Put(t, "data", "iris/train/a.csv", []byte("1,2,1\n-1,-2,0\n"))
	srv.Put(t, "data", "iris/train/more/b.csv", []byte("2,1,1\n-2,-1,0\n"))
	srv.Put(t, "data", "iris/train2/decoy.csv", []byte("9,9,1\n"))
	env := append(srv.Env(), "JOBRUN_CACHE_DIR="+t.TempDir())
	for _, mode := range []string{"file", "pipe", "fastfile"} {
		t.Run(mode, func(t *testing.T) {
			j := newJob(t, "hyperparameters: {epochs: 2}\n")
			j.write("train.yaml", "name: e2e\nimage: "+trainerTag+"\nhyperparameters: {epochs: 2}\n"+
				"inputs:\n  train: {uri: s3://data/iris/train/, mode: "+mode+"}\n")
			code, stdout, stderr := j.runEnv(env)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
			}
			if !strings.Contains(stderr, "4 rows") {
				t.Errorf("the trainer did not read the channel's 4 rows (and only those):\n%s", stderr)
			}
			rec := j.record()
			if len(rec.Inputs) != 1 || rec.Inputs[0].Files != 2 || len(rec.Inputs[0].Objects) != 2 || rec.Inputs[0].Objects[0].ETag == "" {
				t.Errorf("inputs = %+v", rec.Inputs)
			}
		})
	}
}

// TestRerunPinsS3Inputs: a rerun reads the same S3 objects, and refuses
// when one changed unless told otherwise.
func TestRerunPinsS3Inputs(t *testing.T) {
	srv := s3test.Start(t)
	srv.Bucket(t, "data")
	srv.Put(t, "data", "d/a.csv", []byte("1,2,1\n-1,-2,0\n"))
	env := append(srv.Env(), "JOBRUN_CACHE_DIR="+t.TempDir())
	j := newJob(t, "")
	j.write("train.yaml", "name: e2e\nimage: "+trainerTag+"\nhyperparameters: {epochs: 1}\ninputs:\n  train: s3://data/d/\n")
	if code, _, stderr := j.runEnv(env); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	rerun := func(name string, extra ...string) (int, string) {
		cmd := exec.Command(jobrunBinary(t), append([]string{"rerun", j.name, "--name", name}, extra...)...)
		cmd.Dir, cmd.Env = j.dir, append(os.Environ(), env...)
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	if code, out := rerun(j.name + "-same"); code != 0 {
		t.Fatalf("rerun with unchanged inputs: exit %d\n%s", code, out)
	}
	srv.Put(t, "data", "d/a.csv", []byte("1,2,1\n-1,-2,0\n2,2,1\n"))
	if code, out := rerun(j.name + "-changed"); code != 2 || !strings.Contains(out, "s3://data/d/a.csv has changed") {
		t.Fatalf("rerun with a changed object: exit %d\n%s", code, out)
	}
	if code, out := rerun(j.name+"-allowed", "--allow-changed-inputs"); code != 0 {
		t.Fatalf("rerun --allow-changed-inputs: exit %d\n%s", code, out)
	}
}

// TestLocalS3InterruptUploads: checkpoints reach S3 while the job runs,
// and a run stopped by Ctrl-C still uploads its outputs and last checkpoint.
// The trainer checkpoints every 1.5 s: the sync uploads a file once it has
// been left alone for a second, so it is never sent half-written.
func TestLocalS3InterruptUploads(t *testing.T) {
	srv := s3test.Start(t)
	srv.Bucket(t, "jobs")
	j := newJob(t, "hyperparameters: {epochs: 100000, sleep: 1.5}\noutput: s3://jobs/runs\ncheckpoint: s3://jobs/ckpt\n")
	cmd, stdout, stderr := j.command()
	cmd.Env = append(os.Environ(), append(srv.Env(), "JOBRUN_CACHE_DIR="+t.TempDir())...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, stdout, "epoch=")
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(strings.Join(srv.List(t, "jobs", "ckpt/"), " "), "ckpt/checkpoint.json") {
		if time.Now().After(deadline) {
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
			t.Fatal("no checkpoint reached S3 while the job ran")
		}
		time.Sleep(200 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d, want 130\n%s", code, stderr)
	}
	var rec artifacts.Record
	if err := json.Unmarshal(srv.Get(t, "jobs", "runs/"+j.name+"/job.json"), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Status != artifacts.StatusStopped || rec.Upload == nil || rec.Upload.CompletedAt == nil {
		t.Errorf("record = %+v", rec)
	}
	if log := string(srv.Get(t, "jobs", "runs/"+j.name+"/logs/algo-1.log")); !strings.Contains(log, "SIGTERM received, checkpoint saved") {
		t.Errorf("uploaded log lacks the final checkpoint message:\n%s", log)
	}
	var ck struct{ Epoch int }
	json.Unmarshal(srv.Get(t, "jobs", "ckpt/checkpoint.json"), &ck)
	if ck.Epoch < 1 {
		t.Errorf("final checkpoint = %+v", ck)
	}
}

// TestPushResumesAfterServerLoss: the S3 server dies while the job runs;
// the run fails with 125 and keeps its local copy, and `jobrun push`
// completes the upload once the server is back.
func TestPushResumesAfterServerLoss(t *testing.T) {
	srv := s3test.Start(t)
	srv.Bucket(t, "jobs")
	cache := t.TempDir()
	env := append(srv.Env(), "JOBRUN_CACHE_DIR="+cache)
	j := newJob(t, "hyperparameters: {epochs: 3, sleep: 0.5}\noutput: s3://jobs/runs\n")
	cmd, stdout, stderr := j.command()
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, stdout, "epoch=1")
	srv.Kill()
	cmd.Wait()
	local := filepath.Join(cache, "runs", j.name)
	if code := cmd.ProcessState.ExitCode(); code != 125 || !strings.Contains(stderr.String(), "jobrun push "+local) {
		t.Fatalf("exit %d, want 125 and a hint to push; stderr:\n%s", code, stderr)
	}
	srv.Restart(t)
	out := jobrunOutput(t, env, "push", local)
	if !strings.Contains(out, "pushed "+j.name) {
		t.Fatalf("push: %s", out)
	}
	var rec artifacts.Record
	if err := json.Unmarshal(srv.Get(t, "jobs", "runs/"+j.name+"/job.json"), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Status != artifacts.StatusCompleted || rec.Upload == nil || rec.Upload.CompletedAt == nil {
		t.Errorf("record = %+v", rec)
	}
	model := srv.Get(t, "jobs", "runs/"+j.name+"/model/model.json")
	if want, _ := os.ReadFile(filepath.Join(local, "model", "model.json")); string(model) != string(want) {
		t.Errorf("model differs after push")
	}
}

// TestLocalS3InputErrors: an S3 input the credentials may not read, or
// whose bucket is in another region than the one jobrun signs for, fails
// the run with exit 125 before any container starts, naming the channel,
// the URI and what to check.
func TestLocalS3InputErrors(t *testing.T) {
	srv := s3test.Start(t, s3test.WithRegion("eu-west-1"))
	srv.Bucket(t, "data")
	srv.Put(t, "data", "d/a.csv", []byte("1,2,1\n-1,-2,0\n"))
	srv.Put(t, "data", "m/train.manifest", []byte(`[{"prefix": "s3://data/d/"}, "a.csv"]`))
	userAccess, userSecret := srv.NewUser(t)
	env := append(srv.Env(), "JOBRUN_CACHE_DIR="+t.TempDir())
	denied := append(slices.Clip(env), "AWS_ACCESS_KEY_ID="+userAccess, "AWS_SECRET_ACCESS_KEY="+userSecret)
	otherRegion := append(slices.Clip(env), "AWS_REGION=us-east-1")
	const prefix, manifest = "s3://data/d/", "{uri: s3://data/m/train.manifest, type: manifest}"
	tests := []struct {
		name, input string
		env         []string
		want        []string
	}{
		{"denied", prefix, denied, []string{`staging channel "train": s3://data/d/: access denied; check which identity the credentials in use are (AWS_PROFILE / --profile, AWS_ACCESS_KEY_ID) and that its IAM policy and the bucket policy of "data" allow s3:ListBucket on the bucket and s3:GetObject on its objects`}},
		{"denied-manifest", manifest, denied, []string{`staging channel "train": s3://data/m/train.manifest: access denied; check which identity`}},
		{"region", prefix, otherRegion, []string{`staging channel "train": s3://data/d/: bucket "data" is in region eu-west-1, but requests were signed for us-east-1; set AWS_REGION=eu-west-1 (or the region of the profile in use, --profile / AWS_PROFILE)`}},
		{"region-manifest", manifest, otherRegion, []string{`staging channel "train": s3://data/m/train.manifest: S3 answered 400 Bad Request without a reason`,
			"a request signed for us-east-1, not the bucket's region: check AWS_REGION"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := newJob(t, "")
			j.write("train.yaml", "name: e2e\nimage: "+trainerTag+"\ninputs:\n  train: "+tt.input+"\n")
			start := time.Now()
			code, stdout, stderr := j.runEnv(tt.env)
			if code != 125 {
				t.Fatalf("exit %d, want 125\n%s\n%s", code, stdout, stderr)
			}
			t.Logf("stderr:\n%s", stderr)
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not contain %q", w)
				}
			}
			if n := containersCreated(t, j.name, start); n != 0 {
				t.Errorf("%d container(s) created for job %s", n, j.name)
			}
		})
	}
}

// containersCreated counts the Docker Engine's create events since start
// for containers of job.
func containersCreated(t *testing.T, job string, since time.Time) int {
	t.Helper()
	eng, err := docker.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res := eng.Client().Events(ctx, client.EventsListOptions{
		Since:   strconv.FormatInt(since.Add(-time.Second).Unix(), 10),
		Until:   strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10),
		Filters: client.Filters{}.Add("type", "container").Add("event", "create").Add("label", docker.LabelJob+"="+job),
	})
	n := 0
	for {
		select {
		case <-res.Messages:
			n++
		case err := <-res.Err:
			if err != nil && !errors.Is(err, io.EOF) {
				t.Fatalf("docker events: %v", err)
			}
			return n
		}
	}
}
