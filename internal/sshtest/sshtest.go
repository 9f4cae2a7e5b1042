// Package sshtest runs a real, private OpenSSH server (Debian's
// openssh-server) for tests that need an SSH host.
//
//	func TestRun(t *testing.T) {
//		srv := sshtest.Start(t) // stopped in t.Cleanup
//		home := srv.Home(t, "gpu-box") // ~/.ssh/config + known_hosts for alias "gpu-box"
//		...dial "gpu-box" with HOME=home, or srv.Target() with srv.ClientKeyPath...
//	}
//
// Each server has its own configuration, an ed25519 host key and an ed25519
// client key generated for it (the client key is the only authorized key),
// listens on a free port of 127.0.0.2, logs to LogFile and allows TCP and
// Unix-socket forwarding. Tests run as root, so the server lets root in.
// Sessions get SHLVL=1, which keeps bash from sourcing ~/.bashrc for every
// command (see WithUserRC).
//
// With InNetns the server runs in a network namespace of its own, reached
// from the test through a veth pair on a private /30 (10.213.x.y) that
// exists only between the two namespaces the harness created. CutLink takes
// the test side of the pair down: packets vanish silently, the way a laptop
// that lost its network sees its SSH connections hang; RestoreLink brings
// it back.
//
// Cleanup kills the server, every process it started (connection handlers,
// commands run by clients) and, with InNetns, every process left in the
// namespace, then deletes the namespace and its veth pair.
//
// /usr/sbin/sshd must be installed, and iproute2's ip for InNetns; Start
// fails the test (it does not skip) when they are missing, naming
// InstallCommand. .ci/install-sshd.sh installs both.
package sshtest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobrun/jobrun/internal/testproc"

	"golang.org/x/crypto/ssh"
)

// InstallCommand installs what this package needs on Debian.
const InstallCommand = "apt-get update && apt-get install -y openssh-server iproute2 (or run .ci/install-sshd.sh as root)"

// SSHD is the server binary. sshd re-executes itself for every connection
// and insists on an absolute path.
const SSHD = "/usr/sbin/sshd"

const (
	readyTimeout = 10 * time.Second // from exec to the SSH banner
	stopTimeout  = 5 * time.Second  // SIGTERM, then SIGKILL
	netnsPort    = 2222             // inside a namespace every port is free
)

// Option configures Start.
type Option func(*options)

type options struct {
	netns  bool
	config []string
	listen string
	userRC bool
}

// InNetns runs the server in a network namespace of its own, reached
// through a veth pair, so that CutLink and RestoreLink can cut it off.
func InNetns() Option { return func(o *options) { o.netns = true } }

// WithConfig adds sshd_config lines. They are written before the harness's
// own settings, and for most keywords sshd keeps the first value it reads,
// so these lines override the defaults (e.g. "ClientAliveInterval 1").
func WithConfig(lines ...string) Option {
	return func(o *options) { o.config = append(o.config, lines...) }
}

// WithUserRC lets the login shell read the user's startup files as it
// normally would. By default the server sets SHLVL=1 in sessions, which
// stops bash from sourcing ~/.bashrc for commands run over SSH: on a
// development machine that file can be slow (pyenv init takes over a
// second here), which would make every command that slow.
func WithUserRC() Option { return func(o *options) { o.userRC = true } }

// WithListenAddress makes the server listen on addr (an IP of this
// machine's loopback, e.g. 127.0.0.3) instead of 127.0.0.2. Ignored with
// InNetns.
func WithListenAddress(addr string) Option { return func(o *options) { o.listen = addr } }

// Server is a running (or stopped) private sshd.
type Server struct {
	// Host is the address clients dial: 127.0.0.2, or the namespace's end
	// of the veth pair (10.213.x.2) with InNetns.
	Host string
	// Port is the port sshd listens on.
	Port int
	// Addr is Host:Port.
	Addr string
	// User is the account tests log in as: the user running the test.
	User string
	// HostKey is the server's public host key.
	HostKey ssh.PublicKey
	// HostKeyPath is the private host key file (OpenSSH format).
	HostKeyPath string
	// ClientKeyPath is an unencrypted ed25519 private key in OpenSSH format
	// whose public half (ClientKeyPath + ".pub") is the server's only
	// authorized key.
	ClientKeyPath string
	// ClientSigner is the same client key, parsed.
	ClientSigner ssh.Signer
	// Dir holds the server's files: sshd_config, keys, pid file.
	Dir string
	// ConfigPath is the sshd_config file.
	ConfigPath string
	// LogFile receives sshd's log (-E).
	LogFile string

	netns *netns // nil unless InNetns

	mu   sync.Mutex
	proc *testproc.Process // nil when stopped
}

// Start starts a server for the test and stops it, with everything it
// started, in t.Cleanup. It fails the test if sshd is not installed or does
// not come up.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := checkInstalled(o.netns); err != nil {
		t.Fatal(err)
	}
	s, err := newServer(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	registry.addServer(s)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sshtest: sshd log %s ends with:\n%s", s.LogFile, s.LogTail())
		}
		if err := s.Close(); err != nil {
			t.Errorf("sshtest: cleanup: %v", err)
		}
	})
	if o.netns {
		if s.netns, err = newNetns(); err != nil {
			t.Fatal(err)
		}
		s.Host, s.Port = s.netns.nsIP, netnsPort
	}
	if err := s.startFresh(o); err != nil {
		t.Fatal(err)
	}
	return s
}

func checkInstalled(netns bool) error {
	if _, err := os.Stat(SSHD); err != nil {
		return fmt.Errorf("sshtest: %s is missing (%v); install it: %s", SSHD, err, InstallCommand)
	}
	if netns {
		if _, err := exec.LookPath("ip"); err != nil {
			return fmt.Errorf("sshtest: the ip command (iproute2) is missing; install it: %s", InstallCommand)
		}
	}
	return nil
}

func newServer(dir string, o options) (*Server, error) {
	u, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("sshtest: current user: %w", err)
	}
	s := &Server{
		Host:        "127.0.0.2",
		User:        u.Username,
		Dir:         dir,
		ConfigPath:  filepath.Join(dir, "sshd_config"),
		LogFile:     filepath.Join(dir, "sshd.log"),
		HostKeyPath: filepath.Join(dir, "ssh_host_ed25519_key"),
	}
	if o.listen != "" {
		s.Host = o.listen
	}
	hostSigner, err := writeKey(s.HostKeyPath, "sshtest host key")
	if err != nil {
		return nil, err
	}
	s.HostKey = hostSigner.PublicKey()
	s.ClientKeyPath = filepath.Join(dir, "id_ed25519")
	if s.ClientSigner, err = writeKey(s.ClientKeyPath, "sshtest client key"); err != nil {
		return nil, err
	}
	auth := ssh.MarshalAuthorizedKey(s.ClientSigner.PublicKey())
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), auth, 0o600); err != nil {
		return nil, fmt.Errorf("sshtest: %w", err)
	}
	// sshd's privilege separation directory; Debian creates it only when
	// the service starts.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, fmt.Errorf("sshtest: %w", err)
	}
	return s, nil
}

// startFresh writes the configuration and starts sshd, trying other ports
// when the one picked was taken in between (not needed in a namespace).
func (s *Server) startFresh(o options) error {
	var err error
	for range 5 {
		if s.netns == nil {
			if s.Port, err = freePort(s.Host); err != nil {
				return err
			}
		}
		s.Addr = net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
		if err = os.WriteFile(s.ConfigPath, []byte(s.config(o)), 0o600); err != nil {
			return fmt.Errorf("sshtest: %w", err)
		}
		if err = s.launch(); err == nil || !errors.Is(err, testproc.ErrExited) || s.netns != nil {
			return err
		}
	}
	return err
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("sshtest: finding a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// config is the sshd_config text. Extra lines come first: sshd keeps the
// first value of most keywords.
func (s *Server) config(o options) string {
	var b strings.Builder
	b.WriteString("# written by internal/sshtest\n")
	for _, l := range o.config {
		b.WriteString(l + "\n")
	}
	if !o.userRC {
		// bash sources ~/.bashrc for commands run by sshd only when
		// SHLVL < 2 once it counted itself.
		b.WriteString("SetEnv SHLVL=1\n")
	}
	fmt.Fprintf(&b, "ListenAddress %s\n", s.Addr)
	fmt.Fprintf(&b, "HostKey %s\n", s.HostKeyPath)
	fmt.Fprintf(&b, "PidFile %s\n", filepath.Join(s.Dir, "sshd.pid"))
	fmt.Fprintf(&b, "AuthorizedKeysFile %s\n", filepath.Join(s.Dir, "authorized_keys"))
	b.WriteString(`PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
UsePAM no
StrictModes no
PermitRootLogin yes
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
UseDNS no
PrintMotd no
PrintLastLog no
ClientAliveInterval 5
ClientAliveCountMax 3
MaxSessions 64
MaxStartups 64:30:128
LogLevel VERBOSE
Subsystem sftp internal-sftp
`)
	return b.String()
}

// launch starts sshd with the written configuration and waits until it
// sends its banner.
func (s *Server) launch() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return errors.New("sshtest: server already running")
	}
	args := []string{SSHD, "-D", "-f", s.ConfigPath, "-E", s.LogFile}
	if s.netns != nil {
		args = append([]string{"ip", "netns", "exec", s.netns.name}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	// sshd -D -E logs nothing to stdout/stderr but fatal start-up errors,
	// which it also writes to the log file.
	out, err := os.OpenFile(s.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("sshtest: %w", err)
	}
	defer out.Close()
	fmt.Fprintf(out, "=== sshtest: starting sshd on %s at %s\n", s.Addr, time.Now().Format(time.RFC3339Nano))
	cmd.Stdout, cmd.Stderr = out, out
	p, err := testproc.Start(cmd)
	if err != nil {
		return fmt.Errorf("sshtest: starting %s: %w", SSHD, err)
	}
	if err := waitBanner(s.Addr, p); err != nil {
		p.Terminate(0)
		return fmt.Errorf("sshtest: sshd on %s: %w\nlog %s:\n%s", s.Addr, err, s.LogFile, s.LogTail())
	}
	s.proc = p
	return nil
}

// waitBanner polls addr until an SSH server answers with its banner, the
// process exits, or readyTimeout passes.
func waitBanner(addr string, p *testproc.Process) error {
	deadline := time.Now().Add(readyTimeout)
	var err error
	for time.Now().Before(deadline) {
		if err := p.Exited(); err != nil {
			return err
		}
		if err = readBanner(addr); err == nil {
			return nil
		}
		select {
		case <-p.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("no SSH banner after %v: %v", readyTimeout, err)
}

func readBanner(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading banner: %w", err)
	}
	if !strings.HasPrefix(line, "SSH-2.0-") {
		return fmt.Errorf("not an SSH banner: %q", line)
	}
	return nil
}

// Stop stops the server and kills every process it started: the
// connections it serves end at once. Stopping a stopped server does
// nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	killAll(s.processes())
	s.proc.Terminate(stopTimeout)
	s.proc = nil
}

// Restart stops the server if it runs and starts it again on the same
// address with the same keys and configuration.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := testproc.Retry(s.launch, readyTimeout); err != nil {
		t.Fatalf("sshtest: restart: %v", err)
	}
}

// KillConnections kills the processes serving the current connections (and
// whatever commands they run), as a server crash or reboot would: clients
// see their connections closed (not a silent hang). The server keeps
// accepting new connections.
func (s *Server) KillConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	var pids []int
	for _, pid := range s.processes() {
		if pid != s.proc.Pid() {
			pids = append(pids, pid)
		}
	}
	killAll(pids)
}

// Processes lists the running processes that belong to the server: the
// listener, its descendants (connection handlers, users' commands) and,
// with InNetns, every process in the namespace.
func (s *Server) Processes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.processes()
}

func (s *Server) processes() []int {
	if s.proc == nil {
		return nil
	}
	pids := descendants(s.proc.Pid())
	if s.netns != nil {
		pids = union(pids, s.netns.pids())
	}
	return pids
}

// Close stops the server and, with InNetns, removes the namespace and the
// veth pair. Start registers it with t.Cleanup.
func (s *Server) Close() error {
	s.Stop()
	if s.netns == nil {
		return nil
	}
	return s.netns.delete()
}

// LogTail returns the end of sshd's log.
func (s *Server) LogTail() string { return testproc.Tail(s.LogFile) }

// Log returns sshd's whole log.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.LogFile)
	return string(b)
}
