package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/moby/moby/client"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/awsconfig"
	"github.com/jobrun/jobrun/exitcode"
	"github.com/jobrun/jobrun/runner"
	"github.com/jobrun/jobrun/runner/remote/agent"
	"github.com/jobrun/jobrun/runner/remote/imageship"
	"github.com/jobrun/jobrun/runner/remote/sshconn"
	"github.com/jobrun/jobrun/runner/remote/upload"
	"github.com/jobrun/jobrun/spec"
)

// Submission is what to run on the host.
type Submission struct {
	Spec      *spec.Spec
	JobName   string
	Overrides artifacts.SpecOverrides
	// AWS are the client's S3 settings, passed on to the agent.
	AWS awsconfig.Options
	// ForwardCredentials sends the client's resolved AWS credentials to
	// the agent (through the SSH channel, never a file or command line);
	// otherwise the agent uses the host's own.
	ForwardCredentials bool
	DockerSocket       string
	// LocalDocker connects to this machine's Docker Engine, the source of
	// images the host lacks; nil or failing: images are not shipped.
	LocalDocker func(ctx context.Context) (*client.Client, error)
	// HashCache is the local folder remembering the content hashes of
	// uploaded files.
	HashCache string
	Version   string
	// Log gets progress lines; Progress, if set, makes a byte progress
	// callback for a named transfer (nil: no progress bar).
	Log      io.Writer
	Progress func(what string) func(done, total int64)
}

// Job is a job submitted to a host.
type Job struct {
	Name string
	Dir  string // its job directory on the host
	// LocalOutput is the local folder the client would have written the
	// run to ("" when the output is on S3): `jobrun pull` copies it there.
	LocalOutput string
}

// envForwarded are the client's settings that shape S3 access; none is a
// secret. Credentials go only through ForwardCredentials.
var envForwarded = []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
	awsconfig.PathStyleEnv, "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_USE_FIPS_ENDPOINT"}

// Submit prepares the job on the host and starts its agent: the image is
// shipped if the host lacks it, local inputs and the build context are
// uploaded (only content the host does not have yet), local output and
// checkpoint folders are mapped to folders on the host. Nothing is
// started when any of that fails.
func (h *Host) Submit(ctx context.Context, s Submission) (_ *Job, err error) {
	if h.agent == "" {
		return nil, errors.New("internal error: Submit before InstallAgent")
	}
	sp := *s.Spec // the caller's spec stays as it was
	job := &Job{Name: s.JobName, Dir: h.JobDir(s.JobName)}
	var st agent.Status
	if err := h.agentJSON(ctx, &st, "prepare", job.Dir); err != nil {
		return nil, err
	}
	if st.Exists {
		return nil, exitcode.Usagef("job %s already exists on %s; choose another --name", s.JobName, h.Target)
	}
	started := false
	defer func() {
		if err != nil && !started {
			h.removeJobDir(job.Dir)
		}
	}()
	if err := h.prepareImage(ctx, &sp, s); err != nil {
		return nil, err
	}
	if err := h.uploadLocal(ctx, &sp, job, s); err != nil {
		return nil, err
	}
	if !artifacts.IsS3(sp.Output.URI) {
		job.LocalOutput = sp.Output.URI
		sp.Output.URI = path.Join(h.Root, agent.RunsDir)
	}
	if sp.Checkpoint != nil && !artifacts.IsS3(sp.Checkpoint.URI) {
		ck := *sp.Checkpoint
		ck.URI = path.Join(h.Root, "checkpoints", localKey(ck.URI))
		sp.Checkpoint = &ck
		fmt.Fprintf(s.Log, "jobrun: checkpoints go to %s:%s (a local checkpoint folder stays on the host)\n", h.Target, ck.URI)
	}
	host, _ := os.Hostname()
	req := &agent.Request{
		JobName: s.JobName, Spec: &sp, ClientSpec: s.Spec, SpecSource: s.Spec.Source, Overrides: s.Overrides,
		AWS: s.AWS, Env: map[string]string{}, ForwardCredentials: s.ForwardCredentials,
		DockerSocket: s.DockerSocket, CacheDir: h.Root, Client: host, Version: s.Version,
		SubmittedAt: time.Now().UTC(),
	}
	for _, k := range envForwarded {
		if v, ok := os.LookupEnv(k); ok {
			req.Env[k] = v
		}
	}
	env := agent.Envelope{Request: req}
	if s.ForwardCredentials {
		if env.Credentials, err = forwardCredentials(ctx, req, s.Log); err != nil {
			return nil, err
		}
	}
	data, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	// From here on the job may start on the host whatever happens here: a
	// Ctrl-C must not leave it running unknown to the user, so the start
	// is not cancelled, and a connection lost meanwhile is cleared up by
	// asking the host.
	fmt.Fprintf(s.Log, "jobrun: starting %s on %s\n", s.JobName, h.Target)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	started = true
	err = h.agentRun(sctx, bytes.NewReader(data), io.Discard, "start", job.Dir)
	if errors.Is(err, sshconn.ErrConnectionLost) {
		if st, serr := h.status(sctx, job.Dir); serr == nil && st.Exists {
			err = nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("starting the job on %s: %w", h.Target, err)
	}
	return job, nil
}

func (h *Host) status(ctx context.Context, dir string) (agent.Status, error) {
	var st agent.Status
	err := h.agentJSON(ctx, &st, "status", dir)
	return st, err
}

// removeJobDir removes a job directory whose job was never started: its
// uploaded inputs are hard links, the blobs stay in the upload store.
func (h *Host) removeJobDir(dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h.Sess.Run(ctx, "rm -rf -- "+sshconn.Quote(dir), nil, io.Discard, io.Discard)
}

// localKey names a local folder on the host: its base name and a hash of
// its full path, so two folders with one name do not meet.
func localKey(p string) string {
	sum := sha256.Sum256([]byte(p))
	return filepath.Base(p) + "-" + hex.EncodeToString(sum[:4])
}

// forwardCredentials resolves this machine's AWS credentials for the
// agent, and pins the S3 settings they go with (the region and endpoint
// of the client's profile, which the host does not have) in req.AWS.
func forwardCredentials(ctx context.Context, req *agent.Request, log io.Writer) (*agent.Credentials, error) {
	client, cfg, err := awsconfig.S3Client(ctx, req.AWS)
	if err != nil {
		return nil, err
	}
	c, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("--forward-credentials: resolving this machine's AWS credentials: %w", err)
	}
	out := &agent.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}
	o := client.Options()
	if req.AWS.Region == "" {
		req.AWS.Region = o.Region
	}
	if req.AWS.Endpoint == "" && o.BaseEndpoint != nil {
		req.AWS.Endpoint = *o.BaseEndpoint
	}
	if req.AWS.PathStyle == nil {
		ps := o.UsePathStyle
		req.AWS.PathStyle = &ps
	}
	if c.CanExpire {
		out.Expires = c.Expires
		if left := time.Until(c.Expires); left < req.Spec.Stopping.MaxRuntime {
			fmt.Fprintf(log, "jobrun: warning: the forwarded AWS credentials expire in %s (at %s), before stopping.max_runtime (%s): "+
				"S3 access from the job, such as its final upload, fails after that\n",
				left.Round(time.Minute), c.Expires.Local().Format(time.RFC3339), req.Spec.Stopping.MaxRuntime)
		}
	}
	return out, nil
}

// DockerClient connects to the host's Docker Engine through the SSH
// session.
func (h *Host) DockerClient(ctx context.Context, socket string) (*client.Client, error) {
	cli, err := imageship.RemoteClient(ctx, func(ctx context.Context) (net.Conn, error) {
		return h.Sess.DialUnix(ctx, socket)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.Target, err)
	}
	return cli, nil
}

// prepareImage checks the host's Docker Engine and GPUs and ships the
// job's image when the host does not have it.
func (h *Host) prepareImage(ctx context.Context, sp *spec.Spec, s Submission) error {
	remote, err := h.DockerClient(ctx, s.DockerSocket)
	if err != nil {
		return err
	}
	defer remote.Close()
	if all, count, devices := sp.Resources.GPURequest(); !(runner.GPUs{All: all, Count: count, Devices: devices}).None() {
		if err := h.checkGPUs(ctx, remote); err != nil {
			return err
		}
	}
	if sp.Build != nil || s.LocalDocker == nil {
		return nil // built on the host, or pulled there
	}
	local, err := s.LocalDocker(ctx)
	if err != nil {
		fmt.Fprintf(s.Log, "jobrun: no local Docker Engine to ship %s from (%v); the host must have it\n", sp.Image, err)
		return nil
	}
	defer local.Close()
	var progress func(done, total int64)
	if s.Progress != nil {
		progress = s.Progress("shipping " + sp.Image)
	}
	res, err := imageship.Ship(ctx, local, remote, sp.Image, progress, s.Log)
	switch {
	case errors.Is(err, imageship.ErrNotLocal):
		return nil // the host may have it, or pull it
	case err != nil:
		return fmt.Errorf("shipping image %s to %s: %w", sp.Image, h.Target, err)
	case res.Shipped:
		fmt.Fprintf(s.Log, "jobrun: shipped image %s to %s (%.1f MiB in %.1fs)\n", sp.Image, h.Target,
			float64(res.Bytes)/(1<<20), res.Duration.Seconds())
	}
	return nil
}

// checkGPUs fails when the host cannot give containers NVIDIA GPUs.
func (h *Host) checkGPUs(ctx context.Context, remote *client.Client) error {
	info, err := remote.Info(ctx, client.InfoOptions{})
	if err != nil {
		return fmt.Errorf("asking the Docker Engine on %s for its runtimes: %w", h.Target, err)
	}
	n, err := probeNVIDIA(ctx, h.Sess.Output, &info)
	switch {
	case err != nil:
		return fmt.Errorf("looking for GPUs on %s: %w", h.Target, err)
	case n.GPUs == 0:
		return fmt.Errorf("resources.gpus asks for GPUs but %s has no NVIDIA GPU driver (/proc/driver/nvidia/gpus is empty): "+
			"run on a GPU host, or remove resources.gpus", h.Target)
	case !n.Runtime:
		return fmt.Errorf("resources.gpus asks for GPUs but the Docker Engine on %s has no NVIDIA runtime: "+
			"install nvidia-container-toolkit there (and run `nvidia-ctk runtime configure --runtime=docker`)", h.Target)
	}
	return nil
}

// uploadLocal uploads local-path inputs and the build context into the
// job directory and points the spec at them.
func (h *Host) uploadLocal(ctx context.Context, sp *spec.Spec, job *Job, s Submission) error {
	inputs := make([]spec.Input, len(sp.Inputs))
	copy(inputs, sp.Inputs)
	sp.Inputs = inputs
	for i, in := range sp.Inputs {
		if !in.IsLocal() {
			continue
		}
		dest := path.Join(job.Dir, agent.InputsDir, in.Name)
		if err := h.send(ctx, s, "input "+in.Name, in.URI, dest); err != nil {
			return fmt.Errorf("input %s (%s): %w", in.Name, in.URI, err)
		}
		sp.Inputs[i].URI = dest
	}
	if sp.Build != nil {
		b := *sp.Build
		dest := path.Join(job.Dir, agent.BuildDir)
		if err := h.send(ctx, s, "build context", b.Context, dest); err != nil {
			return fmt.Errorf("build context %s: %w", b.Context, err)
		}
		b.Context = dest
		sp.Build = &b
	}
	return nil
}

func (h *Host) send(ctx context.Context, s Submission, what, src, dest string) error {
	o := upload.Options{
		Agent: upload.Prefix(h.agent), Store: path.Join(h.Root, agent.UploadsDir),
		Source: src, Dest: dest, Name: what, HashCache: s.HashCache, Log: s.Log,
	}
	if s.Progress != nil {
		o.Progress = s.Progress("uploading " + what)
	}
	_, err := upload.Send(ctx, h.Sess, o)
	return err
}
