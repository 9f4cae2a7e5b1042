package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jobrun/jobrun/spec"
)

// helperEnv makes the test binary act as `jobrun agent run DIR`: it takes
// its credentials and readiness pipes as the agent does, writes what it
// got to the console log and records an outcome.
const helperEnv = "JOBRUN_AGENT_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperAgent(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func helperAgent(args []string) int {
	if len(args) != 3 || args[0] != "agent" || args[1] != "run" {
		fmt.Fprintf(os.Stderr, "helper agent: unexpected arguments %q\n", args)
		return 2
	}
	d := Dir(args[2])
	req, console, err := Begin(d)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper agent:", err)
		return 1
	}
	fmt.Fprintf(console, "pid=%d key=%s\n", os.Getpid(), os.Getenv("AWS_ACCESS_KEY_ID"))
	console.Close()
	Finish(d, req.JobName, "", "Completed", "", nil)
	return 0
}

// fakeSystemdRun installs a systemd-run that logs its arguments and, like
// the real one with --scope, execs the command after "--" in place. With
// fail set it refuses, as a systemd-run without a reachable manager does.
func fakeSystemdRun(t *testing.T, fail bool) (logPath string) {
	t.Helper()
	bin := t.TempDir()
	logPath = filepath.Join(bin, "calls")
	script := "#!/bin/sh\necho \"$*\" >> " + logPath + "\n"
	if fail {
		script += "echo 'Failed to connect to bus: No medium found' >&2\nexit 1\n"
	} else {
		script += "while [ $# -gt 0 ]; do a=$1; shift; [ \"$a\" = -- ] && break; done\nexec \"$@\"\n"
	}
	if err := os.WriteFile(filepath.Join(bin, "systemd-run"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return logPath
}

// asSystemdHost makes the agent see a host booted with systemd, with
// lingering on for the current user.
func asSystemdHost(t *testing.T) {
	t.Helper()
	run, linger := t.TempDir(), t.TempDir()
	old1, old2 := systemdRuntimeDir, lingerDir
	systemdRuntimeDir, lingerDir = run, linger
	t.Cleanup(func() { systemdRuntimeDir, lingerDir = old1, old2 })
	name := os.Getenv("USER")
	if name == "" {
		name = "nobody"
	}
	t.Setenv("USER", name)
	os.WriteFile(filepath.Join(linger, name), nil, 0o644)
}

// startHelper starts the helper agent for a new job through Start, with
// forwarded credentials, and waits for its outcome.
func startHelper(t *testing.T) (d Dir, pid int, console, agentLog string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(helperEnv, "1")
	d = Dir(filepath.Join(t.TempDir(), "job-1"))
	env := Envelope{
		Request:     &Request{JobName: "job-1", Spec: &spec.Spec{Name: "job-1"}, ForwardCredentials: true},
		Credentials: &Credentials{AccessKeyID: "AKIDFORWARDED", SecretAccessKey: "s"},
	}
	var in bytes.Buffer
	json.NewEncoder(&in).Encode(env)
	if pid, err = Start(d, self, &in); err != nil {
		log, _ := os.ReadFile(d.Path(AgentLog))
		t.Fatalf("Start: %v; agent.log:\n%s", err, log)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if st, _ := d.State(); st == "Completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the helper agent did not record an outcome")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c, _ := os.ReadFile(d.Path(ConsoleFile))
	l, _ := os.ReadFile(d.Path(AgentLog))
	return d, pid, string(c), string(l)
}

func TestSystemdRunArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  detachEnv
		want string // "" for setsid
		why  string
	}{
		{"no systemd", detachEnv{runPath: "/usr/bin/systemd-run", root: true}, "", "not the init system"},
		{"no systemd-run", detachEnv{booted: true, root: true}, "", "not found"},
		{"root", detachEnv{booted: true, runPath: "/usr/bin/systemd-run", root: true},
			"/usr/bin/systemd-run --scope --quiet --collect", ""},
		{"user, lingering", detachEnv{booted: true, runPath: "/bin/systemd-run", lingering: true},
			"/bin/systemd-run --user --scope --quiet --collect", ""},
		{"user, no lingering", detachEnv{booted: true, runPath: "/bin/systemd-run"}, "", "enable-linger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args, why := tc.env.systemdRun()
			if got := strings.Join(args, " "); got != tc.want {
				t.Errorf("args %q, want %q", got, tc.want)
			}
			if tc.why != "" && !strings.Contains(why, tc.why) {
				t.Errorf("why %q, want it to say %q", why, tc.why)
			}
		})
	}
}

// TestStartUnderSystemdRun: on a systemd host the agent is started
// through systemd-run in a scope named after the job; systemd-run's
// exec in place keeps the PID and the pipes, so the credentials arrive
// and the PID recorded is the agent's.
func TestStartUnderSystemdRun(t *testing.T) {
	asSystemdHost(t)
	calls := fakeSystemdRun(t, false)
	d, pid, console, _ := startHelper(t)
	if !strings.Contains(console, "pid="+strconv.Itoa(pid)+" ") || !strings.Contains(console, "key=AKIDFORWARDED") {
		t.Errorf("the agent's view (pid %d): %q", pid, console)
	}
	data, _ := os.ReadFile(calls)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	user := ""
	if os.Geteuid() != 0 {
		user = "--user "
	}
	want := []string{
		user + "--scope --quiet --collect -- true",
		user + "--scope --quiet --collect --unit=jobrun-job-1 --description=jobrun agent of job-1 -- ",
	}
	if len(lines) != 2 || lines[0] != want[0] || !strings.HasPrefix(lines[1], want[1]) ||
		!strings.HasSuffix(lines[1], " agent run "+string(d)) {
		t.Errorf("systemd-run calls:\n%s\nwant:\n%s", data, strings.Join(want, "\n"))
	}
}

// TestStartFallsBackToSetsid: where systemd-run cannot start a scope
// (no bus, denied) the agent starts with setsid and agent.log says why;
// where systemd is not the init system systemd-run is not tried.
func TestStartFallsBackToSetsid(t *testing.T) {
	t.Run("systemd-run fails", func(t *testing.T) {
		asSystemdHost(t)
		calls := fakeSystemdRun(t, true)
		_, pid, console, log := startHelper(t)
		if !strings.Contains(console, "pid="+strconv.Itoa(pid)+" key=AKIDFORWARDED") {
			t.Errorf("the agent's view (pid %d): %q", pid, console)
		}
		if !strings.Contains(log, "detached with setsid, not systemd-run") || !strings.Contains(log, "No medium found") {
			t.Errorf("agent.log does not say why: %q", log)
		}
		data, _ := os.ReadFile(calls)
		if n := len(slices.DeleteFunc(strings.Split(string(data), "\n"), func(s string) bool { return s == "" })); n != 1 {
			t.Errorf("systemd-run called %d times, want only the probe:\n%s", n, data)
		}
	})
	t.Run("no systemd", func(t *testing.T) {
		old := systemdRuntimeDir
		systemdRuntimeDir = filepath.Join(t.TempDir(), "absent")
		t.Cleanup(func() { systemdRuntimeDir = old })
		calls := fakeSystemdRun(t, false)
		_, _, console, log := startHelper(t)
		if !strings.Contains(console, "key=AKIDFORWARDED") || !strings.Contains(log, "not the init system") {
			t.Errorf("console %q, agent.log %q", console, log)
		}
		if _, err := os.Stat(calls); err == nil {
			t.Error("systemd-run was called on a host without systemd")
		}
	})
}
