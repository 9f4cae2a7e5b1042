package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/runner/docker"
	"github.com/jobrun/jobrun/runner/remote"
	"github.com/jobrun/jobrun/runner/remote/agent"
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

With --host, cleans a host that ran jobs with jobrun remote the same way
(against --docker-socket there: containers whose agent is gone), and also
removes, below --remote-dir, the job directories of jobs that ended more
than --older-than ago (console log, request, uploaded inputs) and uploaded
files no job uses any more and nothing used for --older-than, and agents
of other jobrun versions installed more than --older-than ago. Runs in
<remote-dir>/runs are outputs: gc never removes them.

Examples:
   jobrun gc
   jobrun gc --dry-run
   jobrun gc --host gpu-box --older-than 72h`,
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "list what would be removed"},
			&cli.DurationFlag{Name: "older-than", Value: 7 * 24 * time.Hour, Usage: "with --host: how long ago a job ended, or an upload was last used"},
			&cli.StringFlag{Name: "docker-socket", Value: remote.DefaultDockerSocket, Usage: "with --host: the Docker Engine's socket on the host"},
			jsonFlag,
		}, hostFlags()...),
		Action: func(c *cli.Context) error {
			if c.String("host") != "" {
				return gcHost(c)
			}
			return gcHere(c.Context, newPrinter(c), c.Bool("dry-run"))
		},
	}
}

// gcLine is one removed (or, with --dry-run, removable) object.
type gcLine struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Job     string `json:"job,omitempty"`
	Removed bool   `json:"removed"`
	Bytes   int64  `json:"bytes,omitempty"`
}

func (l gcLine) text(dry bool) string {
	return fmt.Sprintf("%s %s %s", verb(dry), l.Kind, l.Name)
}

// gcHere removes what jobrun runs on this machine left behind.
func gcHere(ctx context.Context, p printer, dry bool) error {
	eng, err := docker.New(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	left, err := eng.Leftovers(ctx)
	if err != nil {
		return err
	}
	for _, l := range left {
		removed := false
		if !dry {
			if removed, err = eng.Remove(ctx, l); err != nil {
				return err
			}
			if !removed {
				continue // the shared network is still in use
			}
		}
		line := gcLine{Kind: l.Kind, Name: l.Name, Job: l.Job, Removed: removed}
		p.result("gc", line, line.text(dry))
	}
	return gcTempDirs(p, dry)
}

// gcAgent is `jobrun gc` run by the agent on a host: this machine's
// leftovers, then the agent root's old job directories and unused uploads.
func gcAgent(c *cli.Context, root string) error {
	p, dry := jsonPrinter{w: c.App.Writer}, c.Bool("dry-run") // read by gcHost
	if err := gcHere(c.Context, p, dry); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	garbage, err := agent.GC(root, c.Duration("older-than"), dry, self)
	for _, g := range garbage {
		line := gcLine{Kind: g.Kind, Name: g.Path, Job: g.Job, Removed: !dry, Bytes: g.Bytes}
		p.result("gc", line, line.text(dry))
	}
	return err
}

// gcHost runs gc on a remote host through its agent and prints its lines.
func gcHost(c *cli.Context) error {
	h, err := connectHost(c)
	if err != nil {
		return err
	}
	defer h.Close()
	args := []string{"gc", "--older-than", c.Duration("older-than").String(), "--docker-socket", c.String("docker-socket")}
	if c.Bool("dry-run") {
		args = append(args, "--dry-run")
	}
	var out bytes.Buffer
	if err := h.AgentRun(c.Context, &out, append(args, h.Root)...); err != nil {
		return err
	}
	p := newPrinter(c)
	for _, raw := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		var line gcLine
		if len(raw) == 0 || json.Unmarshal(raw, &line) != nil {
			continue
		}
		p.result("gc", line, line.text(c.Bool("dry-run")))
	}
	return nil
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
		line := gcLine{Kind: "tempdir", Name: d, Removed: !dry}
		p.result("gc", line, line.text(dry))
	}
	return nil
}
