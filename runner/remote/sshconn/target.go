package sshconn

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// target is what the user typed, parsed: the host (an alias or a real
// name) and, when given, the user and port, which override the config.
type target struct {
	host string
	user string // "" if not given
	port int    // 0 if not given
}

// parseTarget parses "ssh://[user@]host[:port]" or "[user@]alias".
func parseTarget(s string) (target, error) {
	if s == "" {
		return target{}, fmt.Errorf("empty SSH target: want ssh://[user@]host[:port] or an ssh_config Host alias")
	}
	if strings.Contains(s, "://") {
		return parseURL(s)
	}
	var t target
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		t.user, s = s[:i], s[i+1:]
	}
	t.host = s
	if err := t.check(); err != nil {
		return target{}, err
	}
	return t, nil
}

func parseURL(s string) (target, error) {
	u, err := url.Parse(s)
	if err != nil {
		return target{}, fmt.Errorf("SSH target %q: %w", s, err)
	}
	if u.Scheme != "ssh" {
		return target{}, fmt.Errorf("SSH target %q: scheme %q: want ssh://[user@]host[:port]", s, u.Scheme)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return target{}, fmt.Errorf("SSH target %q: unexpected path, query or fragment: want ssh://[user@]host[:port]", s)
	}
	if _, hasPassword := u.User.Password(); hasPassword {
		return target{}, fmt.Errorf("SSH target %q: passwords are not supported (use keys or ssh-agent)", redact(u))
	}
	t := target{host: u.Hostname(), user: u.User.Username()}
	if p := u.Port(); p != "" {
		if t.port, err = parsePort(p); err != nil {
			return target{}, fmt.Errorf("SSH target %q: %w", s, err)
		}
	}
	if err := t.check(); err != nil {
		return target{}, err
	}
	return t, nil
}

func redact(u *url.URL) string {
	c := *u
	c.User = url.User(u.User.Username())
	return c.String()
}

func (t target) check() error {
	if t.host == "" {
		return fmt.Errorf("SSH target has no host: want ssh://[user@]host[:port] or an ssh_config Host alias")
	}
	if strings.HasPrefix(t.host, "-") || strings.ContainsAny(t.host, " \t\r\n/") {
		return fmt.Errorf("SSH target host %q is not a host name", t.host)
	}
	if strings.ContainsAny(t.user, " \t\r\n:/") {
		return fmt.Errorf("SSH target user %q is not a user name", t.user)
	}
	return nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return p, nil
}

// hostPort joins host and port, bracketing IPv6 addresses.
func hostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}
