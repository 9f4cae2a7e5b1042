package sshconn

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// ErrConnectionLost is wrapped by the errors of operations that failed
// because the connection died (keepalives unanswered, the host or a jump
// host closed it, the network failed).
var ErrConnectionLost = errors.New("ssh connection lost")

// ErrClosed is Conn.Err after Close, and wrapped by operations on a closed
// Conn or Session.
var ErrClosed = errors.New("ssh connection closed")

// Conn is one SSH connection to a host, kept under watch by keepalives.
// Its methods are safe for concurrent use; each operation opens its own
// channel.
type Conn struct {
	client *ssh.Client
	raw    *activityConn
	ep     *Endpoint
	via    *Conn // the jump host's connection, owned by this one
	ka     keepalive
	log    *slog.Logger

	done    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	err     error
	arch    string
	archMu  sync.Mutex
	started time.Time
}

func newConn(client *ssh.Client, raw *activityConn, ep *Endpoint, via *Conn, ka keepalive, log *slog.Logger) *Conn {
	c := &Conn{client: client, raw: raw, ep: ep, via: via, ka: ka, log: log, done: make(chan struct{}), started: time.Now()}
	go func() {
		err := client.Wait()
		c.finish(fmt.Errorf("%w: %s: %v", ErrConnectionLost, ep, orEOF(err)))
	}()
	go c.keepalives()
	return c
}

func orEOF(err error) error {
	if err == nil {
		return errors.New("closed by the host")
	}
	return err
}

// Done is closed when the connection is over: closed, or found dead.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is nil while the connection is open; after Done it says why it
// ended: ErrClosed, or an error wrapping ErrConnectionLost.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection, and those to its jump hosts.
func (c *Conn) Close() error {
	c.finish(ErrClosed)
	return nil
}

// Client is the underlying x/crypto/ssh client, for what this package
// does not wrap. It dies with the Conn.
func (c *Conn) Client() *ssh.Client { return c.client }

// Endpoint is the host this Conn is connected to.
func (c *Conn) Endpoint() *Endpoint { return c.ep }

// finish records why the connection ended (the first reason wins), closes
// it and its jump hosts' connections, and closes Done.
func (c *Conn) finish(err error) {
	c.once.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		c.client.Close()
		if c.via != nil {
			c.via.Close()
		}
		close(c.done)
		if !errors.Is(err, ErrClosed) {
			c.log.Warn("ssh connection lost", "host", c.ep.String(), "err", err, "age", time.Since(c.started).Round(time.Millisecond))
		}
	})
}

// alive reports whether Done is still open.
func (c *Conn) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// keepalives sends a keepalive@openssh.com request whenever nothing came
// from the host for an interval, and declares the connection dead when
// nothing came for countMax intervals. Anything the host sends counts,
// not just replies, so a busy connection sends no keepalives.
func (c *Conn) keepalives() {
	tick := max(c.ka.interval/4, 10*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	deadline := c.ka.interval * time.Duration(c.ka.countMax)
	replies := make(chan struct{}, 1)
	pending := false
	for {
		select {
		case <-c.done:
			return
		case <-replies:
			pending = false
		case <-t.C:
			idle := c.raw.idle()
			if idle >= deadline {
				c.finish(fmt.Errorf("%w: %s: no answer for %v (%d keepalives %v apart)",
					ErrConnectionLost, c.ep, idle.Round(time.Second), c.ka.countMax, c.ka.interval))
				return
			}
			if !pending && idle >= c.ka.interval {
				pending = true
				go func() {
					// The reply (OpenSSH refuses the request, which is
					// an answer all the same) is noted by the reader.
					_, _, _ = c.client.SendRequest("keepalive@openssh.com", true, nil)
					replies <- struct{}{}
				}()
			}
		}
	}
}

// activityConn is a net.Conn that notes when it last read something.
type activityConn struct {
	net.Conn
	last atomic.Int64 // unix nanoseconds
}

func newActivityConn(c net.Conn) *activityConn {
	a := &activityConn{Conn: c}
	a.last.Store(time.Now().UnixNano())
	return a
}

func (a *activityConn) Read(p []byte) (int, error) {
	n, err := a.Conn.Read(p)
	if n > 0 {
		a.last.Store(time.Now().UnixNano())
	}
	return n, err
}

func (a *activityConn) idle() time.Duration {
	return time.Since(time.Unix(0, a.last.Load()))
}
