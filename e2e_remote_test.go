package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jobrun/jobrun/internal/sshtest"
)

// TestRemoteCheck runs `jobrun remote --check` against a private sshd on
// this machine, through an ~/.ssh/config alias, as a user would.
func TestRemoteCheck(t *testing.T) {
	srv := sshtest.Start(t)
	home := srv.Home(t, "gpu-box")
	run := func(args ...string) (int, string) {
		cmd := exec.Command(jobrunBinary(t), args...)
		cmd.Env = append(os.Environ(), "HOME="+home, "SSH_AUTH_SOCK=")
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	code, out := run("remote", "--check", "--host", "gpu-box")
	if code != 0 || !strings.Contains(out, "ok   docker") || !strings.Contains(out, "ok   arch") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	code, out = run("remote", "--check", "--host", "gpu-box", "--docker-socket", "/nonexistent.sock", "--json")
	if code != 125 || !strings.Contains(out, `"name":"docker","ok":false`) {
		t.Errorf("a host without Docker: exit %d:\n%s", code, out)
	}
	// An unknown host key is refused with its fingerprint.
	os.Remove(filepath.Join(home, ".ssh", "known_hosts"))
	code, out = run("remote", "--check", "--host", "gpu-box")
	if code != 125 || !strings.Contains(out, "SHA256:") {
		t.Errorf("unknown host: exit %d:\n%s", code, out)
	}
	if code, out = run("remote", "train.yaml", "--host", "gpu-box"); code != 2 || !strings.Contains(out, "not built yet") {
		t.Errorf("running remotely: exit %d:\n%s", code, out)
	}
}
