package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/runner"
	"github.com/jobrun/jobrun/runner/docker"
	"github.com/jobrun/jobrun/spec"
)

func localCommand(force <-chan struct{}) *cli.Command {
	return &cli.Command{
		Name:      "local",
		Usage:     "run a job on this machine's Docker Engine",
		ArgsUsage: "SPEC",
		Description: `Runs the job described by SPEC (a train.yaml) in a container on the local
Docker Engine, laid out exactly as a SageMaker training job, and writes the
run's model, outputs, logs, metrics and job.json to <output>/<job-name>/.

Ctrl-C once stops the job gracefully (SIGTERM, then SIGKILL after
stopping.grace) and still collects its outputs; Ctrl-C twice kills it now.

Examples:
   jobrun local train.yaml
   jobrun local train.yaml --set hyperparameters.epochs=3 --env LOG_LEVEL=debug
   jobrun local train.yaml --output /data/runs --name my-run-1
   jobrun local train.yaml --json | jq .status`,
		Flags:  append(append(specFlags(), awsFlags()...), cacheDirFlag, jsonFlag),
		Action: func(c *cli.Context) error { return runLocal(c, force) },
	}
}

func runLocal(c *cli.Context, force <-chan struct{}) error {
	s, err := loadSpec(c)
	if err != nil {
		return err
	}
	return runOnDocker(c, s, force, overridesRecord(c))
}

// runOnDocker runs a resolved spec on the local Docker Engine and prints
// the result.
func runOnDocker(c *cli.Context, s *spec.Spec, force <-chan struct{}, ov artifacts.SpecOverrides) error {
	eng, err := docker.New(c.Context)
	if err != nil {
		return err
	}
	defer eng.Close()
	stdout := io.Writer(os.Stdout)
	if c.Bool("json") {
		stdout = os.Stderr // stdout carries only the JSON result
	}
	cache, err := cacheDir(c)
	if err != nil {
		return err
	}
	opts := localOptions(s, eng, stdout, force, c.String("name"))
	opts.AWS, opts.LocalRuns, opts.CacheDir = awsOptions(c), filepath.Join(cache, "runs"), cache
	opts.Overrides = ov
	res, err := runner.Run(c.Context, opts)
	printRunResult(newPrinter(c), res)
	return err
}

func localOptions(s *spec.Spec, eng *docker.Engine, stdout io.Writer, force <-chan struct{}, name string) runner.Options {
	host, _ := os.Hostname()
	jobName := name
	if jobName == "" {
		jobName = spec.JobName(s.Name, time.Now(), rand.Reader)
	}
	return runner.Options{
		Spec: s, JobName: jobName, Engine: eng, EngineName: "docker", Version: jobrunVersion(),
		Stdout: stdout, Stderr: os.Stderr, Diag: os.Stderr, Force: force,
		Labels: map[string]string{
			docker.LabelJob: jobName, docker.LabelVersion: jobrunVersion(),
			docker.LabelPID: strconv.Itoa(os.Getpid()), docker.LabelHost: host,
		},
	}
}

func printRunResult(p printer, res runner.Result) {
	if res.RunDir == "" {
		return // nothing ran; the error says why
	}
	text := fmt.Sprintf("%s %s (exit code %d): %s", res.JobName, res.Status, res.ExitCode, res.RunDir)
	if res.FailureReason != "" {
		text += "\nfailure reason: " + res.FailureReason
	}
	p.result("result", res, text)
}
