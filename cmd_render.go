package main

import (
	"crypto/rand"
	"fmt"
	"path/filepath"
	"runtime"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/exitcode"
	"github.com/jobrun/jobrun/runner"
	"github.com/jobrun/jobrun/spec"
)

func renderCommand() *cli.Command {
	return &cli.Command{
		Name:      "render",
		Usage:     "write the /opt/ml tree and environment a job's container would see",
		ArgsUsage: "SPEC DIR",
		Description: `Writes into DIR what jobrun would give the container, without Docker:
DIR/input/config/*.json, empty DIR/input/data/<channel>/, DIR/model/,
DIR/output/data/ and DIR/env (KEY=VALUE lines, usable with docker run
--env-file). Use it to debug a container by hand:

   jobrun render train.yaml /tmp/ml
   docker run --rm --env-file /tmp/ml/env -v /tmp/ml/input/config:/opt/ml/input/config:ro \
       -v $PWD/data:/opt/ml/input/data/train:ro IMAGE train

Examples:
   jobrun render train.yaml ./ml
   jobrun render train.yaml ./ml --set hyperparameters.epochs=1 --name debug-1`,
		Flags: specFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return exitcode.Usagef("render needs SPEC and DIR (got %d arguments)", c.NArg())
			}
			s, err := spec.Load(c.Args().Get(0), overrides(c))
			if err != nil {
				return err
			}
			name := c.String("name")
			if name == "" {
				name = spec.JobName(s.Name, time.Now(), rand.Reader)
			}
			dir := c.Args().Get(1)
			host := runner.Host{Name: "render", NumCPUs: runtime.NumCPU()}
			if err := runner.Render(s, name, host, dir); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "wrote %s for job %s\n", filepath.Clean(dir), name)
			return nil
		},
	}
}
