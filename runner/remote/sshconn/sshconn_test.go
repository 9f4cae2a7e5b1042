package sshconn_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/jobrun/jobrun/internal/syncbuf"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jobrun/jobrun/internal/sshtest"
	"github.com/jobrun/jobrun/runner/remote/sshconn"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// TestMain fails the package when a test left an sshd, a network
// namespace, a veth pair or a route behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if left := sshtest.Leftovers(); code == 0 && len(left) > 0 {
		fmt.Fprintln(os.Stderr, "FAIL: tests left behind:", strings.Join(left, "; "))
		code = 1
	}
	os.Exit(code)
}

// options are hermetic DialOptions for srv: no config file, no agent, a
// known_hosts file holding srv's key, srv's client key.
func options(t *testing.T, srv *sshtest.Server) sshconn.DialOptions {
	t.Helper()
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(srv.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return sshconn.DialOptions{
		ConfigFile:      "none",
		Home:            dir,
		KnownHostsFiles: []string{kh},
		IdentityFiles:   []string{srv.ClientKeyPath},
		DisableAgent:    true,
	}
}

func dial(t *testing.T, srv *sshtest.Server, opts sshconn.DialOptions) *sshconn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	c, err := sshconn.Dial(ctx, srv.Target(), opts)
	if err != nil {
		t.Fatalf("Dial(%s): %v", srv.Target(), err)
	}
	t.Logf("dial %s: %v", srv.Target(), time.Since(start))
	t.Cleanup(func() { c.Close() })
	return c
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRun(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t)
	c := dial(t, srv, options(t, srv))
	ctx := testContext(t)
	for _, tc := range []struct {
		cmd, stdin, stdout, stderr string
		code                       int
	}{
		{cmd: "echo hi; echo err >&2", stdout: "hi\n", stderr: "err\n"},
		{cmd: "exit 42", code: 42},
		{cmd: "cat; echo", stdin: "from stdin", stdout: "from stdin\n"},
		{cmd: "kill -TERM $$", code: 128 + 15},
		{cmd: "no-such-command-xyz", code: 127},
	} {
		var stdout, stderr bytes.Buffer
		var stdin io.Reader
		if tc.stdin != "" {
			stdin = strings.NewReader(tc.stdin)
		}
		code, err := c.Run(ctx, tc.cmd, stdin, &stdout, &stderr)
		if err != nil || code != tc.code || stdout.String() != tc.stdout ||
			(tc.stderr != "" && stderr.String() != tc.stderr) {
			t.Errorf("Run(%q) = %d, %v, stdout %q, stderr %q; want %d, %q, %q",
				tc.cmd, code, err, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
	if out, err := c.Output(ctx, "echo $((6*7))"); out != "42\n" || err != nil {
		t.Errorf("Output = %q, %v", out, err)
	}
	if _, err := c.Output(ctx, "echo oops >&2; exit 3"); err == nil || !strings.Contains(err.Error(), "exit status 3: oops") {
		t.Errorf("Output of a failing command: %v", err)
	}
	arch, err := c.Arch(ctx)
	if err != nil || arch != runtime.GOARCH {
		t.Errorf("Arch = %q, %v; want %q", arch, err, runtime.GOARCH)
	}
}

// Cancelling Run's context returns at once and stops the output; a
// command that writes output dies of SIGPIPE (root logins get no signals
// from sshd, see Conn.Run).
func TestRunCancel(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t)
	c := dial(t, srv, options(t, srv))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncbuf.Buffer
	marker := "sh -c while :; do echo tick; sleep 0.1; done"
	go func() {
		time.Sleep(700 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	_, err := c.Run(ctx, "exec sh -c 'while :; do echo tick; sleep 0.1; done'", nil, &out, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v; want the context's error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Run returned %v after it started, 700 ms after its context ended", d)
	}
	n := out.Len()
	if n == 0 {
		t.Error("no output before the cancel")
	}
	deadline := time.Now().Add(5 * time.Second)
	for running(srv, marker) {
		if time.Now().After(deadline) {
			t.Fatal("the command still runs on the host")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out.Len() != n {
		t.Errorf("output written after Run returned: %d bytes, then %d", n, out.Len())
	}
	// The connection is still good.
	if code, err := c.Run(testContext(t), "true", nil, nil, nil); code != 0 || err != nil {
		t.Errorf("Run after a cancel: %d, %v", code, err)
	}
}

// running reports whether one of srv's processes runs cmdline.
func running(srv *sshtest.Server, cmdline string) bool {
	for _, pid := range srv.Processes() {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Join(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), " ") == cmdline {
			return true
		}
	}
	return false
}

func TestUnknownHostRefused(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t)
	opts := options(t, srv)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	opts.KnownHostsFiles = []string{kh}
	for _, policy := range []sshconn.HostKeyPolicy{sshconn.HostKeyFromConfig, sshconn.HostKeyStrict} {
		opts.HostKeyPolicy = policy
		_, err := sshconn.Dial(testContext(t), srv.Target(), opts)
		var hke *sshconn.HostKeyError
		if !errors.As(err, &hke) || !hke.Unknown() || hke.Changed() {
			t.Fatalf("Dial to an unknown host: %v; want an unknown-host *HostKeyError", err)
		}
		msg := err.Error()
		for _, want := range []string{
			"not a known host",
			ssh.FingerprintSHA256(srv.HostKey),
			fmt.Sprintf("ssh-keyscan -p %d -t ed25519 %s >> %s", srv.Port, srv.Host, kh),
			"--accept-new-host-key",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("message lacks %q:\n%s", want, msg)
			}
		}
		t.Logf("policy %d:\n%s", policy, msg)
	}
	if _, err := os.Stat(kh); !os.IsNotExist(err) {
		t.Errorf("known_hosts was written: %v", err)
	}
	// A config asking for accept-new is overridden by HostKeyStrict.
	cfg := filepath.Join(t.TempDir(), "config")
	os.WriteFile(cfg, []byte("Host *\n  StrictHostKeyChecking accept-new\n"), 0o600)
	opts.ConfigFile = cfg
	if _, err := sshconn.Dial(testContext(t), srv.Target(), opts); err == nil {
		t.Error("HostKeyStrict accepted an unknown host")
	}
}

func TestAcceptNewHostKey(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t)
	opts := options(t, srv)
	kh := filepath.Join(t.TempDir(), "new-dir", "known_hosts")
	opts.KnownHostsFiles = []string{kh}
	opts.HostKeyPolicy = sshconn.HostKeyAcceptNew
	c := dial(t, srv, opts)
	c.Close()
	b, err := os.ReadFile(kh)
	if err != nil || string(b) != srv.KnownHostsLine()+"\n" {
		t.Fatalf("known_hosts = %q, %v; want %q", b, err, srv.KnownHostsLine())
	}
	// Now known: strict mode accepts it, and nothing more is added.
	opts.HostKeyPolicy = sshconn.HostKeyStrict
	dial(t, srv, opts).Close()
	if b2, _ := os.ReadFile(kh); !bytes.Equal(b, b2) {
		t.Errorf("known_hosts changed on a known host: %q", b2)
	}
}

// StrictHostKeyChecking accept-new and HashKnownHosts from ssh_config; the
// hashed line is one OpenSSH's client accepts too.
func TestAcceptNewFromConfigHashed(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t)
	home := t.TempDir()
	kh := filepath.Join(home, ".ssh", "known_hosts")
	cfg := filepath.Join(home, ".ssh", "config")
	os.MkdirAll(filepath.Dir(cfg), 0o700)
	os.WriteFile(cfg, []byte("Host *\n  StrictHostKeyChecking accept-new\n  HashKnownHosts yes\n"), 0o600)
	opts := sshconn.DialOptions{Home: home, ConfigFile: cfg, IdentityFiles: []string{srv.ClientKeyPath}, DisableAgent: true}
	dial(t, srv, opts).Close()
	b, err := os.ReadFile(kh)
	if err != nil || !strings.HasPrefix(string(b), "|1|") || strings.Contains(string(b), srv.Host) {
		t.Fatalf("known_hosts = %q, %v; want one hashed line", b, err)
	}
	opts.HostKeyPolicy = sshconn.HostKeyStrict
	dial(t, srv, opts).Close()
	out, err := exec.Command("ssh", "-F", "none", "-i", srv.ClientKeyPath, "-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile="+kh, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
		"-p", fmt.Sprint(srv.Port), srv.User+"@"+srv.Host, "echo", "ok").CombinedOutput()
	if err != nil || string(out) != "ok\n" {
		t.Errorf("OpenSSH with our hashed known_hosts: %v: %s", err, out)
	}
}

func TestChangedHostKeyRefused(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t)
	opts := options(t, srv)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	otherSigner, _ := ssh.NewSignerFromKey(other)
	kh := opts.KnownHostsFiles[0]
	line := "# comment\n" + knownhosts.Line([]string{srv.KnownHostsName()}, otherSigner.PublicKey()) + "\n"
	os.WriteFile(kh, []byte(line), 0o600)
	for _, policy := range []sshconn.HostKeyPolicy{sshconn.HostKeyFromConfig, sshconn.HostKeyAcceptNew} {
		opts.HostKeyPolicy = policy
		_, err := sshconn.Dial(testContext(t), srv.Target(), opts)
		var hke *sshconn.HostKeyError
		if !errors.As(err, &hke) || !hke.Changed() {
			t.Fatalf("policy %d: Dial with a changed key: %v; want a changed-key *HostKeyError", policy, err)
		}
		msg := err.Error()
		for _, want := range []string{
			"REMOTE HOST IDENTIFICATION HAS CHANGED",
			ssh.FingerprintSHA256(srv.HostKey),
			ssh.FingerprintSHA256(otherSigner.PublicKey()),
			kh + ":2",
			fmt.Sprintf("ssh-keygen -R '%s' -f %s", srv.KnownHostsName(), kh),
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("message lacks %q:\n%s", want, msg)
			}
		}
		if policy == sshconn.HostKeyAcceptNew {
			t.Logf("\n%s", msg)
		}
	}
	if b, _ := os.ReadFile(kh); string(b) != line {
		t.Errorf("known_hosts was modified: %q", b)
	}
}

// A host with several host keys presents the type known_hosts holds, not
// the one it (or x/crypto) prefers, which would look like a changed key.
func TestHostWithSeveralKeys(t *testing.T) {
	t.Parallel()
	ecdsaPath := filepath.Join(t.TempDir(), "ssh_host_ecdsa_key")
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	block, _ := ssh.MarshalPrivateKey(priv, "")
	os.WriteFile(ecdsaPath, pem.EncodeToMemory(block), 0o600)
	srv := sshtest.Start(t, sshtest.WithConfig("HostKey "+ecdsaPath))
	dial(t, srv, options(t, srv)) // known_hosts holds the ed25519 key only

	// Knowing only the ECDSA key works the same way.
	ecdsaSigner, _ := ssh.NewSignerFromKey(priv)
	opts := options(t, srv)
	os.WriteFile(opts.KnownHostsFiles[0], []byte(knownhosts.Line([]string{srv.KnownHostsName()}, ecdsaSigner.PublicKey())+"\n"), 0o600)
	dial(t, srv, opts)
}

func TestSSHConfigAlias(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t)
	home := srv.Home(t, "gpu-box") // HostName, Port, User, IdentityFile
	c, err := sshconn.Dial(testContext(t), "gpu-box", sshconn.DialOptions{Home: home, DisableAgent: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ep := c.Endpoint()
	if ep.HostName != srv.Host || ep.Port != srv.Port || ep.User != srv.User || ep.IdentityFiles[0] != srv.ClientKeyPath {
		t.Errorf("Endpoint = %+v", ep)
	}
	if out, err := c.Output(testContext(t), "echo ok"); out != "ok\n" || err != nil {
		t.Errorf("Output = %q, %v", out, err)
	}
}

// With zero options Dial reads $HOME/.ssh and $SSH_AUTH_SOCK, as ssh does.
func TestDefaultsFromEnvironment(t *testing.T) {
	srv := sshtest.Start(t)
	t.Setenv("HOME", srv.Home(t, "gpu-box"))
	t.Setenv("SSH_AUTH_SOCK", "")
	c, err := sshconn.Dial(testContext(t), "gpu-box", sshconn.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// serveAgent runs an in-memory ssh-agent holding keys on a socket.
func serveAgent(t *testing.T, keys ...any) string {
	t.Helper()
	kr := agent.NewKeyring()
	for _, k := range keys {
		if err := kr.Add(agent.AddedKey{PrivateKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = agent.ServeAgent(kr, c)
			}()
		}
	}()
	return sock
}

func clientKey(t *testing.T, srv *sshtest.Server) any {
	t.Helper()
	b, err := os.ReadFile(srv.ClientKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.ParseRawPrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAgentAuth(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t)
	_, unrelated, _ := ed25519.GenerateKey(rand.Reader)
	opts := options(t, srv)
	opts.IdentityFiles = nil
	opts.DisableAgent = false
	opts.AgentSocket = serveAgent(t, unrelated, clientKey(t, srv))
	dial(t, srv, opts)
}

func TestEncryptedIdentityFile(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t)
	block, err := ssh.MarshalPrivateKeyWithPassphrase(clientKey(t, srv), "", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	enc := filepath.Join(t.TempDir(), "id_encrypted")
	os.WriteFile(enc, pem.EncodeToMemory(block), 0o600)
	opts := options(t, srv)
	opts.IdentityFiles = []string{enc}
	_, err = sshconn.Dial(testContext(t), srv.Target(), opts)
	var ae *sshconn.AuthError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "passphrase") || !strings.Contains(err.Error(), "ssh-add "+enc) {
		t.Fatalf("Dial with an encrypted key and no agent: %v; want an *AuthError saying to ssh-add it", err)
	}
	t.Logf("%v", err)
	// With the key in the agent, the encrypted file is fine, even with
	// IdentitiesOnly (the agent's key matches the file's).
	cfg := filepath.Join(t.TempDir(), "config")
	os.WriteFile(cfg, []byte("Host *\n  IdentitiesOnly yes\n"), 0o600)
	_, unrelated, _ := ed25519.GenerateKey(rand.Reader)
	opts.ConfigFile = cfg
	opts.DisableAgent = false
	opts.AgentSocket = serveAgent(t, unrelated, clientKey(t, srv))
	dial(t, srv, opts)
}

func TestAuthRefused(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(other)
	opts := options(t, srv)
	opts.IdentityFiles = []string{filepath.Join(t.TempDir(), "missing")}
	opts.Signers = []ssh.Signer{signer}
	_, err := sshconn.Dial(testContext(t), srv.Target(), opts)
	var ae *sshconn.AuthError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "accepted none") || !strings.Contains(err.Error(), "missing: open") {
		t.Fatalf("Dial with a wrong key: %v", err)
	}
	opts.Signers = nil
	if _, err = sshconn.Dial(testContext(t), srv.Target(), opts); !errors.As(err, &ae) || !strings.Contains(err.Error(), "no usable key") {
		t.Fatalf("Dial with no key: %v", err)
	}
}

func TestProxyJump(t *testing.T) {
	t.Parallel()
	jump, target := sshtest.Start(t), sshtest.Start(t, sshtest.WithListenAddress("127.0.0.3"))
	home := t.TempDir()
	jump.WriteHome(t, home, "bastion")
	target.WriteHome(t, home, "gpu-box")
	// The gpu-box block comes last: add ProxyJump to it.
	f, err := os.OpenFile(filepath.Join(home, ".ssh", "config"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("  ProxyJump bastion\n")
	f.Close()

	c, err := sshconn.Dial(testContext(t), "gpu-box", sshconn.DialOptions{Home: home, DisableAgent: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if out, err := c.Output(testContext(t), "echo $SSH_CONNECTION"); err != nil || !strings.Contains(out, " "+target.Host+" ") {
		t.Errorf("SSH_CONNECTION = %q, %v", out, err)
	}
	if !strings.Contains(jump.Log(), "Accepted publickey") {
		t.Error("the jump host saw no login")
	}
	// The connection runs through the jump host: killing the jump host's
	// side ends it at once.
	jump.KillConnections()
	select {
	case <-c.Done():
		if !errors.Is(c.Err(), sshconn.ErrConnectionLost) {
			t.Errorf("Err = %v; want ErrConnectionLost", c.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the connection survived its jump host")
	}
}

func TestUpload(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t)
	c := dial(t, srv, options(t, srv))
	data := make([]byte, 20<<20)
	rand.Read(data)
	dir := t.TempDir()
	dst := filepath.Join(dir, "new dir", "sub", "data.bin")
	start := time.Now()
	if err := c.Upload(testContext(t), bytes.NewReader(data), dst, 0o640); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	t.Logf("uploaded 20 MiB in %v (%.0f MiB/s)", d, 20/d.Seconds())
	got, err := os.ReadFile(dst)
	if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("uploaded file differs (%d bytes, %v)", len(got), err)
	}
	if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v", fi.Mode())
	}
	// Overwriting is atomic and leaves no temporary file.
	if err := c.Upload(testContext(t), strings.NewReader("small"), dst, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "small" {
		t.Errorf("after overwrite: %q", got)
	}
	// A reader of unknown size (two remote commands) and a file.
	if err := c.Upload(testContext(t), io.MultiReader(strings.NewReader("un"), strings.NewReader("known")), dst, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "unknown" {
		t.Errorf("unknown size: %q", got)
	}
	src := filepath.Join(t.TempDir(), "src")
	os.WriteFile(src, []byte("skip:from a file"), 0o600)
	f, _ := os.Open(src)
	defer f.Close()
	f.Seek(5, io.SeekStart)
	if err := c.Upload(testContext(t), f, dst, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "from a file" {
		t.Errorf("from a file: %q", got)
	}
	entries, _ := os.ReadDir(filepath.Dir(dst))
	if len(entries) != 1 {
		t.Errorf("files beside the upload: %v", entries)
	}
}

// failingReader fails after n bytes.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("disk on fire")
	}
	n := min(len(p), r.n)
	r.n -= n
	return n, nil
}

// sizedFailingReader claims a size, then fails part way.
type sizedFailingReader struct {
	failingReader
	size int
}

func (r *sizedFailingReader) Len() int { return r.size }

// shortReader claims more bytes than it has.
type shortReader struct {
	*strings.Reader
	claim int
}

func (r *shortReader) Len() int { return r.claim }

// A source that fails, or yields fewer bytes than it claimed, leaves the
// destination as it was and no temporary file.
func TestUploadReaderFails(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t)
	c := dial(t, srv, options(t, srv))
	dir := t.TempDir()
	dst := filepath.Join(dir, "data.bin")
	os.WriteFile(dst, []byte("old"), 0o600)
	for _, tc := range []struct {
		name string
		r    io.Reader
		err  string
	}{
		{"unknown size", &failingReader{n: 1 << 20}, "disk on fire"},
		{"known size", &sizedFailingReader{failingReader{n: 1 << 20}, 2 << 20}, "disk on fire"},
		{"short", &shortReader{strings.NewReader("abc"), 10}, "size mismatch: 3 bytes arrived, 10 sent"},
	} {
		err := c.Upload(testContext(t), tc.r, dst, 0o600)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Fatalf("%s: Upload = %v; want %q", tc.name, err, tc.err)
		}
		if got, _ := os.ReadFile(dst); string(got) != "old" {
			t.Errorf("%s: destination changed to %d bytes", tc.name, len(got))
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			entries, _ := os.ReadDir(dir)
			if len(entries) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: temporary file left: %v", tc.name, entries)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// httpOver is an HTTP client whose connections are Unix-socket
// connections forwarded by dial.
func httpOver(dial func(ctx context.Context, sock string) (net.Conn, error), sock string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx, sock) },
	}}
}

func get(t *testing.T, client *http.Client, url string) string {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestDialUnix(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t)
	c := dial(t, srv, options(t, srv))
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pong %s", r.URL.Path)
	})}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	client := httpOver(c.DialUnix, sock)
	for i := range 3 {
		if got := get(t, client, fmt.Sprintf("http://host/ping%d", i)); got != fmt.Sprintf("pong /ping%d", i) {
			t.Errorf("GET = %q", got)
		}
	}
	if _, err := c.DialUnix(testContext(t), filepath.Join(t.TempDir(), "nothing.sock")); err == nil {
		t.Error("DialUnix to a missing socket succeeded")
	}
}

// The Docker Engine's API through the host's socket: what the remote
// engine will use.
func TestDialUnixDocker(t *testing.T) {
	t.Parallel()
	const sock = "/var/run/docker.sock"
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("%s: %v (start a Docker Engine; the tests need one)", sock, err)
	}
	srv := sshtest.Start(t)
	c := dial(t, srv, options(t, srv))
	if got := get(t, httpOver(c.DialUnix, sock), "http://docker/_ping"); got != "OK" {
		t.Errorf("GET /_ping = %q", got)
	}
}

func TestDialUnixForbidden(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.WithConfig("AllowStreamLocalForwarding no"))
	c := dial(t, srv, options(t, srv))
	_, err := c.DialUnix(testContext(t), "/var/run/docker.sock")
	if err == nil || !strings.Contains(err.Error(), "AllowStreamLocalForwarding") {
		t.Fatalf("DialUnix = %v; want an error naming AllowStreamLocalForwarding", err)
	}
}
