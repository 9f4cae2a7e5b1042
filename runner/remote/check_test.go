package remote

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"

	"github.com/jobrun/jobrun/internal/sshtest"
	"github.com/jobrun/jobrun/runner/remote/sshconn"
)

// dialTest connects to a private sshd on this machine, which stands in for
// the GPU host: its Docker Engine is this machine's.
func dialTest(t *testing.T) *sshconn.Conn {
	srv := sshtest.Start(t)
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(srv.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := sshconn.Dial(ctx, srv.Target(), sshconn.DialOptions{ConfigFile: "none", Home: dir,
		KnownHostsFiles: []string{kh}, IdentityFiles: []string{srv.ClientKeyPath}, DisableAgent: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func byName(checks []Check) map[string]Check {
	m := map[string]Check{}
	for _, c := range checks {
		m[c.Name] = c
	}
	return m
}

func TestCheckHost(t *testing.T) {
	conn := dialTest(t)
	checks := byName(CheckHost(context.Background(), conn, DefaultDockerSocket, ""))
	if c := checks["arch"]; !c.OK || c.Detail != runtime.GOARCH {
		t.Errorf("arch = %+v", c)
	}
	if c := checks["docker"]; !c.OK || !strings.Contains(c.Detail, "API 1.") {
		t.Errorf("docker = %+v", c)
	}
	if c := checks["gpus"]; !c.OK {
		t.Errorf("gpus = %+v", c)
	}
	if c := checks["agent"]; !c.OK || !strings.Contains(c.Detail, "setsid") {
		t.Errorf("agent = %+v", c)
	}
	if c := checks["disk"]; !strings.Contains(c.Detail, "GiB free") {
		t.Errorf("disk = %+v", c)
	}
}

func TestCheckHostWithoutDocker(t *testing.T) {
	conn := dialTest(t)
	checks := byName(CheckHost(context.Background(), conn, "/nonexistent/docker.sock", ""))
	if c := checks["docker"]; c.OK || !strings.Contains(c.Detail, "cannot reach the Docker Engine at /nonexistent/docker.sock") {
		t.Errorf("docker = %+v", c)
	}
}

func TestProbeNVIDIA(t *testing.T) {
	withRuntime := &client.SystemInfoResult{}
	withRuntime.Info.Runtimes = map[string]system.RuntimeWithStatus{"nvidia": {}}
	for _, tt := range []struct {
		name, out string
		info      *client.SystemInfoResult
		want      nvidia
		ok        bool // checkGPUs passes
	}{
		{"no driver", "0\n", nil, nvidia{}, true},
		{"GPUs and the toolkit's hook", "2\nNVRM version: 550.54\n/usr/bin/nvidia-container-runtime-hook\n", nil,
			nvidia{GPUs: 2, Driver: "NVRM version: 550.54", Runtime: true}, true},
		{"GPUs, no runtime", "2\nNVRM version: 550.54\n", nil, nvidia{GPUs: 2, Driver: "NVRM version: 550.54"}, false},
		{"GPUs, an nvidia runtime in Docker", "1\nNVRM version: 550.54\n", withRuntime,
			nvidia{GPUs: 1, Driver: "NVRM version: 550.54", Runtime: true}, true},
	} {
		out := func(context.Context, string) (string, error) { return tt.out, nil }
		got, err := probeNVIDIA(context.Background(), out, tt.info)
		if err != nil || got != tt.want {
			t.Errorf("%s: %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
		if c := checkGPUs(context.Background(), out, tt.info); c.OK != tt.ok {
			t.Errorf("%s: check %+v", tt.name, c)
		}
	}
}

func TestLogindCheck(t *testing.T) {
	for _, tc := range []struct {
		probe string
		ok    bool
		say   string
	}{
		{"", true, "setsid (no systemd)"},
		{"systemd\nsystemd-run\nroot\n", true, "systemd-run --scope"},
		{"systemd\nsystemd-run\nlinger\nKillUserProcesses=yes\n", true, "systemd-run --user --scope"},
		{"systemd\nsystemd-run\n", true, "lingering is off"},
		{"systemd\nsystemd-run\nKillUserProcesses=yes\n", false, "loginctl enable-linger"},
		{"systemd\nroot\n KillUserProcesses = yes\n", false, "systemd-run is not on PATH"},
		{"systemd\nsystemd-run\nKillUserProcesses=no\n", true, "KillUserProcesses is not yes"},
	} {
		c := logindCheck(tc.probe)
		if c.OK != tc.ok || !strings.Contains(c.Detail, tc.say) {
			t.Errorf("probe %q: %+v, want ok=%v saying %q", tc.probe, c, tc.ok, tc.say)
		}
	}
}
