package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/channels"
	"github.com/jobrun/jobrun/exitcode"
	"github.com/jobrun/jobrun/runner"
	"github.com/jobrun/jobrun/runner/docker"
	"github.com/jobrun/jobrun/runner/remote"
	"github.com/jobrun/jobrun/runner/remote/agent"
	"github.com/jobrun/jobrun/runner/remote/sshconn"
)

// hostFlags select a remote host for remote, logs, stop, ls and pull.
func hostFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "host", Usage: "ssh://[user@]host[:port] or a Host alias from ~/.ssh/config"},
		&cli.StringFlag{Name: "remote-dir", Value: remote.DefaultRoot, Usage: "jobrun's folder on the host, absolute or ~/... (jobs, runs, uploads, cache); the same for every command on a job"},
		&cli.BoolFlag{Name: "accept-new-host-key", Usage: "trust an unknown host's key and add it to known_hosts"},
	}
}

func dialOptions(c *cli.Context) sshconn.DialOptions {
	opts := sshconn.DialOptions{}
	if c.Bool("accept-new-host-key") {
		opts.HostKeyPolicy = sshconn.HostKeyAcceptNew
	}
	return opts
}

// connectHost connects to --host.
func connectHost(c *cli.Context) (*remote.Host, error) {
	if c.String("host") == "" {
		return nil, exitcode.Usagef("%s needs --host ssh://user@host", c.Command.Name)
	}
	return remote.Connect(c.Context, c.String("host"), dialOptions(c), c.String("remote-dir"))
}

func remoteCommand(force <-chan struct{}) *cli.Command {
	return &cli.Command{
		Name:      "remote",
		Usage:     "run a job on a host reached over SSH, supervised there",
		ArgsUsage: "SPEC --host ssh://user@host | --check --host ssh://user@host",
		Description: `Runs the job described by SPEC on another machine (a GPU workstation, a
long-lived EC2 instance) exactly as jobrun local runs it here: same contract,
same run record. jobrun connects over SSH (honouring ~/.ssh/config, the
ssh-agent and known_hosts), copies itself to the host once per version,
ships the image if the host lacks it (no registry needed), uploads local
inputs and the build context (only content the host does not already have)
and starts an agent there that runs the job against the host's Docker
Engine. A job name already used on the host is refused before any upload.
S3 inputs and outputs go straight between the host and S3, with the host's
own AWS credentials unless --forward-credentials. A local checkpoint folder
is mapped to one on the host and stays there.

The log streams here live. The job does not depend on this command: if the
network drops, jobrun reconnects and the log goes on without a gap or a
repeat; if this command is killed with SIGKILL, its terminal is closed
(SIGHUP) or the laptop sleeps, the job runs to its end. Re-attach with
jobrun logs -f JOB --host ..., stop with jobrun stop JOB --host ...

Ctrl-C (or SIGTERM) asks whether to stop the job or detach from it; without
a terminal, --on-interrupt decides (stop by default). When the job ends, a
run written on the host (a local output.uri) is copied back to output.uri
here, unless --no-pull or --detach (then: jobrun pull). The exit status is
the one jobrun local would have had.

With --check, reports what jobs there would need instead: the host's
architecture, its Docker Engine (and this user's permission on its socket),
NVIDIA GPUs and Docker's runtime for them, free disk, and how the agent
will be detached (a systemd scope of its own as root or with lingering on,
else setsid, which a logind with KillUserProcesses=yes kills at logout).

An unknown host key is refused with its fingerprint unless
--accept-new-host-key; a changed one is always refused.

Examples:
   jobrun remote train.yaml --host ssh://ubuntu@gpu-box
   jobrun remote train.yaml --host gpu-box --forward-credentials --set hyperparameters.epochs=3
   jobrun remote train.yaml --host gpu-box --detach
   jobrun remote --check --host gpu-box --json`,
		Flags: append(append(append(specFlags(), hostFlags()...), awsFlags()...),
			&cli.BoolFlag{Name: "check", Usage: "check the host's prerequisites instead of running a job"},
			&cli.StringFlag{Name: "docker-socket", Value: remote.DefaultDockerSocket, Usage: "the Docker Engine's socket on the host"},
			&cli.StringFlag{Name: "agent-binary", Usage: "a jobrun binary for the host's architecture (default: this one)"},
			&cli.BoolFlag{Name: "forward-credentials", Usage: "use this machine's AWS credentials for the job's S3 access on the host, passed through the SSH channel (default: the host's own)"},
			&cli.StringFlag{Name: "on-interrupt", Value: "stop", Usage: "what Ctrl-C or SIGTERM does without a terminal: stop | detach"},
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "start the job and return; follow it with jobrun logs -f, fetch its run with jobrun pull"},
			&cli.BoolFlag{Name: "no-pull", Usage: "leave a run written on the host there (see jobrun pull)"},
			cacheDirFlag, jsonFlag),
		Action: func(c *cli.Context) error {
			if c.Bool("check") {
				return runCheck(c)
			}
			return runRemote(c, force)
		},
	}
}

func runCheck(c *cli.Context) error {
	if c.NArg() > 0 {
		return exitcode.Usagef("--check takes no SPEC")
	}
	if c.String("host") == "" {
		return exitcode.Usagef("--check needs --host ssh://user@host")
	}
	conn, err := sshconn.Dial(c.Context, c.String("host"), dialOptions(c))
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", c.String("host"), err)
	}
	defer conn.Close()
	return printChecks(c, remote.CheckHost(c.Context, conn, c.String("docker-socket"), c.String("remote-dir")))
}

func runRemote(c *cli.Context, force <-chan struct{}) error {
	switch c.String("on-interrupt") {
	case "stop", "detach":
	default:
		return exitcode.Usagef("--on-interrupt must be stop or detach, not %q", c.String("on-interrupt"))
	}
	s, err := loadSpec(c)
	if err != nil {
		return err
	}
	cache, err := cacheDir(c)
	if err != nil {
		return err
	}
	h, err := connectHost(c)
	if err != nil {
		return err
	}
	defer h.Close()
	diag := os.Stderr
	if err := h.InstallAgent(c.Context, c.String("agent-binary"), diag); err != nil {
		return err
	}
	jobName := s.JobName(time.Now(), rand.Reader)
	job, err := h.Submit(c.Context, remote.Submission{
		Spec: s, JobName: jobName, Overrides: overridesRecord(c), AWS: awsOptions(c),
		ForwardCredentials: c.Bool("forward-credentials"), DockerSocket: c.String("docker-socket"),
		LocalDocker: func(ctx context.Context) (*client.Client, error) {
			eng, err := docker.New(ctx)
			if err != nil {
				return nil, err
			}
			return eng.Client(), nil // closing the client closes the engine
		},
		HashCache: filepath.Join(cache, "upload-hashes"), Version: jobrunVersion(), Log: diag,
		Progress: func(what string) func(done, total int64) { return runner.ByteProgress(diag, what) },
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(diag, "jobrun: %s started on %s\n", jobName, h.Target)
	if c.Bool("detach") {
		printDetached(c, jobName)
		return nil
	}
	out := io.Writer(os.Stdout)
	if c.Bool("json") {
		out = os.Stderr
	}
	return attach(c, h, job, out, force)
}

// overridesRecord is the command line's changes as the run record keeps them.
func overridesRecord(c *cli.Context) artifacts.SpecOverrides {
	return artifacts.SpecOverrides{Set: c.StringSlice("set"), Env: c.StringSlice("env")}
}

func remoteDirArg(c *cli.Context) string {
	if d := c.String("remote-dir"); d != remote.DefaultRoot {
		return " --remote-dir " + d
	}
	return ""
}

// printDetached says how to reach a job left running on its host.
func printDetached(c *cli.Context, job string) {
	host, dir := c.String("host"), remoteDirArg(c)
	fmt.Fprintf(os.Stderr, "jobrun: %s goes on on %s. Follow it: jobrun logs -f %s --host %s%s; stop it: jobrun stop %s --host %s%s\n",
		job, host, job, host, dir, job, host, dir)
	newPrinter(c).result("job", map[string]string{"job_name": job, "host": host, "status": "InProgress"}, job)
}

// attach streams the job's log until it ends, handles Ctrl-C (stop or
// detach; a closed terminal detaches), pulls a run written on the host,
// and returns the job's exit status as an error.
func attach(c *cli.Context, h *remote.Host, job *remote.Job, out io.Writer, force <-chan struct{}) error {
	fctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pw := &pausableWriter{w: out}
	done := make(chan error, 1)
	go func() { done <- followToEnd(fctx, h, job.Name, 0, pw) }()
	select {
	case err := <-done:
		if err != nil {
			return err
		}
	case <-c.Context.Done():
		pw.pause()
		action := interruptAction(c, h.Target, force)
		pw.resume()
		if action == "detach" {
			cancel()
			<-done
			printDetached(c, job.Name)
			return nil
		}
		if err := stopRemote(h, job.Name, action == "kill"); err != nil {
			return err
		}
		select {
		case err := <-done:
			if err != nil {
				return err
			}
		case <-force:
			if action != "kill" {
				if err := stopRemote(h, job.Name, true); err != nil {
					return err
				}
			}
			if err := <-done; err != nil {
				return err
			}
		}
	}
	// The job has ended. c.Context may be cancelled by now: the pull is
	// cancelled by the next Ctrl-C instead.
	ctx, cancelEnd := context.WithCancel(context.Background())
	defer cancelEnd()
	select {
	case <-force: // the Ctrl-C that killed the job must not cancel its pull too
	default:
		go func() {
			select {
			case <-force:
				cancelEnd()
			case <-ctx.Done():
			}
		}()
	}
	o, err := h.Outcome(ctx, job.Name)
	if err != nil {
		return err
	}
	runDir := o.RunDir
	if job.LocalOutput != "" && o.RunDir != "" {
		if c.Bool("no-pull") {
			runDir = h.Target + ":" + o.RunDir
		} else if runDir, err = h.PullRun(ctx, o, job.LocalOutput); err != nil {
			return fmt.Errorf("%w; the run stays on the host: jobrun pull %s --host %s%s", err, job.Name, c.String("host"), remoteDirArg(c))
		}
	}
	printRunResult(newPrinter(c), runner.Result{JobName: o.JobName, RunDir: runDir, Status: o.Status,
		ExitCode: o.ExitCode, FailureReason: o.FailureReason})
	return outcomeErr(o)
}

// followToEnd follows the job's log until the job has an outcome: a
// follower that ended early (sshd hung it up) is started again where the
// last one stopped.
func followToEnd(ctx context.Context, h *remote.Host, job string, off int64, w io.Writer) error {
	for {
		n, err := h.Follow(ctx, job, off, false, w, os.Stderr)
		if err != nil || ctx.Err() != nil {
			return err
		}
		o, err := h.Outcome(ctx, job)
		if err != nil || o != nil {
			return err
		}
		if n == off {
			time.Sleep(time.Second) // no progress: do not spin
		}
		off = n
	}
}

// outcomeErr is the error that makes jobrun exit as the agent would have.
// The agent's own error message is in the console log already.
func outcomeErr(o *agent.Outcome) error {
	if o.ExitCode == 0 {
		return nil
	}
	return &exitcode.Coded{Code: o.ExitCode}
}

// interruptAction decides what Ctrl-C means: a closed terminal detaches;
// on a terminal jobrun asks (a second Ctrl-C while it asks means kill);
// otherwise --on-interrupt says.
func interruptAction(c *cli.Context, host string, force <-chan struct{}) string {
	if errors.Is(context.Cause(c.Context), errHangup) {
		return "detach"
	}
	if !channels.IsTerminal(os.Stdin) || !channels.IsTerminal(os.Stderr) {
		return c.String("on-interrupt")
	}
	fmt.Fprintf(os.Stderr, "\njobrun: stop the job, or detach and let it run on %s? [S/d] ", host)
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		answer <- line
	}()
	select {
	case line := <-answer:
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(line)), "d") {
			return "detach"
		}
		return "stop"
	case <-force:
		fmt.Fprintln(os.Stderr)
		return "kill"
	}
}

// pausableWriter holds the live log back while jobrun asks a question.
type pausableWriter struct {
	mu     sync.Mutex
	w      io.Writer
	paused bool
	held   []byte
}

func (p *pausableWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused {
		p.held = append(p.held, b...)
		return len(b), nil
	}
	return p.w.Write(b)
}

func (p *pausableWriter) pause() {
	p.mu.Lock()
	p.paused = true
	p.mu.Unlock()
}

func (p *pausableWriter) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = false
	p.w.Write(p.held)
	p.held = nil
}

func stopRemote(h *remote.Host, job string, force bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	how := "gracefully (SIGTERM, then SIGKILL after stopping.grace); Ctrl-C again kills it now"
	if force {
		how = "now (SIGKILL)"
	}
	fmt.Fprintf(os.Stderr, "\njobrun: stopping %s on %s %s\n", job, h.Target, how)
	_, err := h.Stop(ctx, job, force)
	return err
}

func printChecks(c *cli.Context, checks []remote.Check) error {
	p := newPrinter(c)
	var failed []string
	for _, ch := range checks {
		mark := "ok  "
		if !ch.OK {
			mark, failed = "FAIL", append(failed, ch.Name)
		}
		p.result("check", ch, fmt.Sprintf("%s %-7s %s", mark, ch.Name, ch.Detail))
	}
	if len(failed) > 0 {
		return fmt.Errorf("host check failed: %s", strings.Join(failed, ", "))
	}
	return nil
}
