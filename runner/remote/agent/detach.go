package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// How the agent is detached from the SSH session that starts it. setsid
// alone keeps it out of the session's SIGHUP, but not out of the login's
// systemd cgroup: a logind with KillUserProcesses=yes would kill it when
// that login ends. Where systemd runs the host, the agent therefore moves
// into a scope unit of its own (`systemd-run --scope`, which registers the
// scope and then execs the command in place: same PID, same inherited
// pipes). It is the system manager's when the agent runs as root, and the
// user manager's when the user has lingering on; without lingering the
// user manager itself stops at the last logout, so a user scope would be
// no better than setsid.
type detachEnv struct {
	booted    bool   // systemd is the init system (/run/systemd/system exists)
	runPath   string // path of systemd-run, "" if not found
	root      bool   // running as root
	lingering bool   // the user has lingering on (/var/lib/systemd/linger/USER)
}

// Where the facts come from; variables so that tests can stand in for a
// systemd host.
var (
	systemdRuntimeDir = "/run/systemd/system"
	lingerDir         = "/var/lib/systemd/linger"
)

func currentDetachEnv() detachEnv {
	var e detachEnv
	if fi, err := os.Stat(systemdRuntimeDir); err == nil && fi.IsDir() {
		e.booted = true // sd_booted()'s test
	}
	if !e.booted {
		return e
	}
	e.runPath, _ = exec.LookPath("systemd-run")
	e.root = os.Geteuid() == 0
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if name != "" {
		_, err := os.Stat(filepath.Join(lingerDir, name))
		e.lingering = err == nil
	}
	return e
}

// systemdRun returns the start of a systemd-run command line that runs
// a command in a scope of its own, or nil and why not.
func (e detachEnv) systemdRun() ([]string, string) {
	switch {
	case !e.booted:
		return nil, "systemd is not the init system"
	case e.runPath == "":
		return nil, "systemd-run was not found on PATH"
	case !e.root && !e.lingering:
		return nil, "lingering is off for this user (loginctl enable-linger), so a user scope would end at logout too"
	}
	args := []string{e.runPath}
	if !e.root {
		args = append(args, "--user")
	}
	return append(args, "--scope", "--quiet", "--collect"), ""
}

// detachedCommand returns the agent's command for job directory d: under
// systemd-run when that works here (tried once with `true`, since a user
// manager without a reachable bus or a denied system manager fails only
// when asked), else plain, for setsid. Why not systemd-run goes to log.
func detachedCommand(d Dir, self string, log io.Writer) *exec.Cmd {
	agentArgs := []string{self, "agent", "run", string(d)}
	sdRun, why := currentDetachEnv().systemdRun()
	if sdRun != nil && strings.Contains(string(d)+self, "$") {
		// Newer systemd-run expands $VARIABLES in the command line.
		sdRun, why = nil, "the command line holds a $"
	}
	if sdRun != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		probe := append(slices.Clip(sdRun), "--", "true")
		if out, err := exec.CommandContext(ctx, probe[0], probe[1:]...).CombinedOutput(); err != nil {
			sdRun, why = nil, fmt.Sprintf("%s failed: %v: %s", strings.Join(probe, " "), err, strings.TrimSpace(string(out)))
		}
	}
	if sdRun == nil {
		fmt.Fprintf(log, "jobrun agent: detached with setsid, not systemd-run: %s\n", why)
		return exec.Command(self, agentArgs[1:]...)
	}
	job := filepath.Base(string(d))
	args := append(slices.Clip(sdRun), "--unit=jobrun-"+job, "--description=jobrun agent of "+job, "--")
	args = append(args, agentArgs...)
	return exec.Command(args[0], args[1:]...)
}
