package main

import (
	"github.com/urfave/cli/v2"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check a spec and print it resolved, without running anything",
		ArgsUsage: "SPEC",
		Description: `Parses SPEC strictly: unknown keys, wrong types and bad values are reported
as file:line:col: message, all at once. With --json, prints the resolved spec
(defaults filled in, paths absolute).

Examples:
   jobrun validate train.yaml
   jobrun validate train.yaml --set resources.gpus=all --json`,
		Flags: append(specFlags(), jsonFlag),
		Action: func(c *cli.Context) error {
			s, err := loadSpec(c)
			if err != nil {
				return err
			}
			newPrinter(c).result("spec", s, s.File+": ok")
			return nil
		},
	}
}
