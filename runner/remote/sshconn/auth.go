package sshconn

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// AuthError is an authentication the host refused, or one that could not
// even be tried because no usable key was found.
type AuthError struct {
	// Endpoint is the host.
	Endpoint *Endpoint
	// Tried describes the keys offered.
	Tried []string
	// Notes explain keys that could not be used (encrypted, unreadable, an
	// agent that did not answer).
	Notes []string
	// Err is the underlying error (nil when no key could be offered).
	Err error
}

func (e *AuthError) Error() string {
	var b strings.Builder
	if len(e.Tried) == 0 {
		fmt.Fprintf(&b, "ssh %s: no usable key to log in with", e.Endpoint)
	} else {
		fmt.Fprintf(&b, "ssh %s: authentication failed: the host accepted none of the keys offered (%s)",
			e.Endpoint, strings.Join(e.Tried, "; "))
	}
	for _, n := range e.Notes {
		b.WriteString("\n  - " + n)
	}
	if len(e.Tried) == 0 && len(e.Notes) == 0 {
		b.WriteString(" (no ssh-agent in SSH_AUTH_SOCK and no key in ~/.ssh/id_*; set IdentityFile in ~/.ssh/config)")
	}
	return b.String()
}

func (e *AuthError) Unwrap() error { return e.Err }

// auth is the keys gathered for one login.
type auth struct {
	signers []ssh.Signer
	tried   []string
	notes   []string
	agent   net.Conn // open during the handshake
}

func (a *auth) close() {
	if a.agent != nil {
		a.agent.Close()
	}
}

func (a *auth) methods() []ssh.AuthMethod {
	signers := a.signers
	return []ssh.AuthMethod{ssh.PublicKeysCallback(func() ([]ssh.Signer, error) { return signers, nil })}
}

func (a *auth) err(ep *Endpoint, cause error) *AuthError {
	return &AuthError{Endpoint: ep, Tried: a.tried, Notes: a.notes, Err: cause}
}

// identity is one IdentityFile: its signer if it could be read, its public
// key if known (from the file or file.pub).
type identity struct {
	path   string
	signer ssh.Signer
	pub    ssh.PublicKey
}

// newAuth gathers the keys to offer, in OpenSSH's order: each identity file
// (through the agent when the agent holds it), then the agent's other keys
// unless IdentitiesOnly. Extra signers from the options come first.
func newAuth(ep *Endpoint, opts *DialOptions, log *slog.Logger) (*auth, error) {
	a := &auth{}
	agentKeys := a.agentSigners(ep, opts, log)
	ids := a.readIdentities(ep, agentKeys)
	used := map[string]bool{}
	add := func(s ssh.Signer, desc string) {
		k := string(s.PublicKey().Marshal())
		if used[k] {
			return
		}
		used[k] = true
		a.signers = append(a.signers, s)
		a.tried = append(a.tried, desc)
	}
	for _, s := range opts.Signers {
		add(s, keyDesc("key", s.PublicKey()))
	}
	for _, id := range ids {
		if id.pub != nil {
			if s := findSigner(agentKeys, id.pub); s != nil {
				add(s, keyDesc("agent key for "+id.path, id.pub))
				continue
			}
		}
		if id.signer != nil {
			add(id.signer, keyDesc(id.path, id.signer.PublicKey()))
		}
	}
	if !ep.IdentitiesOnly {
		for _, s := range agentKeys {
			add(s, keyDesc("agent key", s.PublicKey()))
		}
	}
	if len(a.signers) == 0 {
		a.close()
		return nil, a.err(ep, nil)
	}
	return a, nil
}

func keyDesc(what string, k ssh.PublicKey) string {
	return fmt.Sprintf("%s %s %s", what, keyKind(k), ssh.FingerprintSHA256(k))
}

func findSigner(signers []ssh.Signer, pub ssh.PublicKey) ssh.Signer {
	for _, s := range signers {
		if bytes.Equal(s.PublicKey().Marshal(), pub.Marshal()) {
			return s
		}
	}
	return nil
}

// agentSigners connects to the agent, if any, and lists its keys. The
// connection stays open until close: the agent signs during the
// handshake.
func (a *auth) agentSigners(ep *Endpoint, opts *DialOptions, log *slog.Logger) []ssh.Signer {
	if ep.IdentityAgent == "" || opts.DisableAgent {
		return nil
	}
	c, err := net.DialTimeout("unix", ep.IdentityAgent, 5*time.Second)
	if err != nil {
		a.notes = append(a.notes, fmt.Sprintf("ssh-agent at %s: %v", ep.IdentityAgent, err))
		return nil
	}
	signers, err := agent.NewClient(c).Signers()
	if err != nil {
		c.Close()
		a.notes = append(a.notes, fmt.Sprintf("ssh-agent at %s: listing keys: %v", ep.IdentityAgent, err))
		return nil
	}
	log.Debug("ssh-agent keys", "socket", ep.IdentityAgent, "count", len(signers))
	a.agent = c
	return signers
}

// readIdentities reads the identity files. Missing default files are
// skipped silently; missing configured files, encrypted keys the agent
// does not hold and unreadable files are noted.
func (a *auth) readIdentities(ep *Endpoint, agentKeys []ssh.Signer) []identity {
	var ids []identity
	for _, path := range ep.IdentityFiles {
		b, err := os.ReadFile(path)
		if err != nil {
			if !ep.defaultIdentities || !errors.Is(err, os.ErrNotExist) {
				a.notes = append(a.notes, fmt.Sprintf("identity file %s: %v", path, err))
			}
			continue
		}
		id := identity{path: path}
		signer, err := ssh.ParsePrivateKey(b)
		var missing *ssh.PassphraseMissingError
		switch {
		case err == nil:
			id.signer, id.pub = signer, signer.PublicKey()
		case errors.As(err, &missing):
			id.pub = missing.PublicKey
			if id.pub == nil {
				id.pub = readPub(path + ".pub")
			}
			if id.pub == nil || findSigner(agentKeys, id.pub) == nil {
				a.notes = append(a.notes, fmt.Sprintf(
					"identity file %s is protected by a passphrase, which jobrun cannot ask for; load it into your ssh-agent (ssh-add %s) and make sure SSH_AUTH_SOCK is set",
					path, path))
			}
		default:
			id.pub = readPub(path + ".pub")
			a.notes = append(a.notes, fmt.Sprintf("identity file %s: %v", path, err))
		}
		ids = append(ids, id)
	}
	return ids
}

func readPub(path string) ssh.PublicKey {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return nil
	}
	return k
}
