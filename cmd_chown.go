package main

import (
	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/runner/docker"
)

// chownCommand is run by jobrun itself inside a helper container, as root,
// to give a run's root-owned files back to the user. Hidden from help.
func chownCommand() *cli.Command {
	return &cli.Command{
		Name:      docker.ChownCommand,
		Hidden:    true,
		ArgsUsage: "UID GID DIR...",
		Action:    func(c *cli.Context) error { return docker.ChownMain(c.Args().Slice()) },
	}
}
