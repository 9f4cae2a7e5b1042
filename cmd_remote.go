package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/channels"
	"github.com/jobrun/jobrun/exitcode"
	"github.com/jobrun/jobrun/runner"
	"github.com/jobrun/jobrun/runner/remote"
	"github.com/jobrun/jobrun/runner/remote/agent"
	"github.com/jobrun/jobrun/runner/remote/sshconn"
)

// hostFlags select a remote host for remote, logs, stop, ls and pull.
func hostFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "host", Usage: "ssh://[user@]host[:port] or a Host alias from ~/.ssh/config"},
		&cli.StringFlag{Name: "remote-dir", Value: remote.DefaultRoot, Usage: "jobrun's folder on the host (jobs, runs, uploads, cache)"},
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
inputs (only content the host does not already have) and starts an agent
there that runs the job against the host's Docker Engine. S3 inputs and
outputs go straight between the host and S3, with the host's own AWS
credentials unless --forward-credentials.

The log streams here live. The job does not depend on this command: if the
network drops, jobrun reconnects and the log goes on without a gap; if this
command is killed or the laptop sleeps, the job runs to its end. Re-attach
with jobrun logs -f JOB --host ..., stop with jobrun stop JOB --host ...

Ctrl-C asks whether to stop the job or detach from it (without a terminal,
--on-interrupt decides; stop by default). When the job ends, a run written
on the host (a local output.uri) is copied back to output.uri here, unless
--no-pull. The exit status is the one jobrun local would have had.

With --check, reports what jobs there would need instead: the host's
architecture, its Docker Engine (and this user's permission on its socket),
NVIDIA GPUs and free disk.

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
			&cli.BoolFlag{Name: "forward-credentials", Usage: "give the job this machine's AWS credentials (default: the host's own)"},
			&cli.StringFlag{Name: "on-interrupt", Value: "stop", Usage: "what Ctrl-C does without a terminal: stop | detach"},
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "start the job and return; follow it with jobrun logs -f"},
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
	return printChecks(c, remote.CheckHost(c.Context, conn, c.String("docker-socket")))
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
			cli, err := client.New(client.FromEnv)
			if err != nil {
				return nil, err
			}
			if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
				cli.Close()
				return nil, err
			}
			return cli, nil
		},
		HashCache: filepath.Join(cache, "upload-hashes"), Version: jobrunVersion(), Log: diag,
		Progress: func(what string) func(done, total int64) { return runner.ByteProgress(diag, what) },
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(diag, "jobrun: %s started on %s\n", jobName, h.Target)
	if c.Bool("detach") {
		fmt.Fprintf(diag, "jobrun: follow it with: jobrun logs -f %s --host %s%s\n", jobName, c.String("host"), remoteDirArg(c))
		newPrinter(c).result("job", map[string]string{"job_name": jobName, "host": c.String("host"), "status": "InProgress"},
			jobName)
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

// attach streams the job's log until it ends, handles Ctrl-C (stop or
// detach), pulls a run written on the host, and returns the job's exit
// status as an error.
func attach(c *cli.Context, h *remote.Host, job *remote.Job, out io.Writer, force <-chan struct{}) error {
	fctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := h.Follow(fctx, job.Name, 0, false, out, os.Stderr)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return err
		}
	case <-c.Context.Done():
		if interruptAction(c, h.Target) == "detach" {
			cancel()
			<-done
			fmt.Fprintf(os.Stderr, "jobrun: detached; %s goes on on %s. Re-attach: jobrun logs -f %s --host %s%s; stop it: jobrun stop %s --host %s%s\n",
				job.Name, h.Target, job.Name, c.String("host"), remoteDirArg(c), job.Name, c.String("host"), remoteDirArg(c))
			return nil
		}
		if err := stopRemote(h, job.Name, false); err != nil {
			return err
		}
		select {
		case err := <-done:
			if err != nil {
				return err
			}
		case <-force:
			if err := stopRemote(h, job.Name, true); err != nil {
				return err
			}
			if err := <-done; err != nil {
				return err
			}
		}
	}
	// The job has ended: c.Context may be cancelled by now.
	ctx, cancelEnd := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancelEnd()
	o, err := h.Outcome(ctx, job.Name)
	if err != nil {
		return err
	}
	if o == nil {
		return fmt.Errorf("%s: the log ended but the job has not", job.Name)
	}
	runDir := o.RunDir
	if job.LocalOutput != "" && !c.Bool("no-pull") && o.RunDir != "" {
		if runDir, err = h.Pull(ctx, job.Name, job.LocalOutput); err != nil {
			return err
		}
	} else if job.LocalOutput != "" && o.RunDir != "" {
		runDir = h.Target + ":" + o.RunDir
	}
	printRunResult(newPrinter(c), runner.Result{JobName: o.JobName, RunDir: runDir, Status: o.Status,
		ExitCode: o.ExitCode, FailureReason: o.FailureReason})
	return outcomeErr(o)
}

// outcomeErr is the error that makes jobrun exit as the agent would have.
func outcomeErr(o *agent.Outcome) error {
	if o.ExitCode == 0 {
		return nil
	}
	return &exitcode.Coded{Code: o.ExitCode, Msg: o.Error}
}

// interruptAction asks on a terminal whether Ctrl-C means stop or detach;
// otherwise --on-interrupt says.
func interruptAction(c *cli.Context, host string) string {
	if !channels.IsTerminal(os.Stdin) || !channels.IsTerminal(os.Stderr) {
		return c.String("on-interrupt")
	}
	fmt.Fprintf(os.Stderr, "\njobrun: stop the job, or detach and let it run on %s? [S/d] ", host)
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(line)), "d") {
		return "detach"
	}
	return "stop"
}

func stopRemote(h *remote.Host, job string, force bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	how := "gracefully (SIGTERM, then SIGKILL after stopping.grace); Ctrl-C again kills it now"
	if force {
		how = "now (SIGKILL)"
	}
	fmt.Fprintf(os.Stderr, "jobrun: stopping %s on %s %s\n", job, h.Target, how)
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
