package sshconn

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyPolicy says what to do with a host whose key is not in
// known_hosts. A host whose key changed is refused whatever the policy.
type HostKeyPolicy int

const (
	// HostKeyFromConfig follows ssh_config's StrictHostKeyChecking:
	// yes and ask (the default; jobrun never prompts) refuse an unknown
	// host, accept-new, no and off accept it and add its key.
	HostKeyFromConfig HostKeyPolicy = iota
	// HostKeyStrict refuses an unknown host whatever the config says.
	HostKeyStrict
	// HostKeyAcceptNew accepts an unknown host and adds its key to the
	// first UserKnownHostsFile (--accept-new-host-key).
	HostKeyAcceptNew
)

// HostKeyError is a host key that known_hosts does not vouch for.
type HostKeyError struct {
	// Name is the name the key was looked up under: host, [host]:port or
	// HostKeyAlias.
	Name string
	// Endpoint is the host, as resolved.
	Endpoint *Endpoint
	// Key is the key the host presented.
	Key ssh.PublicKey
	// Known are the keys on file for Name (none: the host is unknown).
	Known []knownhosts.KnownKey
	// Revoked is set when Key is marked @revoked.
	Revoked *knownhosts.KnownKey
	// KnownHostsFile is where an accepted key would be added.
	KnownHostsFile string
}

// Unknown reports whether the host has no key on file at all.
func (e *HostKeyError) Unknown() bool { return len(e.Known) == 0 && e.Revoked == nil }

// Changed reports whether a different key is on file: the host's key
// changed, or someone is impersonating it.
func (e *HostKeyError) Changed() bool { return len(e.Known) > 0 }

func (e *HostKeyError) Error() string {
	switch {
	case e.Revoked != nil:
		return fmt.Sprintf("host key verification failed for %s: its %s key %s is marked @revoked in %s:%d; jobrun refuses to connect",
			e.Name, keyKind(e.Key), ssh.FingerprintSHA256(e.Key), e.Revoked.Filename, e.Revoked.Line)
	case e.Changed():
		return e.changedMessage()
	default:
		return e.unknownMessage()
	}
}

func (e *HostKeyError) unknownMessage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "host key verification failed: %s is not a known host (not in %s).\n", e.Name, e.KnownHostsFile)
	fmt.Fprintf(&b, "Its %s key fingerprint is %s.\n", keyKind(e.Key), ssh.FingerprintSHA256(e.Key))
	b.WriteString("If that is the host's key (check it on the host: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), accept it with one of:\n")
	if len(e.Endpoint.ProxyJump) == 0 && e.Endpoint.HostKeyAlias == "" {
		port := ""
		if e.Endpoint.Port != 22 {
			port = fmt.Sprintf("-p %d ", e.Endpoint.Port)
		}
		fmt.Fprintf(&b, "    ssh-keyscan %s-t %s %s >> %s\n", port, keyTypeArg(e.Key), e.Endpoint.HostName, e.KnownHostsFile)
	}
	fmt.Fprintf(&b, "    ssh -o StrictHostKeyChecking=accept-new %s true\n", e.sshDestination())
	b.WriteString("or run jobrun again with --accept-new-host-key.")
	return b.String()
}

func (e *HostKeyError) changedMessage() string {
	var b strings.Builder
	b.WriteString("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n")
	b.WriteString("@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n")
	b.WriteString("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n")
	fmt.Fprintf(&b, "The host key of %s is not the one in known_hosts. Someone could be\n", e.Name)
	b.WriteString("eavesdropping on you right now (a man-in-the-middle attack), or the host's key was changed.\n")
	fmt.Fprintf(&b, "The host sent the %s key %s.\n", keyKind(e.Key), ssh.FingerprintSHA256(e.Key))
	for _, k := range e.Known {
		fmt.Fprintf(&b, "On file: the %s key %s (%s:%d).\n", keyKind(k.Key), ssh.FingerprintSHA256(k.Key), k.Filename, k.Line)
	}
	b.WriteString("jobrun refuses to connect (--accept-new-host-key does not apply to changed keys).\n")
	file := e.KnownHostsFile
	if len(e.Known) > 0 {
		file = e.Known[0].Filename
	}
	fmt.Fprintf(&b, "If you know the key changed, remove the old one with\n    ssh-keygen -R '%s' -f %s\nand connect again.", e.Name, file)
	return b.String()
}

func (e *HostKeyError) sshDestination() string {
	ep := e.Endpoint
	if ep.Alias != ep.HostName {
		return ep.Alias
	}
	if ep.Port != 22 {
		return fmt.Sprintf("-p %d %s@%s", ep.Port, ep.User, ep.HostName)
	}
	return ep.User + "@" + ep.HostName
}

// keyKind is the key's type as OpenSSH names it in messages: ED25519,
// ECDSA, RSA.
func keyKind(k ssh.PublicKey) string {
	t := k.Type()
	switch {
	case strings.Contains(t, "ed25519"):
		return "ED25519"
	case strings.Contains(t, "ecdsa"):
		return "ECDSA"
	case strings.Contains(t, "rsa"):
		return "RSA"
	}
	return strings.ToUpper(t)
}

// keyTypeArg is the key's type as ssh-keyscan -t wants it.
func keyTypeArg(k ssh.PublicKey) string {
	switch keyKind(k) {
	case "ED25519":
		return "ed25519"
	case "ECDSA":
		return "ecdsa"
	case "RSA":
		return "rsa"
	}
	return k.Type()
}

// plainHostKeyAlgos are the host key algorithms asked for when known_hosts
// holds no key for the host: OpenSSH's modern defaults, without SHA-1 RSA
// and DSA, and without certificates.
var plainHostKeyAlgos = []string{
	ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

var certHostKeyAlgos = []string{
	ssh.CertAlgoED25519v01, ssh.CertAlgoECDSA256v01, ssh.CertAlgoECDSA384v01, ssh.CertAlgoECDSA521v01,
	ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01,
}

// algosFor are the signature algorithms that prove a key of type t.
func algosFor(t string) []string {
	switch t {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	default:
		return []string{t}
	}
}

// hostKeyCheck is the known_hosts check for one endpoint.
type hostKeyCheck struct {
	ep       *Endpoint
	db       ssh.HostKeyCallback
	name     string // the known_hosts name: host, [host]:port or the alias
	lookup   string // name as host:port, the form the database wants
	accept   bool   // add unknown hosts
	file     string // where to add them
	algos    []string
	log      *slog.Logger
	renamed  map[string]string // temporary file → the file it stands for
	tempDirs []string
}

// newHostKeyCheck reads the endpoint's known_hosts files. Call close when
// done.
func newHostKeyCheck(ep *Endpoint, opts *DialOptions, log *slog.Logger) (*hostKeyCheck, error) {
	c := &hostKeyCheck{ep: ep, name: ep.knownHostsName(), log: log}
	c.lookup = hostPort(ep.HostName, ep.Port)
	if ep.HostKeyAlias != "" {
		c.lookup = hostPort(ep.HostKeyAlias, 22)
	}
	switch opts.HostKeyPolicy {
	case HostKeyAcceptNew:
		c.accept = true
	case HostKeyStrict:
	default:
		switch ep.StrictHostKeyChecking {
		case "accept-new", "no", "off":
			c.accept = true
		}
	}
	if len(ep.UserKnownHostsFiles) > 0 {
		c.file = ep.UserKnownHostsFiles[0]
	}
	files := existing(append(append([]string{}, ep.UserKnownHostsFiles...), ep.GlobalKnownHostsFiles...))
	db, err := knownhosts.New(files...)
	if err != nil {
		// A line x/crypto cannot parse makes it reject the whole file;
		// OpenSSH skips such lines, and so do we.
		log.Debug("known_hosts has unreadable lines; skipping them", "err", err)
		if db, err = c.readTolerant(files); err != nil {
			return nil, err
		}
	}
	c.db = db
	c.algos = c.hostKeyAlgos(files)
	return c, nil
}

// readTolerant builds the database from copies of files with their
// unparseable lines blanked (line numbers stay the same).
func (c *hostKeyCheck) readTolerant(files []string) (ssh.HostKeyCallback, error) {
	dir, err := os.MkdirTemp("", "jobrun-known-hosts-")
	if err != nil {
		return nil, err
	}
	c.tempDirs = append(c.tempDirs, dir)
	c.renamed = map[string]string{}
	var copies []string
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading known_hosts: %w", err)
		}
		lines := bytes.Split(b, []byte("\n"))
		for j, l := range lines {
			if _, _, _, _, _, err := ssh.ParseKnownHosts(l); err != nil && err != io.EOF {
				lines[j] = nil
			}
		}
		cp := filepath.Join(dir, fmt.Sprintf("%d", i))
		if err := os.WriteFile(cp, bytes.Join(lines, []byte("\n")), 0o600); err != nil {
			return nil, err
		}
		c.renamed[cp] = f
		copies = append(copies, cp)
	}
	db, err := knownhosts.New(copies...)
	if err != nil {
		return nil, fmt.Errorf("reading known_hosts: %w", err)
	}
	return db, nil
}

func (c *hostKeyCheck) close() {
	for _, d := range c.tempDirs {
		os.RemoveAll(d)
	}
}

// hostKeyAlgos asks for the types of key known_hosts holds for the host,
// so that a host with several keys presents one we can check (otherwise
// a host that prefers another type would look like a changed key).
func (c *hostKeyCheck) hostKeyAlgos(files []string) []string {
	var algos []string
	for _, k := range c.known() {
		algos = append(algos, algosFor(k.Key.Type())...)
	}
	if len(algos) == 0 {
		algos = plainHostKeyAlgos
	}
	if hasCertAuthority(files) {
		algos = append(append([]string{}, certHostKeyAlgos...), algos...)
	}
	return dedupe(algos)
}

// known returns the keys on file for the host, by asking the database
// about a throwaway key.
func (c *hostKeyCheck) known() []knownhosts.KnownKey {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	probe, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if errors.As(c.db(c.lookup, zeroAddr, probe.PublicKey()), &ke) {
		return c.fixNames(ke.Want)
	}
	return nil
}

var zeroAddr = &net.TCPAddr{IP: net.IPv4zero}

func (c *hostKeyCheck) fixNames(keys []knownhosts.KnownKey) []knownhosts.KnownKey {
	for i := range keys {
		if orig, ok := c.renamed[keys[i].Filename]; ok {
			keys[i].Filename = orig
		}
	}
	return keys
}

// callback is the ssh.HostKeyCallback.
func (c *hostKeyCheck) callback(_ string, remote net.Addr, key ssh.PublicKey) error {
	if remote == nil {
		remote = zeroAddr
	}
	err := c.db(c.lookup, remote, key)
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		revoked := c.fixNames([]knownhosts.KnownKey{re.Revoked})[0]
		return c.fail(key, nil, &revoked)
	case errors.As(err, &ke) && len(ke.Want) > 0:
		return c.fail(key, c.fixNames(ke.Want), nil)
	case errors.As(err, &ke):
		if !c.accept {
			return c.fail(key, nil, nil)
		}
		return c.add(key)
	default:
		return fmt.Errorf("checking the host key of %s: %w", c.name, err)
	}
}

func (c *hostKeyCheck) fail(key ssh.PublicKey, known []knownhosts.KnownKey, revoked *knownhosts.KnownKey) error {
	file := c.file
	if file == "" {
		file = "known_hosts"
	}
	return &HostKeyError{Name: c.name, Endpoint: c.ep, Key: key, Known: known, Revoked: revoked, KnownHostsFile: file}
}

// add appends the key to the first user known_hosts file, creating it
// (and its directory) as needed.
func (c *hostKeyCheck) add(key ssh.PublicKey) error {
	if c.file == "" {
		return fmt.Errorf("cannot accept the new host key of %s: no UserKnownHostsFile to add it to", c.name)
	}
	name := c.name
	if c.ep.HashKnownHosts {
		name = knownhosts.HashHostname(name)
	}
	line := name + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))) + "\n"
	if err := appendLine(c.file, line); err != nil {
		return fmt.Errorf("adding the host key of %s to %s: %w", c.name, c.file, err)
	}
	c.log.Warn("permanently added a new host key to known_hosts",
		"host", c.name, "type", keyKind(key), "fingerprint", ssh.FingerprintSHA256(key), "file", c.file)
	return nil
}

func appendLine(path, line string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, fi.Size()-1); err == nil && last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func existing(paths []string) []string {
	var out []string
	for _, p := range dedupe(paths) {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			out = append(out, p)
		}
	}
	return out
}

func hasCertAuthority(files []string) bool {
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if strings.HasPrefix(strings.TrimSpace(sc.Text()), "@cert-authority") {
				fh.Close()
				return true
			}
		}
		fh.Close()
	}
	return false
}
