package main

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/exitcode"
	"github.com/jobrun/jobrun/runner/docker"
)

func stopCommand() *cli.Command {
	return &cli.Command{
		Name:      "stop",
		Usage:     "stop a running job gracefully, here or on a remote host",
		ArgsUsage: "JOB",
		Description: `Stops a job the way Ctrl-C stops jobrun local: the container gets SIGTERM,
then SIGKILL after stopping.grace; the final checkpoint is synced and the
outputs are collected and uploaded. With --force the container is killed
at once (cleanup still runs). Waits until the job has ended unless
--no-wait.

Without --host, stops a job run by jobrun local (or a remote agent) on
this machine, found by its container's labels.

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
	if !running {
		fmt.Fprintf(os.Stderr, "jobrun: %s is not running on %s\n", job, h.Target)
	} else {
		fmt.Fprintf(os.Stderr, "jobrun: stopping %s on %s\n", job, h.Target)
	}
	if c.Bool("no-wait") {
		return nil
	}
	for {
		o, err := h.Outcome(c.Context, job)
		if err != nil {
			return err
		}
		if o != nil {
			newPrinter(c).result("result", o, fmt.Sprintf("%s %s (exit code %d)", o.JobName, o.Status, o.ExitCode))
			return nil
		}
		select {
		case <-c.Context.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// stopLocal signals the jobrun process that runs job on this machine: it
// then stops the job as on Ctrl-C.
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
	sigs := 1
	if c.Bool("force") {
		sigs = 2 // a second signal is jobrun's "kill it now"
	}
	for i := 0; i < sigs; i++ {
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			return fmt.Errorf("signalling jobrun (pid %d) that runs %s: %w", pid, job, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "jobrun: stopping %s (jobrun pid %d)\n", job, pid)
	if c.Bool("no-wait") {
		return nil
	}
	for syscall.Kill(pid, 0) == nil {
		select {
		case <-c.Context.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

