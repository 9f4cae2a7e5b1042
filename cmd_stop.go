package main

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/exitcode"
	"github.com/jobrun/jobrun/runner/docker"
	"github.com/jobrun/jobrun/runner/remote/agent"
)

func stopCommand() *cli.Command {
	return &cli.Command{
		Name:      "stop",
		Usage:     "stop a running job gracefully, here or on a remote host",
		ArgsUsage: "JOB",
		Description: `Stops a job the way Ctrl-C stops jobrun local: the container gets SIGTERM,
then SIGKILL after stopping.grace; the final checkpoint is synced and the
outputs are collected and uploaded. With --force the container is killed
at once (cleanup still runs). Asking again does no harm. Waits until the
job has ended, and prints how it ended, unless --no-wait. A remote job
whose agent is gone (Lost) is an error.

Without --host, stops a job run by jobrun local or jobrun rerun (or a
remote agent) on this machine, found by its container's labels: once its
container exists, not while its inputs are being staged.

Examples:
   jobrun stop iris-20261123-101500-ab12 --host gpu-box
   jobrun stop iris-20261123-101500-ab12`,
		Flags: append(hostFlags(),
			&cli.BoolFlag{Name: "force", Usage: "kill the container now instead of a graceful stop"},
			&cli.BoolFlag{Name: "no-wait", Usage: "return once the stop was asked for"},
			jsonFlag),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return exitcode.Usagef("stop needs exactly one JOB argument (got %d)", c.NArg())
			}
			if c.String("host") == "" {
				return stopLocal(c, c.Args().First())
			}
			return stopOnHost(c, c.Args().First())
		},
	}
}

func stopOnHost(c *cli.Context, job string) error {
	h, err := connectHost(c)
	if err != nil {
		return err
	}
	defer h.Close()
	running, err := h.Stop(c.Context, job, c.Bool("force"))
	if err != nil {
		return err
	}
	if running {
		fmt.Fprintf(os.Stderr, "jobrun: stopping %s on %s\n", job, h.Target)
	}
	for first := true; ; first = false {
		st, err := h.Status(c.Context, job)
		if err != nil {
			return err
		}
		switch {
		case st.Outcome != nil:
			if first && !running {
				fmt.Fprintf(os.Stderr, "jobrun: %s had already ended\n", job)
			}
			o := st.Outcome
			newPrinter(c).result("result", o, fmt.Sprintf("%s %s (exit code %d)", o.JobName, o.Status, o.ExitCode))
			return nil
		case !running:
			return fmt.Errorf("%s on %s is %s: its agent is not running (see %s on the host)",
				job, h.Target, st.State, path.Join(h.JobDir(job), agent.AgentLog))
		case c.Bool("no-wait"):
			return nil
		}
		select {
		case <-c.Context.Done():
			return context.Cause(c.Context) // the stop goes on
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// stopLocal signals the jobrun process that runs job on this machine
// (jobrun local, or the agent of a remote job): it then stops the job as
// `jobrun stop --host` would.
func stopLocal(c *cli.Context, job string) error {
	eng, err := docker.New(c.Context)
	if err != nil {
		return err
	}
	defer eng.Close()
	pid, host, ok, err := eng.Owner(c.Context, job)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s is not running on this machine's Docker Engine (for a job on a remote host, add --host)", job)
	}
	if me, _ := os.Hostname(); host != me {
		return fmt.Errorf("%s was started from %s, not from this machine: stop it there", job, host)
	}
	if !isJobrun(pid) {
		return fmt.Errorf("the jobrun process (pid %d) that ran %s is gone; `jobrun gc` removes what it left", pid, job)
	}
	sig := agent.StopSignal
	if c.Bool("force") {
		sig = agent.KillSignal
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("signalling jobrun (pid %d) that runs %s: %w", pid, job, err)
	}
	fmt.Fprintf(os.Stderr, "jobrun: stopping %s (jobrun pid %d)\n", job, pid)
	if c.Bool("no-wait") {
		return nil
	}
	for isJobrun(pid) {
		select {
		case <-c.Context.Done():
			return context.Cause(c.Context)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// isJobrun reports whether pid is still a jobrun process running a job
// (and not another process that got the PID since).
func isJobrun(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return syscall.Kill(pid, 0) == nil // no /proc: trust the PID
	}
	args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
	if len(args) < 2 || !strings.HasPrefix(filepath.Base(args[0]), "jobrun") {
		return false
	}
	for _, a := range args[1:] {
		switch a {
		case "local", "rerun", "agent":
			return true
		}
	}
	return false
}
