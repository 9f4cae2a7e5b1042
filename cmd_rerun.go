package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/awsconfig"
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

// checkInputsUnchanged compares the inputs as they are now with the
// record: local ones by content hash, S3 ones object by object (ETag).
func checkInputsUnchanged(c *cli.Context, rec *artifacts.Record, s *spec.Spec) error {
	now, err := describeInputsNow(c, s)
	if err != nil {
		return err
	}
	was := map[string]artifacts.InputRecord{}
	for _, in := range rec.Inputs {
		was[in.Channel] = in
	}
	for _, in := range now {
		old, ok := was[in.Channel]
		if !ok || c.Bool("allow-changed-inputs") {
			continue
		}
		if why := inputChange(old, in); why != "" {
			return exitcode.Usagef("input %q (%s) changed since run %s: %s; use --allow-changed-inputs to rerun anyway",
				in.Channel, in.URI, rec.JobName, why)
		}
	}
	return nil
}

// describeInputsNow pins the spec's inputs as they are now, downloading
// nothing.
func describeInputsNow(c *cli.Context, s *spec.Spec) ([]artifacts.InputRecord, error) {
	stager := &channels.Stager{}
	for _, in := range s.Inputs {
		if !in.IsLocal() && stager.S3 == nil {
			client, _, err := awsconfig.S3Client(c.Context, awsOptions(c))
			if err != nil {
				return nil, err
			}
			stager.S3 = client
		}
	}
	staged, err := stager.Pin(c.Context, s.Inputs)
	if err != nil {
		return nil, err
	}
	return channels.Describe(c.Context, staged)
}

// inputChange says how a channel differs from its record, "" if not.
func inputChange(old, now artifacts.InputRecord) string {
	if old.SHA256 != "" && old.SHA256 != now.SHA256 {
		return fmt.Sprintf("%d files, %d bytes then; %d files, %d bytes now", old.Files, old.Size, now.Files, now.Size)
	}
	if len(old.Objects) == 0 {
		return ""
	}
	then := map[string]string{}
	for _, o := range old.Objects {
		then[o.URI] = o.ETag + o.VersionID
	}
	for _, o := range now.Objects {
		if tag, ok := then[o.URI]; !ok {
			return o.URI + " is new"
		} else if tag != o.ETag+o.VersionID {
			return o.URI + " has changed (ETag " + o.ETag + ")"
		}
		delete(then, o.URI)
	}
	for uri := range then {
		return uri + " is gone"
	}
	return ""
}
