package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/exitcode"
)

func diffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "show what differs between two runs",
		ArgsUsage: "JOB1 JOB2",
		Description: `Compares two runs' records: image, hyperparameters, environment, inputs
(content hash or ETags), resources, status and final metrics. Prints only
what differs; --json prints one object per difference.

Examples:
   jobrun diff iris-20261123-101500-ab12 iris-20261123-113000-cd34`,
		Flags: append(outputFlags(), jsonFlag),
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return exitcode.Usagef("diff needs JOB1 and JOB2 (got %d arguments)", c.NArg())
			}
			a, err := flatRun(c, c.Args().Get(0))
			if err != nil {
				return err
			}
			b, err := flatRun(c, c.Args().Get(1))
			if err != nil {
				return err
			}
			printDiff(c, a, b)
			return nil
		},
	}
}

// diffLine is one difference.
type diffLine struct {
	Field string `json:"field"`
	A     string `json:"a"`
	B     string `json:"b"`
}

// flatRun reads a run and flattens what is worth comparing into
// dotted keys.
func flatRun(c *cli.Context, job string) (map[string]string, error) {
	_, rec, err := readRun(c, job)
	if err != nil {
		return nil, err
	}
	out := map[string]string{"image": rec.Image, "image_id": rec.ImageID, "status": rec.Status, "failure_reason": rec.FailureReason}
	if rec.ExitCode != nil {
		out["exit_code"] = fmt.Sprint(*rec.ExitCode)
	}
	for k, v := range rec.FinalMetrics {
		out["metric."+k] = fmt.Sprint(v)
	}
	for _, in := range rec.Inputs {
		data, _ := json.Marshal(in)
		out["input."+in.Channel] = string(data)
	}
	var s map[string]any
	if err := json.Unmarshal(rec.Spec, &s); err == nil {
		for _, k := range []string{"hyperparameters", "environment", "resources", "stopping", "entrypoint", "arguments"} {
			flatten(out, k, s[k])
		}
	}
	return out, nil
}

func flatten(out map[string]string, key string, v any) {
	if m, ok := v.(map[string]any); ok {
		for k, sub := range m {
			flatten(out, key+"."+k, sub)
		}
		return
	}
	if v != nil {
		data, _ := json.Marshal(v)
		out[key] = strings.Trim(string(data), `"`)
	}
}

func printDiff(c *cli.Context, a, b map[string]string) {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	p := newPrinter(c)
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	same := true
	for _, k := range sortedKeys(keys) {
		if a[k] == b[k] {
			continue
		}
		same = false
		if c.Bool("json") {
			p.result("diff", diffLine{k, a[k], b[k]}, "")
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", k, orDash(a[k]), orDash(b[k]))
		}
	}
	tw.Flush()
	if same && !c.Bool("json") {
		fmt.Fprintln(c.App.Writer, "no differences")
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
