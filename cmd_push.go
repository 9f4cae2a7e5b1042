package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/exitcode"
	"github.com/jobrun/jobrun/runner"
)

func pushCommand() *cli.Command {
	return &cli.Command{
		Name:      "push",
		Usage:     "upload a run directory to its output, resuming an interrupted upload",
		ArgsUsage: "RUN_DIR",
		Description: `Copies a local run directory to <output>/<job-name>/, sending only what is
missing or differs there (by size and checksum), and job.json last. Use it
when a run's upload to S3 failed (jobrun keeps the run and says where), or to
copy a local run to S3. The output defaults to the run's own output.uri.

Examples:
   jobrun push ~/.cache/jobrun/runs/iris-20261123-101500-ab12
   jobrun push runs/iris-20261123-101500-ab12 --output s3://bucket/jobs`,
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where to push (default: the run's output.uri)"},
			&cli.StringFlag{Name: "compression", Usage: "none or gzip (default: the run's output.compression)"},
		}, awsFlags()...), jsonFlag),
		Action: runPush,
	}
}

func runPush(c *cli.Context) error {
	if c.NArg() != 1 {
		return exitcode.Usagef("push needs exactly one RUN_DIR argument (got %d)", c.NArg())
	}
	dir := c.Args().First()
	rec, err := artifacts.ReadRecord(dir)
	if err != nil {
		return exitcode.Usagef("%s is not a run directory: %w", dir, err)
	}
	output, compression := recordedOutput(rec)
	if c.String("output") != "" {
		output = c.String("output")
	}
	if c.String("compression") != "" {
		compression = c.String("compression")
	}
	store, err := artifacts.OpenStore(c.Context, output, awsOptions(c))
	if err != nil {
		return err
	}
	pushed, err := artifacts.Push(c.Context, dir, store, artifacts.PushOptions{Compression: compression,
		Progress: runner.ByteProgress(os.Stderr, "uploading "+filepath.Base(dir))})
	if err != nil {
		return fmt.Errorf("pushing %s to %s: %w", dir, output, err)
	}
	newPrinter(c).result("push", pushed.Upload, fmt.Sprintf("pushed %s to %s (%d files, %d unchanged)",
		filepath.Base(dir), pushed.Upload.URI, pushed.Upload.Files, pushed.Upload.Unchanged))
	return nil
}

// recordedOutput is the output a run was started with.
func recordedOutput(rec *artifacts.Record) (uri, compression string) {
	var s struct {
		Output struct{ URI, Compression string }
	}
	json.Unmarshal(rec.Spec, &s)
	return s.Output.URI, s.Output.Compression
}
