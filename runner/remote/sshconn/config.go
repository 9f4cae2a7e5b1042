package sshconn

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"
)

// Endpoint is one host as ssh_config resolves it: what Dial connects to.
type Endpoint struct {
	// Alias is the host as the user wrote it: what Host patterns match.
	Alias string
	// HostName, Port and User are where and as whom to log in.
	HostName string
	Port     int
	User     string
	// IdentityFiles are the private keys to try, expanded; IdentitiesOnly
	// restricts the agent's keys to these.
	IdentityFiles  []string
	IdentitiesOnly bool
	// IdentityAgent is the agent's socket ("" for none).
	IdentityAgent string
	// ProxyJump lists the jump hosts, first hop first, as written
	// ("[user@]host[:port]" or "ssh://...").
	ProxyJump []string
	// StrictHostKeyChecking is ssh_config's value: yes, ask, accept-new,
	// no or off.
	StrictHostKeyChecking string
	// UserKnownHostsFiles and GlobalKnownHostsFiles are the known_hosts
	// files, expanded; new keys are appended to the first user file.
	UserKnownHostsFiles   []string
	GlobalKnownHostsFiles []string
	// HostKeyAlias, if set, is the name the host key is looked up and
	// saved under instead of [HostName]:Port.
	HostKeyAlias string
	// HashKnownHosts hashes the names of hosts added to known_hosts.
	HashKnownHosts bool
	// ConnectTimeout bounds the TCP connect and SSH handshake (0: the
	// DialOptions default).
	ConnectTimeout time.Duration
	// ServerAliveInterval and ServerAliveCountMax are the config's
	// keepalive settings (0: not set).
	ServerAliveInterval time.Duration
	ServerAliveCountMax int

	defaultIdentities bool // IdentityFiles are ssh's defaults, not configured
}

// Addr is HostName:Port, IPv6 addresses bracketed.
func (e *Endpoint) Addr() string { return hostPort(e.HostName, e.Port) }

// String is user@host:port, with the alias when it differs from the host.
func (e *Endpoint) String() string {
	s := e.User + "@" + e.Addr()
	if e.Alias != "" && e.Alias != e.HostName {
		s += " (" + e.Alias + ")"
	}
	return s
}

// knownHostsName is the name the host key is stored under: "host",
// "[host]:port" for a port other than 22, or HostKeyAlias.
func (e *Endpoint) knownHostsName() string {
	if e.HostKeyAlias != "" {
		return e.HostKeyAlias
	}
	if e.Port == 22 {
		return e.HostName
	}
	return "[" + e.HostName + "]:" + strconv.Itoa(e.Port)
}

// sshConfig is the parsed configuration files, first file first: for each
// keyword the first value found wins, as in OpenSSH.
type sshConfig struct {
	files []*ssh_config.Config
	names []string
}

// loadConfig reads the files opts names: by default ~/.ssh/config and
// /etc/ssh/ssh_config (each may be missing); "none" reads nothing; any
// other ConfigFile replaces both (as ssh -F does) and must exist.
func loadConfig(opts *DialOptions, home string) (*sshConfig, error) {
	var paths []string
	mustExist := false
	switch opts.ConfigFile {
	case "none":
	case "":
		paths = []string{filepath.Join(home, ".ssh", "config"), "/etc/ssh/ssh_config"}
	default:
		paths, mustExist = []string{opts.ConfigFile}, true
	}
	c := &sshConfig{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) && !mustExist {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading ssh config: %w", err)
		}
		cfg, err := ssh_config.DecodeBytes(dropUnsupportedMatch(b))
		if err != nil {
			return nil, fmt.Errorf("ssh config %s: %w", p, err)
		}
		c.files = append(c.files, cfg)
		c.names = append(c.names, p)
	}
	return c, nil
}

// dropUnsupportedMatch turns Match blocks the parser cannot evaluate
// (anything but "Match all" and "Match host PATTERNS": exec, user,
// canonical, ...) into blocks that never match, and splits "Match host"
// pattern lists on commas, so that one such block does not make the whole
// file unreadable. Their settings are ignored.
func dropUnsupportedMatch(b []byte) []byte {
	lines := bytes.Split(b, []byte("\n"))
	for i, line := range lines {
		fields := strings.Fields(strings.ReplaceAll(string(line), "=", " "))
		if len(fields) == 0 || !strings.EqualFold(fields[0], "match") {
			continue
		}
		switch {
		case len(fields) == 2 && strings.EqualFold(fields[1], "all"):
		case len(fields) == 3 && strings.EqualFold(fields[1], "host"):
			lines[i] = []byte("Match host " + strings.ReplaceAll(fields[2], ",", " "))
		default:
			lines[i] = []byte("Host !*")
		}
	}
	return bytes.Join(lines, []byte("\n"))
}

// get returns the first value of key for alias, "" if none.
func (c *sshConfig) get(alias, key string) string {
	for _, f := range c.files {
		if v, err := f.Get(alias, key); err == nil && v != "" {
			return v
		}
	}
	return ""
}

// getAll returns every value of key for alias, in order.
func (c *sshConfig) getAll(alias, key string) []string {
	var all []string
	for _, f := range c.files {
		if v, err := f.GetAll(alias, key); err == nil {
			all = append(all, v...)
		}
	}
	return all
}

// resolve applies the config to t: what the user typed wins over the
// config, the config over ssh's defaults.
func resolve(t target, opts *DialOptions, cfg *sshConfig, home string) (*Endpoint, error) {
	get := func(k string) string { return cfg.get(t.host, k) }
	e := &Endpoint{Alias: t.host, HostName: t.host, Port: t.port, User: t.user}
	localUser := localUserName()
	if e.User == "" {
		e.User = get("User")
	}
	if e.User == "" {
		e.User = localUser
	}
	if e.Port == 0 {
		if v := get("Port"); v != "" {
			p, err := parsePort(v)
			if err != nil {
				return nil, fmt.Errorf("ssh config for %s: Port: %w", t.host, err)
			}
			e.Port = p
		} else {
			e.Port = 22
		}
	}
	tk := tokens{home: home, localUser: localUser, alias: t.host, host: t.host, port: e.Port, user: e.User}
	if v := get("HostName"); v != "" {
		e.HostName = tk.expand(v)
		tk.host = e.HostName
	}
	if err := resolveProxy(e, get); err != nil {
		return nil, err
	}
	resolveIdentities(e, opts, cfg, tk)
	resolveHostKeys(e, opts, get, tk)
	return e, resolveTimers(e, get)
}

func resolveProxy(e *Endpoint, get func(string) string) error {
	if v := get("ProxyJump"); v != "" && !strings.EqualFold(v, "none") {
		for _, hop := range strings.Split(v, ",") {
			if hop = strings.TrimSpace(hop); hop != "" {
				e.ProxyJump = append(e.ProxyJump, hop)
			}
		}
		return nil
	}
	if v := get("ProxyCommand"); v != "" && !strings.EqualFold(v, "none") {
		return fmt.Errorf("ssh config for %s: ProxyCommand is not supported by jobrun; use ProxyJump", e.Alias)
	}
	return nil
}

func resolveIdentities(e *Endpoint, opts *DialOptions, cfg *sshConfig, tk tokens) {
	files := append([]string{}, opts.IdentityFiles...)
	for _, f := range cfg.getAll(e.Alias, "IdentityFile") {
		if !strings.EqualFold(f, "none") {
			files = append(files, tk.expand(f))
		}
	}
	if len(files) == 0 {
		e.defaultIdentities = true
		for _, name := range []string{"id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk", "id_dsa"} {
			files = append(files, filepath.Join(tk.home, ".ssh", name))
		}
	}
	e.IdentityFiles = dedupe(files)
	e.IdentitiesOnly = strings.EqualFold(cfg.get(e.Alias, "IdentitiesOnly"), "yes")
	switch {
	case opts.AgentSocket != "":
		e.IdentityAgent = opts.AgentSocket
	case cfg.get(e.Alias, "IdentityAgent") != "":
		e.IdentityAgent = tk.expand(cfg.get(e.Alias, "IdentityAgent"))
		if e.IdentityAgent == "SSH_AUTH_SOCK" {
			e.IdentityAgent = os.Getenv("SSH_AUTH_SOCK")
		} else if rest, ok := strings.CutPrefix(e.IdentityAgent, "$"); ok {
			e.IdentityAgent = os.Getenv(rest)
		}
	default:
		e.IdentityAgent = os.Getenv("SSH_AUTH_SOCK")
	}
	if strings.EqualFold(e.IdentityAgent, "none") {
		e.IdentityAgent = ""
	}
}

func resolveHostKeys(e *Endpoint, opts *DialOptions, get func(string) string, tk tokens) {
	e.StrictHostKeyChecking = strings.ToLower(get("StrictHostKeyChecking"))
	if e.StrictHostKeyChecking == "" {
		e.StrictHostKeyChecking = "ask"
	}
	e.HostKeyAlias = get("HostKeyAlias")
	e.HashKnownHosts = strings.EqualFold(get("HashKnownHosts"), "yes")
	user := get("UserKnownHostsFile")
	if user == "" {
		user = "~/.ssh/known_hosts ~/.ssh/known_hosts2"
	}
	global := get("GlobalKnownHostsFile")
	if global == "" {
		global = "/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2"
	}
	e.UserKnownHostsFiles = tk.expandList(user)
	if len(opts.KnownHostsFiles) > 0 {
		e.UserKnownHostsFiles = opts.KnownHostsFiles
	}
	e.GlobalKnownHostsFiles = tk.expandList(global)
}

func resolveTimers(e *Endpoint, get func(string) string) error {
	for _, kv := range []struct {
		key string
		dst *time.Duration
	}{{"ConnectTimeout", &e.ConnectTimeout}, {"ServerAliveInterval", &e.ServerAliveInterval}} {
		if v := get(kv.key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("ssh config for %s: %s %q: want seconds", e.Alias, kv.key, v)
			}
			*kv.dst = time.Duration(n) * time.Second
		}
	}
	if v := get("ServerAliveCountMax"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("ssh config for %s: ServerAliveCountMax %q: want a number", e.Alias, v)
		}
		e.ServerAliveCountMax = n
	}
	return nil
}

// tokens are the values of ssh_config's % tokens.
type tokens struct {
	home, localUser, alias, host, user string
	port                               int
}

// expand replaces a leading ~ and the tokens %d %u %n %h %p %r %l %%;
// unknown tokens are left as they are.
func (tk tokens) expand(s string) string {
	if s == "~" || strings.HasPrefix(s, "~/") {
		s = tk.home + s[1:]
	}
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case '%':
			b.WriteByte('%')
		case 'd':
			b.WriteString(tk.home)
		case 'u':
			b.WriteString(tk.localUser)
		case 'n':
			b.WriteString(tk.alias)
		case 'h':
			b.WriteString(tk.host)
		case 'p':
			b.WriteString(strconv.Itoa(tk.port))
		case 'r':
			b.WriteString(tk.user)
		case 'l':
			h, _ := os.Hostname()
			b.WriteString(h)
		default:
			b.WriteByte('%')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// expandList splits a space-separated list of paths and expands each;
// "none" yields nothing.
func (tk tokens) expandList(s string) []string {
	var out []string
	for _, f := range strings.Fields(s) {
		if !strings.EqualFold(f, "none") {
			out = append(out, tk.expand(f))
		}
	}
	return out
}

func localUserName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
