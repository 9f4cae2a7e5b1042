package sshtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if left := Leftovers(); code == 0 && len(left) > 0 {
		fmt.Fprintln(os.Stderr, "FAIL: tests left behind:", strings.Join(left, "; "))
		code = 1
	}
	os.Exit(code)
}

func dial(t *testing.T, s *Server) *ssh.Client {
	t.Helper()
	c, err := ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(s.ClientSigner)},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey),
		Timeout:         5 * time.Second,
	})
	if err != nil {
		t.Fatalf("dial %s: %v", s.Addr, err)
	}
	return c
}

func runCmd(t *testing.T, c *ssh.Client, cmd string) string {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.CombinedOutput(cmd)
	if err != nil {
		t.Fatalf("%s: %v: %s", cmd, err, out)
	}
	return string(out)
}

func TestStartAndStop(t *testing.T) {
	start := time.Now()
	s := Start(t)
	t.Logf("sshd ready in %v on %s", time.Since(start), s.Addr)
	if !strings.HasPrefix(s.Addr, "127.0.0.2:") {
		t.Errorf("Addr = %q", s.Addr)
	}
	c := dial(t, s)
	if got := runCmd(t, c, "echo hello"); got != "hello\n" {
		t.Errorf("echo: %q", got)
	}
	// A command left running belongs to the server and dies with it.
	sess, _ := c.NewSession()
	if err := sess.Start("sleep 300"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	pids := s.Processes()
	if len(pids) < 3 {
		t.Fatalf("Processes() = %v; want the listener, a connection handler and sleep", pids)
	}
	s.Stop()
	for _, pid := range pids {
		if Alive(pid) {
			t.Errorf("process %d survived Stop", pid)
		}
	}
	if err := sess.Wait(); err == nil {
		t.Error("session survived Stop")
	}
	c.Close()

	s.Restart(t)
	c = dial(t, s)
	defer c.Close()
	if got := runCmd(t, c, "echo again"); got != "again\n" {
		t.Errorf("after Restart: %q", got)
	}
}

func TestKillConnections(t *testing.T) {
	s := Start(t)
	c := dial(t, s)
	defer c.Close()
	s.KillConnections()
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open after KillConnections")
	}
	c2 := dial(t, s)
	defer c2.Close()
	runCmd(t, c2, "true")
}

func TestHome(t *testing.T) {
	s := Start(t)
	home := s.Home(t, "box")
	cfg, err := os.ReadFile(home + "/.ssh/config")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), "Host box\n") || !strings.Contains(string(cfg), s.ClientKeyPath) {
		t.Errorf("config:\n%s", cfg)
	}
	kh, err := os.ReadFile(home + "/.ssh/known_hosts")
	if err != nil {
		t.Fatal(err)
	}
	if string(kh) != s.KnownHostsLine()+"\n" {
		t.Errorf("known_hosts = %q", kh)
	}
	if !strings.HasPrefix(s.KnownHostsLine(), "[127.0.0.2]:") {
		t.Errorf("KnownHostsLine = %q", s.KnownHostsLine())
	}
}

// The OpenSSH client accepts what Home writes: config, key, known_hosts.
func TestHomeWithOpenSSHClient(t *testing.T) {
	if _, err := os.Stat("/usr/bin/ssh"); err != nil {
		t.Skip("no OpenSSH client (only the server is required)")
	}
	s := Start(t)
	home := s.Home(t, "box")
	out, err := execOut("/usr/bin/ssh", "-F", home+"/.ssh/config",
		"-o", "UserKnownHostsFile="+home+"/.ssh/known_hosts",
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "box", "echo", "ok")
	if err != nil || out != "ok\n" {
		t.Fatalf("ssh box: %v: %s", err, out)
	}
}

func TestNetnsCutAndRestore(t *testing.T) {
	start := time.Now()
	s := Start(t, InNetns())
	t.Logf("netns + sshd ready in %v on %s (%s, %s)", time.Since(start), s.Addr, s.Netns(), s.HostVeth())
	c := dial(t, s)
	defer c.Close()
	runCmd(t, c, "true")

	if err := s.CutLink(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", s.Addr, 500*time.Millisecond); err == nil {
		t.Error("a new TCP connection got through a cut link")
	}
	// An established connection hangs: no error, no answer.
	reply := make(chan error, 1)
	go func() {
		_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
		reply <- err
	}()
	select {
	case err := <-reply:
		t.Fatalf("request over a cut link returned %v", err)
	case <-time.After(time.Second):
	}
	if err := s.RestoreLink(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-reply:
		if err != nil {
			t.Fatalf("after RestoreLink: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reply 10 s after RestoreLink")
	}
	runCmd(t, c, "true")
}

// Close leaves no namespace, veth or process behind, even with a
// connection hanging on a cut link.
func TestNetnsCleanup(t *testing.T) {
	var s *Server
	var pids []int
	t.Run("inner", func(t *testing.T) {
		s = Start(t, InNetns())
		c := dial(t, s)
		sess, _ := c.NewSession()
		if err := sess.Start("sleep 300"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		pids = s.Processes()
		left := strings.Join(Leftovers(), "; ")
		for _, want := range []string{"sshd on " + s.Addr, "network namespace " + s.Netns(), "veth " + s.HostVeth(), "route blackhole"} {
			if !strings.Contains(left, want) {
				t.Errorf("Leftovers() lacks %q while the server runs: %s", want, left)
			}
		}
		if err := s.CutLink(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	})
	if _, err := os.Stat("/run/netns/" + s.Netns()); !os.IsNotExist(err) {
		t.Errorf("namespace %s still there: %v", s.Netns(), err)
	}
	if linkExists(s.HostVeth()) {
		t.Errorf("veth %s still there", s.HostVeth())
	}
	if routeExists(s.netns.cidr) {
		t.Errorf("route %s left", s.netns.cidr)
	}
	if len(pids) < 3 {
		t.Errorf("Processes() = %v; want at least the listener, a handler and sleep", pids)
	}
	for _, pid := range pids {
		if Alive(pid) {
			t.Errorf("process %d survived", pid)
		}
	}
}

func TestTwoNetnsServers(t *testing.T) {
	a, b := Start(t, InNetns()), Start(t, InNetns())
	if a.Host == b.Host {
		t.Fatalf("both on %s", a.Host)
	}
	if err := a.CutLink(); err != nil {
		t.Fatal(err)
	}
	c := dial(t, b)
	defer c.Close()
	runCmd(t, c, "true")
}

func execOut(name string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
