// Package sshconn is jobrun's SSH transport to a remote host: one SSH
// connection made with golang.org/x/crypto/ssh (no ssh or docker binaries
// needed on the client), configured the way OpenSSH's ssh(1) would be.
//
// Dial resolves a target ("ssh://[user@]host[:port]" or an ssh_config Host
// alias) through ~/.ssh/config and /etc/ssh/ssh_config (HostName, User,
// Port, IdentityFile, IdentitiesOnly, IdentityAgent, ProxyJump,
// StrictHostKeyChecking, UserKnownHostsFile, GlobalKnownHostsFile,
// HostKeyAlias, HashKnownHosts, ConnectTimeout, ServerAliveInterval,
// ServerAliveCountMax), authenticates with the ssh-agent and unencrypted
// identity files, and checks the host key against known_hosts with
// OpenSSH's semantics: an unknown host is refused with its fingerprint and
// how to accept it, unless the policy is accept-new (then its key is
// appended); a changed key is always refused.
//
// A Conn sends keepalives and declares the link dead after a number of
// unanswered ones (5 s × 3 by default): a cut network is noticed within
// seconds instead of hanging forever, which is what SSH does by default.
// Conn.Done is closed then, and every operation in flight fails with an
// error wrapping ErrConnectionLost.
//
// A Session wraps a Conn and dials again, with backoff (1 s doubling to
// 30 s), whenever the link dies; operations wait for the new connection
// (bounded by their context). Operations are not retried: a command that
// was running when the link died is reported as lost, since it may or may
// not have run to the end on the host.
//
// Both offer Run (a command, its exit code and output), Upload (a file,
// written atomically), DialUnix (a Unix socket on the host, such as the
// Docker Engine's, through direct-streamlocal@openssh.com) and Arch (the
// host's GOARCH).
package sshconn
