package sshconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Defaults for DialOptions' zero values.
const (
	DefaultConnectTimeout    = 20 * time.Second
	DefaultKeepaliveInterval = 5 * time.Second
	DefaultKeepaliveCountMax = 3
	maxJumpDepth             = 8
)

// DialOptions configure Dial and NewSession. The zero value reads the
// user's ssh configuration, as ssh(1) does.
type DialOptions struct {
	// ConfigFile is the ssh_config to read. "" reads ~/.ssh/config and
	// /etc/ssh/ssh_config (either may be missing); "none" reads no file;
	// any other path replaces both, as ssh -F does.
	ConfigFile string
	// Home is the home directory whose .ssh/ holds the config, known_hosts
	// and default keys, and that ~ and %d stand for. Default: $HOME.
	Home string
	// HostKeyPolicy says what to do with a host not in known_hosts.
	HostKeyPolicy HostKeyPolicy
	// KnownHostsFiles, if set, replace the config's UserKnownHostsFile;
	// the first one is where accepted keys are added.
	KnownHostsFiles []string
	// HostKeyCallback, if set, replaces known_hosts checking altogether
	// (e.g. a key read from a cloud instance's console). It applies to
	// every hop.
	HostKeyCallback ssh.HostKeyCallback
	// IdentityFiles are private keys tried before the config's
	// IdentityFile entries (like ssh -i).
	IdentityFiles []string
	// Signers are keys tried before any other.
	Signers []ssh.Signer
	// AgentSocket is the ssh-agent socket; default: the config's
	// IdentityAgent, else $SSH_AUTH_SOCK. DisableAgent ignores the agent.
	AgentSocket  string
	DisableAgent bool
	// ConnectTimeout bounds each hop's TCP connect and SSH handshake.
	// Default: the config's ConnectTimeout, else DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// KeepaliveInterval is how long the link may be silent before a
	// keepalive is sent; after KeepaliveCountMax intervals without a byte
	// from the host the connection is declared dead and closed. Defaults:
	// the config's ServerAliveInterval and ServerAliveCountMax when set,
	// else 5 s and 3 (a dead link is noticed in 15–17 s).
	KeepaliveInterval time.Duration
	KeepaliveCountMax int
	// ReconnectMin and ReconnectMax bound a Session's backoff between
	// redials: it starts at ReconnectMin (default 1 s) and doubles up to
	// ReconnectMax (default 30 s).
	ReconnectMin, ReconnectMax time.Duration
	// Logger receives diagnostics (redials, accepted host keys); default:
	// none.
	Logger *slog.Logger
}

// ConfigError is a target or ssh configuration jobrun cannot use.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// dialer is one Dial: the options and the config, shared by every hop.
type dialer struct {
	opts DialOptions
	home string
	cfg  *sshConfig
	log  *slog.Logger
}

func newDialer(opts DialOptions) (*dialer, error) {
	d := &dialer{opts: opts, home: opts.Home, log: opts.Logger}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return nil, &ConfigError{fmt.Errorf("finding the home directory: %w", err)}
		}
		d.home = h
	}
	cfg, err := loadConfig(&d.opts, d.home)
	if err != nil {
		return nil, &ConfigError{err}
	}
	d.cfg = cfg
	return d, nil
}

// Resolve returns the endpoint Dial would connect to for target, without
// connecting.
func Resolve(target string, opts DialOptions) (*Endpoint, error) {
	d, err := newDialer(opts)
	if err != nil {
		return nil, err
	}
	return d.resolve(target)
}

func (d *dialer) resolve(target string) (*Endpoint, error) {
	t, err := parseTarget(target)
	if err != nil {
		return nil, &ConfigError{err}
	}
	ep, err := resolve(t, &d.opts, d.cfg, d.home)
	if err != nil {
		return nil, &ConfigError{err}
	}
	return ep, nil
}

// Dial connects to target, "ssh://[user@]host[:port]" or "[user@]alias",
// resolved through the ssh configuration (see DialOptions.ConfigFile),
// through its ProxyJump hosts if any. It fails with a *HostKeyError when
// known_hosts does not vouch for a host, an *AuthError when no key is
// accepted, a *ConfigError when the target or configuration cannot be
// used, and a network error otherwise. ctx bounds the whole dial; each
// hop is also bounded by the connect timeout.
func Dial(ctx context.Context, target string, opts DialOptions) (*Conn, error) {
	d, err := newDialer(opts)
	if err != nil {
		return nil, err
	}
	ep, err := d.resolve(target)
	if err != nil {
		return nil, err
	}
	return d.dial(ctx, ep, 0)
}

// dial connects to ep, first through its jump hosts.
func (d *dialer) dial(ctx context.Context, ep *Endpoint, depth int) (*Conn, error) {
	if len(ep.ProxyJump) == 0 {
		return d.connect(ctx, ep, nil)
	}
	if depth >= maxJumpDepth {
		return nil, &ConfigError{fmt.Errorf("ssh config for %s: more than %d nested ProxyJump hosts (a loop?)", ep.Alias, maxJumpDepth)}
	}
	// The first hop is dialed with its own configuration, ProxyJump
	// included; later hops are reached through the previous one and
	// their own ProxyJump is ignored (as ssh -J a,b does).
	var via *Conn
	for i, hop := range ep.ProxyJump {
		hep, err := d.resolveHop(hop)
		if err != nil {
			if via != nil {
				via.Close()
			}
			return nil, err
		}
		if i == 0 {
			via, err = d.dial(ctx, hep, depth+1)
		} else {
			hep.ProxyJump = nil
			via, err = d.connect(ctx, hep, via)
		}
		if err != nil {
			return nil, fmt.Errorf("jump host %s: %w", hop, err)
		}
	}
	return d.connect(ctx, ep, via)
}

// resolveHop resolves a ProxyJump entry: "[user@]host[:port]" or ssh://.
func (d *dialer) resolveHop(hop string) (*Endpoint, error) {
	if strings.Contains(hop, "://") {
		return d.resolve(hop)
	}
	user := ""
	if i := strings.LastIndexByte(hop, '@'); i >= 0 {
		user, hop = hop[:i+1], hop[i+1:]
	}
	if h, p, err := net.SplitHostPort(hop); err == nil {
		return d.resolve("ssh://" + user + hostPort(h, mustPort(p)))
	}
	return d.resolve(user + hop)
}

func mustPort(p string) int {
	n, _ := parsePort(p)
	return n
}

func (d *dialer) connectTimeout(ep *Endpoint) time.Duration {
	switch {
	case d.opts.ConnectTimeout > 0:
		return d.opts.ConnectTimeout
	case ep.ConnectTimeout > 0:
		return ep.ConnectTimeout
	}
	return DefaultConnectTimeout
}

// connect opens a TCP connection to ep (directly, or through via) and
// runs the SSH handshake on it. On failure it closes via.
func (d *dialer) connect(ctx context.Context, ep *Endpoint, via *Conn) (_ *Conn, err error) {
	defer func() {
		if err != nil && via != nil {
			via.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, d.connectTimeout(ep))
	defer cancel()
	start := time.Now()
	raw, err := d.openTCP(ctx, ep, via)
	if err != nil {
		return nil, err
	}
	client, err := d.handshake(ctx, raw, ep)
	if err != nil {
		return nil, err
	}
	c := newConn(client, raw, ep, via, d.keepalive(ep), d.log)
	d.log.Debug("ssh connected", "host", ep.String(), "server", string(client.ServerVersion()), "took", time.Since(start))
	return c, nil
}

func (d *dialer) openTCP(ctx context.Context, ep *Endpoint, via *Conn) (*activityConn, error) {
	var nc net.Conn
	var err error
	if via == nil {
		var nd net.Dialer
		nc, err = nd.DialContext(ctx, "tcp", ep.Addr())
	} else {
		nc, err = via.client.DialContext(ctx, "tcp", ep.Addr())
		if err != nil && via.Err() != nil {
			err = via.Err()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ssh %s: connecting: %w", ep, timeoutErr(ctx, err))
	}
	return newActivityConn(nc), nil
}

// handshake runs the SSH handshake and the login on raw, closing raw if
// they fail or ctx ends first.
func (d *dialer) handshake(ctx context.Context, raw net.Conn, ep *Endpoint) (*ssh.Client, error) {
	cfg := &ssh.ClientConfig{User: ep.User, ClientVersion: "SSH-2.0-jobrun"}
	if d.opts.HostKeyCallback != nil {
		cfg.HostKeyCallback = d.opts.HostKeyCallback
	} else {
		hk, err := newHostKeyCheck(ep, &d.opts, d.log)
		if err != nil {
			raw.Close()
			return nil, &ConfigError{err}
		}
		defer hk.close()
		cfg.HostKeyCallback, cfg.HostKeyAlgorithms = hk.callback, hk.algos
	}
	a, err := newAuth(ep, &d.opts, d.log)
	if err != nil {
		raw.Close()
		return nil, err
	}
	defer a.close()
	cfg.Auth = a.methods()

	stop := context.AfterFunc(ctx, func() { raw.Close() })
	c, chans, reqs, err := ssh.NewClientConn(raw, ep.Addr(), cfg)
	if !stop() {
		if err == nil {
			c.Close()
		}
		return nil, fmt.Errorf("ssh %s: handshake: %w", ep, timeoutErr(ctx, ctx.Err()))
	}
	if err != nil {
		raw.Close()
		var hke *HostKeyError
		switch {
		case errors.As(err, &hke):
			return nil, hke
		case strings.Contains(err.Error(), "unable to authenticate"):
			return nil, a.err(ep, err)
		}
		return nil, fmt.Errorf("ssh %s: handshake: %w", ep, err)
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// timeoutErr names a connect timeout as such.
func timeoutErr(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out: %w", err)
	}
	return err
}

type keepalive struct {
	interval time.Duration
	countMax int
}

func (d *dialer) keepalive(ep *Endpoint) keepalive {
	k := keepalive{interval: d.opts.KeepaliveInterval, countMax: d.opts.KeepaliveCountMax}
	if k.interval <= 0 {
		k.interval = ep.ServerAliveInterval
	}
	if k.interval <= 0 {
		k.interval = DefaultKeepaliveInterval
	}
	if k.countMax <= 0 {
		k.countMax = ep.ServerAliveCountMax
	}
	if k.countMax <= 0 {
		k.countMax = DefaultKeepaliveCountMax
	}
	return k
}
