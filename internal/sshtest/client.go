package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// writeKey generates an ed25519 key, writes it unencrypted in OpenSSH
// format to path (0600) and its public half to path.pub.
func writeKey(path, comment string) (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sshtest: generating a key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, fmt.Errorf("sshtest: encoding a key: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("sshtest: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("sshtest: %w", err)
	}
	if err := os.WriteFile(path+".pub", ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o644); err != nil {
		return nil, fmt.Errorf("sshtest: %w", err)
	}
	return signer, nil
}

// Target is the server as an ssh:// URL: ssh://USER@HOST:PORT.
func (s *Server) Target() string {
	return "ssh://" + s.User + "@" + s.Addr
}

// KnownHostsName is the server's name in known_hosts: [HOST]:PORT.
func (s *Server) KnownHostsName() string {
	return knownhosts.Normalize(s.Addr)
}

// KnownHostsLine is the server's known_hosts line (without a newline):
// "[HOST]:PORT ssh-ed25519 AAAA...".
func (s *Server) KnownHostsLine() string {
	return knownhosts.Line([]string{s.KnownHostsName()}, s.HostKey)
}

// SSHConfig is an ssh_config Host block naming this server alias, with
// HostName, Port, User and IdentityFile (the client key) set.
func (s *Server) SSHConfig(alias string) string {
	return "Host " + alias + "\n" +
		"  HostName " + s.Host + "\n" +
		"  Port " + strconv.Itoa(s.Port) + "\n" +
		"  User " + s.User + "\n" +
		"  IdentityFile " + s.ClientKeyPath + "\n" +
		"  IdentitiesOnly yes\n"
}

// Home creates a home directory for an SSH client: .ssh/config holding
// SSHConfig(alias) and .ssh/known_hosts holding KnownHostsLine(). It
// returns the directory; point HOME at it (t.Setenv) or pass it to code
// that takes a home directory.
func (s *Server) Home(t testing.TB, alias string) string {
	t.Helper()
	home := t.TempDir()
	s.WriteHome(t, home, alias)
	return home
}

// WriteHome appends SSHConfig(alias) to home/.ssh/config and
// KnownHostsLine() to home/.ssh/known_hosts, creating them as needed, so
// several servers can share one home.
func (s *Server) WriteHome(t testing.TB, home, alias string) {
	t.Helper()
	dir := filepath.Join(home, ".ssh")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	appendFile(t, filepath.Join(dir, "config"), s.SSHConfig(alias))
	appendFile(t, filepath.Join(dir, "known_hosts"), s.KnownHostsLine()+"\n")
}

func appendFile(t testing.TB, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		t.Fatalf("sshtest: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
}
