package main

import (
	"context"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/artifacts"
)

func logsCommand() *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "print a run's log",
		ArgsUsage: "JOB",
		Description: `Prints logs/algo-1.log of a run. With --follow, keeps printing what the
container writes until the run ends (a run with an S3 output shows its log
once it has been pushed).

Examples:
   jobrun logs iris-20261123-101500-ab12
   jobrun logs -f iris-20261123-101500-ab12`,
		Flags: append(outputFlags(),
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing until the run ends"}),
		Action: runLogs,
	}
}

func runLogs(c *cli.Context) error {
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
