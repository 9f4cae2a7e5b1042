package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/exitcode"
	"github.com/jobrun/jobrun/runner"
	"github.com/jobrun/jobrun/runner/docker"
	"github.com/jobrun/jobrun/runner/remote/agent"
	"github.com/jobrun/jobrun/runner/remote/upload"
)

// agentCommand is the host side of `jobrun remote`: the client runs these
// subcommands over SSH with the copy of jobrun it installed on the host.
// They are not meant to be typed.
func agentCommand(force <-chan struct{}) *cli.Command {
	dirArg := func(c *cli.Context) (agent.Dir, error) {
		if c.NArg() != 1 || !filepath.IsAbs(c.Args().First()) {
			return "", exitcode.Usagef("agent %s needs one absolute job directory", c.Command.Name)
		}
		return agent.Dir(filepath.Clean(c.Args().First())), nil
	}
	printJSON := func(c *cli.Context, v any) error { return json.NewEncoder(c.App.Writer).Encode(v) }
	return &cli.Command{
		Name:   "agent",
		Usage:  "the host side of jobrun remote (run by jobrun over SSH)",
		Hidden: true,
		Subcommands: []*cli.Command{
			{Name: "start", ArgsUsage: "JOBDIR", Action: func(c *cli.Context) error {
				d, err := dirArg(c)
				if err != nil {
					return err
				}
				self, err := os.Executable()
				if err != nil {
					return err
				}
				pid, err := agent.Start(d, self, os.Stdin)
				if err != nil {
					return err
				}
				fmt.Fprintln(c.App.Writer, pid)
				return nil
			}},
			{Name: "run", ArgsUsage: "JOBDIR", Action: func(c *cli.Context) error {
				d, err := dirArg(c)
				if err != nil {
					return err
				}
				return runAgent(c, d, force)
			}},
			{Name: "follow", ArgsUsage: "JOBDIR", Flags: []cli.Flag{
				&cli.Int64Flag{Name: "from"}, &cli.BoolFlag{Name: "once"},
			}, Action: func(c *cli.Context) error {
				d, err := dirArg(c)
				if err != nil {
					return err
				}
				if !agent.StatusOf(d).Exists {
					return fmt.Errorf("no job in %s", d)
				}
				if c.Bool("once") {
					return agent.Copy(d, c.Int64("from"), c.App.Writer)
				}
				return agent.Follow(c.Context, d, c.Int64("from"), c.App.Writer, os.Stdin)
			}},
			{Name: "prepare", ArgsUsage: "JOBDIR", Action: func(c *cli.Context) error {
				d, err := dirArg(c)
				if err != nil {
					return err
				}
				st := agent.StatusOf(d)
				if !st.Exists {
					// Private from the start: uploads land here next.
					if err := os.MkdirAll(string(d), 0o700); err != nil {
						return err
					}
					if err := os.Chmod(string(d), 0o700); err != nil {
						return err
					}
				}
				return printJSON(c, st)
			}},
			{Name: "status", ArgsUsage: "JOBDIR", Action: func(c *cli.Context) error {
				d, err := dirArg(c)
				if err != nil {
					return err
				}
				return printJSON(c, agent.StatusOf(d))
			}},
			{Name: "stop", ArgsUsage: "JOBDIR", Flags: []cli.Flag{&cli.BoolFlag{Name: "force"}}, Action: func(c *cli.Context) error {
				d, err := dirArg(c)
				if err != nil {
					return err
				}
				st := agent.StatusOf(d)
				if st.Exists {
					if st.Stopping, err = d.Stop(c.Bool("force")); err != nil {
						return err
					}
				}
				return printJSON(c, st)
			}},
			{Name: "ls", ArgsUsage: "ROOT", Action: func(c *cli.Context) error {
				list, err := agent.List(c.Args().First())
				if err != nil {
					return err
				}
				if list == nil {
					list = []agent.Summary{}
				}
				return printJSON(c, list)
			}},
			{Name: "gc", ArgsUsage: "ROOT", Flags: []cli.Flag{
				&cli.BoolFlag{Name: "dry-run"}, &cli.DurationFlag{Name: "older-than"}, &cli.StringFlag{Name: "docker-socket"},
			}, Action: func(c *cli.Context) error {
				if c.NArg() != 1 || !filepath.IsAbs(c.Args().First()) {
					return exitcode.Usagef("agent gc needs the absolute agent root")
				}
				if s := c.String("docker-socket"); s != "" {
					os.Setenv("DOCKER_HOST", "unix://"+s)
				}
				return gcAgent(c, c.Args().First())
			}},
			{Name: "pack", ArgsUsage: "RUNDIR", Action: func(c *cli.Context) error {
				return artifacts.WriteTar(c.Args().First(), c.App.Writer, nil)
			}},
			{Name: "upload", SkipFlagParsing: true, Action: func(c *cli.Context) error {
				return upload.Serve(c.Context, c.Args().Slice(), os.Stdin, c.App.Writer, os.Stderr)
			}},
		},
	}
}

// runAgent runs the job of a job directory on this host's Docker Engine,
// as `jobrun local` would, its output going to the console log, and
// records how it ended. SIGTERM stops it as Ctrl-C stops `jobrun local`.
func runAgent(c *cli.Context, d agent.Dir, force <-chan struct{}) (err error) {
	req, console, err := agent.Begin(d)
	if err != nil {
		if f, ferr := os.OpenFile(d.Path(agent.ConsoleFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); ferr == nil {
			fmt.Fprintf(f, "jobrun: %v\n", err)
			f.Close()
		}
		agent.Finish(d, "", "", "", "", err)
		return err
	}
	defer console.Close()
	var res runner.Result
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("jobrun agent crashed: %v\n%s", p, debug.Stack())
		}
		if err != nil && !exitcode.Quiet(err) {
			fmt.Fprintf(console, "jobrun: %v\n", err) // as jobrun local prints it
		}
		if ferr := agent.Finish(d, req.JobName, res.RunDir, res.Status, res.FailureReason, err); ferr != nil && err == nil {
			err = ferr
		}
	}()
	eng, err := docker.New(c.Context)
	if err != nil {
		return err
	}
	defer eng.Close()
	opts := localOptions(req.Spec, eng, console, force, req.JobName)
	opts.Stderr, opts.Diag = console, console
	opts.AWS, opts.CacheDir, opts.LocalRuns = req.AWS, req.CacheDir, filepath.Join(req.CacheDir, agent.RunsDir)
	opts.Overrides, opts.RecordSpec = req.Overrides, req.ClientSpec
	res, err = runner.Run(c.Context, opts)
	return err
}
