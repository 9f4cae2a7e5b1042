package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/channels"
	"github.com/jobrun/jobrun/exitcode"
	"github.com/jobrun/jobrun/spec"
)

func rerunCommand(force <-chan struct{}) *cli.Command {
	return &cli.Command{
		Name:      "rerun",
		Usage:     "run a job again exactly as it ran, optionally with changes",
		ArgsUsage: "JOB",
		Description: `Runs a recorded job again from its job.json: the same spec text and
overrides, the same image (pinned by its image ID, no rebuild), the same
hyperparameters and environment, into the same output. --set and --env add
changes on top. Local inputs must still hold the same content (checked by
their SHA-256): if one changed, rerun refuses unless --allow-changed-inputs.
The notify webhook is not recorded (it is a secret), so a rerun does not notify.

Examples:
   jobrun rerun iris-20261123-101500-ab12
   jobrun rerun iris-20261123-101500-ab12 --set hyperparameters.lr=0.05`,
		Flags: append(outputFlags(), specFlags()[0], specFlags()[2], specFlags()[3], cacheDirFlag, jsonFlag,
			&cli.BoolFlag{Name: "allow-changed-inputs", Usage: "run even if an input's content changed since"}),
		Action: func(c *cli.Context) error { return runRerun(c, force) },
	}
}

func runRerun(c *cli.Context, force <-chan struct{}) error {
	_, rec, err := openRun(c)
	if err != nil {
		return err
	}
	if rec.SpecSource == "" {
		return exitcode.Usagef("run %s has no recorded spec text (made by an older jobrun); run its spec with jobrun local", rec.JobName)
	}
	s, ov, err := recordedSpec(c, rec)
	if err != nil {
		return err
	}
	if err := checkInputsUnchanged(c, rec, s); err != nil {
		return err
	}
	return runOnDocker(c, s, force, ov)
}

// recordedSpec parses the recorded spec text again with the recorded and
// the new overrides, pinned to the image the run used.
func recordedSpec(c *cli.Context, rec *artifacts.Record) (*spec.Spec, artifacts.SpecOverrides, error) {
	var ov artifacts.SpecOverrides
	if rec.Overrides != nil {
		ov = *rec.Overrides
	}
	ov.Set = append(ov.Set, c.StringSlice("set")...)
	ov.Env = append(ov.Env, c.StringSlice("env")...)
	var old struct {
		File   string
		Output struct{ URI string }
	}
	json.Unmarshal(rec.Spec, &old)
	s, err := spec.Parse(old.File, []byte(rec.SpecSource), spec.Overrides{
		Name: c.String("name"), Output: old.Output.URI, Set: ov.Set, Env: ov.Env})
	if err != nil {
		return nil, ov, fmt.Errorf("rerunning %s: %w", rec.JobName, err)
	}
	s.Image, s.Build, s.Pull = rec.ImageID, nil, false
	if s.Notify != nil && s.Notify.IsMasked() {
		s.Notify = nil // the record keeps no webhook secret to post to
	}
	return s, ov, nil
}

// checkInputsUnchanged compares local inputs' content with the record.
func checkInputsUnchanged(c *cli.Context, rec *artifacts.Record, s *spec.Spec) error {
	staged, err := channels.Stage(c.Context, s.Inputs)
	if err != nil {
		return err
	}
	now, err := channels.Describe(c.Context, staged)
	if err != nil {
		return err
	}
	was := map[string]artifacts.InputRecord{}
	for _, in := range rec.Inputs {
		was[in.Channel] = in
	}
	for _, in := range now {
		old, ok := was[in.Channel]
		if ok && old.SHA256 != "" && old.SHA256 != in.SHA256 && !c.Bool("allow-changed-inputs") {
			return exitcode.Usagef("input %q (%s) changed since run %s (%d files, %d bytes then; %d files, %d bytes now); "+
				"use --allow-changed-inputs to rerun anyway", in.Channel, in.URI, rec.JobName, old.Files, old.Size, in.Files, in.Size)
		}
	}
	return nil
}
