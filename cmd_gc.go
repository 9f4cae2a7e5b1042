package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/runner/docker"
)

func gcCommand() *cli.Command {
	return &cli.Command{
		Name:  "gc",
		Usage: "remove containers, networks and temporary folders jobrun left behind",
		Description: `jobrun removes its containers when a run ends, even on Ctrl-C. If jobrun
itself was killed (kill -9, a crash, a reboot), its containers and temporary
folders stay. gc removes every jobrun-labelled container whose jobrun process
is gone, the shared "jobrun" network when no container uses it, and stale
jobrun-<pid>-* folders in the temporary directory. Containers of runs still
in progress are never touched.

Examples:
   jobrun gc
   jobrun gc --dry-run`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "list what would be removed"},
			jsonFlag,
		},
		Action: runGC,
	}
}

// gcLine is one removed (or, with --dry-run, removable) object.
type gcLine struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Job     string `json:"job,omitempty"`
	Removed bool   `json:"removed"`
}

func runGC(c *cli.Context) error {
	eng, err := docker.New(c.Context)
	if err != nil {
		return err
	}
	defer eng.Close()
	left, err := eng.Leftovers(c.Context)
	if err != nil {
		return err
	}
	p, dry := newPrinter(c), c.Bool("dry-run")
	for _, l := range left {
		removed := false
		if !dry {
			if removed, err = eng.Remove(c.Context, l); err != nil {
				return err
			}
			if !removed {
				continue // the shared network is still in use
			}
		}
		p.result("gc", gcLine{l.Kind, l.Name, l.Job, removed}, fmt.Sprintf("%s %s %s", verb(dry), l.Kind, l.Name))
	}
	return gcTempDirs(p, dry)
}

func verb(dry bool) string {
	if dry {
		return "would remove"
	}
	return "removed"
}

// gcTempDirs removes temporary folders of jobrun processes that are gone.
func gcTempDirs(p printer, dry bool) error {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "jobrun-*-*"))
	for _, d := range dirs {
		parts := strings.SplitN(filepath.Base(d), "-", 3)
		pid, err := strconv.Atoi(parts[1])
		if err != nil || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		if !dry {
			if err := os.RemoveAll(d); err != nil {
				return fmt.Errorf("removing %s: %w", d, err)
			}
		}
		p.result("gc", gcLine{"tempdir", d, "", !dry}, fmt.Sprintf("%s tempdir %s", verb(dry), d))
	}
	return nil
}
