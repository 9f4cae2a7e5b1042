package main

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/exitcode"
)

func logsCommand() *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "print a run's log",
		ArgsUsage: "JOB",
		Description: `Prints logs/algo-1.log of a run. With --follow, keeps printing what the
container writes until the run ends (a run with an S3 output shows its log
once it has been pushed).

With --host, prints the console of a job run with jobrun remote: the
container's output and jobrun's messages, as jobrun remote streamed them,
from byte --from on. With --follow it re-attaches to a running job
(reconnecting if the network drops), ends when the job ends, and exits
with the job's exit status; Ctrl-C ends following and the job goes on.
--output, --profile and --endpoint-url do not apply with --host.

Examples:
   jobrun logs iris-20261123-101500-ab12
   jobrun logs -f iris-20261123-101500-ab12
   jobrun logs -f iris-20261123-101500-ab12 --host gpu-box`,
		Flags: append(append(outputFlags(), hostFlags()...),
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing until the run ends"},
			&cli.Int64Flag{Name: "from", Usage: "with --host: start at this byte of the console log"}),
		Action: runLogs,
	}
}

func runLogs(c *cli.Context) error {
	if c.String("host") != "" {
		return remoteLogs(c)
	}
	store, rec, err := openRun(c)
	if err != nil {
		return err
	}
	var off int64
	for {
		n, err := copyLog(c.Context, store, rec.JobName, off, c.App.Writer)
		off += n
		if err != nil || !c.Bool("follow") || rec.Status != artifacts.StatusInProgress {
			return err
		}
		select {
		case <-c.Context.Done():
			return nil // Ctrl-C ends following; the run goes on
		case <-time.After(500 * time.Millisecond):
		}
		if rec, err = artifacts.ReadRecordAt(c.Context, store, rec.JobName); err != nil {
			return err
		}
	}
}

// copyLog prints the log from offset on and returns how much it printed.
func copyLog(ctx context.Context, store artifacts.Store, job string, off int64, w io.Writer) (int64, error) {
	r, err := artifacts.OpenLog(ctx, store, job, "", off)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return io.Copy(w, r)
}

// remoteLogs prints (or follows) a remote job's console log.
func remoteLogs(c *cli.Context) error {
	if c.NArg() != 1 {
		return exitcode.Usagef("logs needs exactly one JOB argument (got %d)", c.NArg())
	}
	if c.Int64("from") < 0 {
		return exitcode.Usagef("--from must be a byte offset, 0 or more")
	}
	h, err := connectHost(c)
	if err != nil {
		return err
	}
	defer h.Close()
	job := c.Args().First()
	if _, err := h.Outcome(c.Context, job); err != nil {
		return err
	}
	if !c.Bool("follow") {
		_, err := h.Follow(c.Context, job, c.Int64("from"), true, c.App.Writer, os.Stderr)
		return err
	}
	err = followToEnd(c.Context, h, job, c.Int64("from"), c.App.Writer)
	if c.Context.Err() != nil {
		return nil // Ctrl-C ends following; the job goes on
	}
	if err != nil {
		return err
	}
	o, err := h.Outcome(c.Context, job)
	if err != nil || o == nil {
		return err
	}
	return outcomeErr(o)
}
