package runner

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/awsconfig"
	"github.com/jobrun/jobrun/channels"
	"github.com/jobrun/jobrun/contract"
	"github.com/jobrun/jobrun/exitcode"
	"github.com/jobrun/jobrun/spec"
)

// Options configure one run.
type Options struct {
	Spec       *spec.Spec
	JobName    string // the unique job name; generated from Spec.Name when empty
	Engine     Engine
	EngineName string
	Version    string
	Stdout     io.Writer       // the container's stdout goes here (and to the log)
	Stderr     io.Writer       // its stderr
	Diag       io.Writer       // jobrun's own progress messages
	Force      <-chan struct{} // closed on a second Ctrl-C: kill at once
	Labels     map[string]string
	// Overrides are the command line's --set and --env, for the record.
	Overrides artifacts.SpecOverrides
	// AWS configures S3 access for S3 inputs, outputs and checkpoints.
	AWS awsconfig.Options
	// CacheDir holds downloaded S3 inputs (CacheMax bytes at most; 0 is
	// the cache's default).
	CacheDir string
	CacheMax int64
	// LocalRuns is where runs with an S3 output are staged before they are
	// pushed (and kept when a push fails).
	LocalRuns string
	// RecordSpec is the spec job.json records, when it is not Spec: a
	// remote job runs a copy whose local paths point at the host's, and
	// records the spec as its user wrote it (so a pulled run reads, and
	// reruns, as one made here).
	RecordSpec *spec.Spec
}

// Result is how a run ended.
type Result struct {
	JobName       string `json:"job_name"`
	RunDir        string `json:"run_dir"`
	Status        string `json:"status"`
	ExitCode      int    `json:"exit_code"`
	FailureReason string `json:"failure_reason,omitempty"`
}

// run is the state of one run in progress.
type run struct {
	Options
	spec    *spec.Spec
	dir     string // the run directory
	tmp     string // config and checkpoint staging, removed at the end
	rec     *artifacts.Record
	staged  []channels.Staged
	host    Host
	imageID string
	store   artifacts.Store       // the run's place when it is not r.dir
	ckpt    artifacts.Checkpoints // nil without a checkpoint
	syncer  *artifacts.Syncer
	workDir string // staged S3 channels, below the cache
	streams *channels.Streams
}

// Run executes a job from start to end. The returned error maps to the
// exit code (package exitcode); Result is filled in as far as the run got.
func Run(ctx context.Context, o Options) (Result, error) {
	r := &run{Options: o, spec: o.Spec}
	if r.JobName == "" {
		r.JobName = spec.JobName(r.spec.Name, time.Now(), rand.Reader)
	}
	if r.Diag == nil {
		r.Diag = io.Discard
	}
	res := Result{JobName: r.JobName}
	if err := r.prepareDir(ctx); err != nil {
		return res, err
	}
	res.RunDir = r.dir
	defer r.removeTmp()
	defer r.stopStreams()
	err := r.finish(ctx, r.execute(ctx), &res)
	return res, err
}

func (r *run) prepareDir(ctx context.Context) error {
	if err := r.openPlace(ctx); err != nil {
		return err
	}
	if _, err := os.Stat(r.dir); err == nil {
		return exitcode.Usagef("run directory %s already exists; choose another --name", r.dir)
	}
	for _, d := range []string{"model", "output/data", "logs"} {
		if err := os.MkdirAll(filepath.Join(r.dir, d), 0o755); err != nil {
			return fmt.Errorf("creating run directory under %s (is it writable? set output.uri or --output): %w",
				r.spec.Output.URI, err)
		}
	}
	tmp, err := os.MkdirTemp("", "jobrun-"+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return fmt.Errorf("creating temporary directory: %w", err)
	}
	r.tmp = tmp
	r.rec = r.newRecord()
	if err := artifacts.WriteRecord(r.dir, r.rec); err != nil {
		return err
	}
	return r.publishStart(ctx)
}

func (r *run) newRecord() *artifacts.Record {
	recorded := r.spec
	if r.RecordSpec != nil {
		recorded = r.RecordSpec
	}
	specJSON, _ := json.Marshal(recorded)
	return &artifacts.Record{
		JobName: r.JobName, Status: artifacts.StatusInProgress,
		JobrunVersion: r.Version, Engine: r.EngineName, Image: r.imageRef(), CreatedAt: time.Now().UTC(),
		Inputs: []artifacts.InputRecord{}, Spec: specJSON, SpecSource: r.maskedSource(), Overrides: &r.Overrides,
		Outputs: artifacts.OutputRecord{Model: "model/", Output: "output/", Logs: "logs/", Metrics: "metrics.jsonl"},
	}
}

// maskedSource is the spec's text with the webhook URL (a secret: it
// usually carries a token) replaced by its masked form.
func (r *run) maskedSource() string {
	src := r.spec.Source
	if n := r.spec.Notify; n != nil && n.Webhook != "" {
		src = strings.ReplaceAll(src, n.Webhook, n.Masked())
	}
	return src
}

func (r *run) imageRef() string {
	if r.spec.Image != "" {
		return r.spec.Image
	}
	return "jobrun/" + strings.ToLower(r.spec.Name) + ":latest"
}

func (r *run) removeTmp() {
	if err := os.RemoveAll(r.tmp); err != nil {
		fmt.Fprintf(r.Diag, "jobrun: removing %s: %v\n", r.tmp, err)
	}
}

// execute prepares and runs the container; outputs stay in the run dir.
func (r *run) execute(ctx context.Context) error {
	var err error
	if r.host, err = r.Engine.Host(ctx); err != nil {
		return err
	}
	r.rec.Host = r.host.Name
	if r.imageID, err = r.Engine.Image(ctx, r.imageRequest(), r.Diag); err != nil {
		return err
	}
	r.rec.ImageID = r.imageID
	if err := r.stageInputs(ctx); err != nil {
		return err
	}
	c, err := r.container()
	if err != nil {
		return err
	}
	if err := r.restoreCheckpoints(ctx); err != nil {
		return err
	}
	return r.runContainer(ctx, c)
}

func (r *run) imageRequest() ImageRequest {
	req := ImageRequest{Ref: r.imageRef(), Pull: r.spec.Pull}
	if b := r.spec.Build; b != nil {
		req.Build, req.Context, req.Dockerfile, req.BuildArgs = true, b.Context, b.Dockerfile, b.Args
		req.Labels = map[string]string{"jobrun.spec": r.spec.Name}
	}
	return req
}

// container computes the contract and writes the config files.
func (r *run) container() (Container, error) {
	tree, err := computeContract(r.contractJob())
	if err != nil {
		return Container{}, err
	}
	for _, kv := range tree.Env {
		if v, ok := strings.CutPrefix(kv, "TRAINING_JOB_ARN="); ok {
			r.rec.JobARN = v
		}
	}
	if err := tree.WriteConfig(r.tmp); err != nil {
		return Container{}, fmt.Errorf("writing config files: %w", err)
	}
	s := r.spec
	c := Container{
		Name: r.JobName + "-algo-1", Image: r.imageID, Hostname: contract.HostName(0),
		Entrypoint: s.Entrypoint, Cmd: s.Arguments, Env: tree.Env, Labels: r.Labels,
		ShmSize: s.Resources.ShmSize, Memory: s.Resources.Memory, NanoCPUs: int64(s.Resources.CPUs * 1e9),
		GPUs: gpus(s.Resources), Grace: s.Stopping.Grace, Force: r.Force, Mounts: r.mounts(),
	}
	return c, nil
}

func (r *run) contractJob() contract.Job {
	s := r.spec
	j := contract.Job{
		Name: r.JobName, Hyperparameters: s.Hyperparameters, Environment: s.Environment,
		InstanceType: s.Resources.InstanceType, InstanceCount: s.Resources.InstanceCount,
		NumCPUs: r.host.NumCPUs, NumGPUs: numGPUs(gpus(s.Resources), r.host.NumGPUs),
	}
	if s.Checkpoint != nil {
		j.CheckpointPath = s.Checkpoint.LocalPath
	}
	for _, in := range s.Inputs {
		j.Channels = append(j.Channels, sagemakerChannel(in))
	}
	return j
}

func gpus(r spec.Resources) GPUs {
	all, count, devices := r.GPURequest()
	return GPUs{All: all, Count: count, Devices: devices}
}

// numGPUs is how many GPUs the container gets.
func numGPUs(g GPUs, host int) int {
	switch {
	case g.All:
		return host
	case len(g.Devices) > 0:
		return len(g.Devices)
	}
	return g.Count
}

func (r *run) mounts() []Mount {
	m := []Mount{
		{Source: filepath.Join(r.tmp, "input", "config"), Target: "/opt/ml/input/config", ReadOnly: true},
		{Source: filepath.Join(r.dir, "model"), Target: "/opt/ml/model"},
		{Source: filepath.Join(r.dir, "output"), Target: "/opt/ml/output"},
	}
	var chMounts []channels.Mount
	for _, st := range r.staged {
		chMounts = append(chMounts, st.Mounts...)
	}
	if r.streams != nil {
		chMounts = append(chMounts, r.streams.Mounts...)
	}
	for _, cm := range chMounts {
		m = append(m, Mount{Source: cm.Source, Target: cm.Target, ReadOnly: true})
	}
	if r.spec.Checkpoint != nil {
		m = append(m, Mount{Source: r.checkpointDir(), Target: r.spec.Checkpoint.LocalPath})
	}
	return m
}

// sagemakerNames maps the spec's snake_case values to SageMaker's API values.
var sagemakerNames = map[string]string{
	"file": "File", "fastfile": "FastFile", "pipe": "Pipe",
	"fully_replicated": "FullyReplicated", "sharded_by_s3_key": "ShardedByS3Key",
	"none": "None", "recordio": "RecordIO", "gzip": "Gzip",
}

func sagemakerChannel(in spec.Input) contract.Channel {
	return contract.Channel{
		Name: in.Name, ContentType: in.ContentType, Mode: sagemakerNames[in.Mode],
		Distribution: sagemakerNames[in.Distribution], RecordWrapper: sagemakerNames[in.RecordWrapper],
		Compression: sagemakerNames[in.Compression],
	}
}

func computeContract(j contract.Job) (contract.Tree, error) {
	tree, err := contract.Compute(j)
	if err != nil {
		return tree, fmt.Errorf("computing the container contract: %w", err)
	}
	return tree, nil
}
