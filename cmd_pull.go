package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/exitcode"
)

func pullCommand() *cli.Command {
	return &cli.Command{
		Name:      "pull",
		Usage:     "copy a run directory from a remote host to this machine",
		ArgsUsage: "JOB --host ssh://user@host",
		Description: `Copies the run directory of a job that ran on a remote host with a local
output.uri (so its run stayed on the host) to --output/JOB here (--output
is ./runs in the current folder by default, not the spec's output.uri):
what jobrun remote does at the end of a job it was attached to. Use it
after --detach, --no-pull or a detach. The run stays on the host; a local
folder of that name that exists already is not overwritten. A run with an
S3 output is in S3 already: read it from there.

Examples:
   jobrun pull iris-20261123-101500-ab12 --host gpu-box
   jobrun pull iris-20261123-101500-ab12 --host gpu-box --output /data/runs`,
		Flags: append(hostFlags(),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "runs", Usage: "the local folder to copy the run into"},
			jsonFlag),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return exitcode.Usagef("pull needs exactly one JOB argument (got %d)", c.NArg())
			}
			h, err := connectHost(c)
			if err != nil {
				return err
			}
			defer h.Close()
			dir, err := h.Pull(c.Context, c.Args().First(), c.String("output"))
			if err != nil {
				return err
			}
			newPrinter(c).result("pulled", map[string]string{"job_name": c.Args().First(), "run_dir": dir},
				fmt.Sprintf("%s: %s", c.Args().First(), dir))
			return nil
		},
	}
}
