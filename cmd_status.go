package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/exitcode"
)

// outputFlags name where runs are: a folder or an S3 prefix.
func outputFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "runs", Usage: "the output folder or s3:// prefix the run is in"},
	}, awsFlags()...)
}

// openRun reads the record of the run named by the single JOB argument.
func openRun(c *cli.Context) (artifacts.Store, *artifacts.Record, error) {
	if c.NArg() != 1 {
		return nil, nil, exitcode.Usagef("%s needs exactly one JOB argument (got %d)", c.Command.Name, c.NArg())
	}
	return readRun(c, c.Args().First())
}

func readRun(c *cli.Context, job string) (artifacts.Store, *artifacts.Record, error) {
	store, err := artifacts.OpenStore(c.Context, c.String("output"), awsOptions(c))
	if err != nil {
		return nil, nil, err
	}
	rec, err := artifacts.ReadRecordAt(c.Context, store, job)
	if err != nil {
		return nil, nil, exitcode.Usagef("no run %s in %s (see `jobrun ls --output ...`): %w", job, c.String("output"), err)
	}
	return store, rec, nil
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show one run's record",
		ArgsUsage: "JOB",
		Description: `Prints a run's status, times, exit code, failure reason, image, inputs and
final metrics from its job.json. --json prints the whole record.

Examples:
   jobrun status iris-20261123-101500-ab12
   jobrun status iris-20261123-101500-ab12 --output s3://bucket/jobs --json`,
		Flags: append(outputFlags(), jsonFlag),
		Action: func(c *cli.Context) error {
			_, rec, err := openRun(c)
			if err != nil {
				return err
			}
			newPrinter(c).result("run", rec, statusText(rec))
			return nil
		},
	}
}

func statusText(r *artifacts.Record) string {
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-15s %s\n", k+":", v)
		}
	}
	line("job", r.JobName)
	line("status", r.Status+suffix(r.StopReason))
	if r.ExitCode != nil {
		line("exit code", fmt.Sprint(*r.ExitCode))
	}
	line("failure reason", r.FailureReason)
	line("created", r.CreatedAt.Local().Format(time.RFC3339))
	line("duration", r.Duration(time.Now()).String())
	line("image", r.Image+" ("+r.ImageID+")")
	line("host", r.Engine+" on "+r.Host)
	for _, in := range r.Inputs {
		line("input "+in.Channel, fmt.Sprintf("%s (%d files, %d bytes)", in.URI, in.Files, in.Size))
	}
	for _, k := range sortedKeys(r.FinalMetrics) {
		line("metric "+k, fmt.Sprint(r.FinalMetrics[k]))
	}
	if r.Upload != nil {
		line("uploaded to", r.Upload.URI)
		line("upload error", r.Upload.Error)
	}
	return strings.TrimRight(b.String(), "\n")
}

func suffix(reason string) string {
	if reason == "" {
		return ""
	}
	return " (" + reason + ")"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
