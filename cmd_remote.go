package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/exitcode"
	"github.com/jobrun/jobrun/runner/remote"
	"github.com/jobrun/jobrun/runner/remote/sshconn"
)

func remoteCommand() *cli.Command {
	return &cli.Command{
		Name:      "remote",
		Usage:     "check a GPU host reached over SSH (running jobs there is not built yet)",
		ArgsUsage: "--check --host ssh://user@host",
		Description: `With --check, connects to the host over SSH (honouring ~/.ssh/config, the
ssh-agent and known_hosts) and reports what jobs there would need: the
host's architecture, its Docker Engine reached through its socket (and this
user's permission on it), NVIDIA GPUs, and free disk in the home directory.
An unknown host key is refused with its fingerprint unless
--accept-new-host-key; a changed one is always refused.

Running a job on the host (jobrun remote SPEC --host ...) is not built yet.

Examples:
   jobrun remote --check --host ssh://ubuntu@gpu-box
   jobrun remote --check --host gpu-box --json`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "check", Usage: "check the host's prerequisites"},
			&cli.StringFlag{Name: "host", Usage: "ssh://[user@]host[:port] or a Host alias from ~/.ssh/config"},
			&cli.BoolFlag{Name: "accept-new-host-key", Usage: "trust an unknown host's key and add it to known_hosts"},
			&cli.StringFlag{Name: "docker-socket", Value: remote.DefaultDockerSocket, Usage: "the Docker Engine's socket on the host"},
			jsonFlag,
		},
		Action: runRemote,
	}
}

func runRemote(c *cli.Context) error {
	if !c.Bool("check") || c.NArg() > 0 {
		return exitcode.Usagef("running jobs on a remote host is not built yet; `jobrun remote --check --host ...` checks a host")
	}
	if c.String("host") == "" {
		return exitcode.Usagef("--check needs --host ssh://user@host")
	}
	opts := sshconn.DialOptions{}
	if c.Bool("accept-new-host-key") {
		opts.HostKeyPolicy = sshconn.HostKeyAcceptNew
	}
	conn, err := sshconn.Dial(c.Context, c.String("host"), opts)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", c.String("host"), err)
	}
	defer conn.Close()
	return printChecks(c, remote.CheckHost(c.Context, conn, c.String("docker-socket")))
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
