package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/exitcode"
)

func lsCommand() *cli.Command {
	return &cli.Command{
		Name:  "ls",
		Usage: "list runs with their status, duration and exit code",
		Description: `Reads the job.json of every run directory in the output folder (./runs by
default), newest first. A run still in progress shows InProgress.

Examples:
   jobrun ls
   jobrun ls --output /data/runs
   jobrun ls --output s3://my-bucket/jobs
   jobrun ls --host gpu-box
   jobrun ls --json | jq -r 'select(.status=="Failed") | .job_name'

With --host, lists the jobs run on that host with jobrun remote, with the
host's view of them: Starting, InProgress while the agent runs, Lost when
the agent ended without recording an outcome (e.g. the host rebooted).
--output, --profile and --endpoint-url do not apply with --host.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "runs", Usage: "the output folder or s3:// prefix to list"},
			jsonFlag,
		}, append(awsFlags(), hostFlags()...)...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return exitcode.Usagef("ls takes no arguments; use --output DIR")
			}
			if c.String("host") != "" {
				return listHost(c)
			}
			store, err := artifacts.OpenStore(c.Context, c.String("output"), awsOptions(c))
			if err != nil {
				return err
			}
			recs, err := artifacts.ListRuns(c.Context, store)
			if err != nil {
				return err
			}
			printRuns(c, recs)
			return nil
		},
	}
}

// runLine is one run as `ls --json` prints it.
type runLine struct {
	JobName       string  `json:"job_name"`
	RunDir        string  `json:"run_dir"`
	Status        string  `json:"status"`
	CreatedAt     string  `json:"created_at"`
	DurationSec   float64 `json:"duration_seconds"`
	ExitCode      *int    `json:"exit_code"`
	FailureReason string  `json:"failure_reason,omitempty"`
}

func printRuns(c *cli.Context, recs []*artifacts.Record) {
	now := time.Now()
	if c.Bool("json") {
		p := newPrinter(c)
		for _, r := range recs {
			p.result("run", runLine{
				JobName: r.JobName, RunDir: runPlace(c.String("output"), r.JobName), Status: r.Status,
				CreatedAt: r.CreatedAt.Format(time.RFC3339), DurationSec: r.Duration(now).Seconds(),
				ExitCode: r.ExitCode, FailureReason: r.FailureReason,
			}, "")
		}
		return
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTATUS\tCREATED\tDURATION\tEXIT\tFAILURE")
	for _, r := range recs {
		exit := "-"
		if r.ExitCode != nil {
			exit = strconv.Itoa(*r.ExitCode)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.JobName, r.Status, r.CreatedAt.Local().Format("2006-01-02 15:04:05"),
			r.Duration(now), exit, oneLine(r.FailureReason, 60))
	}
	tw.Flush()
}

// runPlace is where a run's record lives below an output folder or prefix.
func runPlace(output, job string) string {
	if artifacts.IsS3(output) {
		return strings.TrimSuffix(output, "/") + "/" + job + "/"
	}
	return filepath.Join(output, job)
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// listHost lists a remote host's jobs.
func listHost(c *cli.Context) error {
	h, err := connectHost(c)
	if err != nil {
		return err
	}
	defer h.Close()
	jobs, err := h.List(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		p := newPrinter(c)
		for _, j := range jobs {
			p.result("run", j, "")
		}
		return nil
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTATUS\tCREATED\tDURATION\tEXIT\tFAILURE")
	for _, j := range jobs {
		exit := "-"
		if j.ExitCode != nil {
			exit = strconv.Itoa(*j.ExitCode)
		}
		// Durations come from the host, in its clock.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", j.JobName, j.Status, j.CreatedAt.Local().Format("2006-01-02 15:04:05"),
			time.Duration(j.DurationSec*float64(time.Second)).Round(time.Second), exit, oneLine(j.FailureReason, 60))
	}
	return tw.Flush()
}
