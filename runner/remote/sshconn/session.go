package sshconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Session is a connection to one host that is dialed again, with backoff,
// whenever it dies. Operations use the current connection, waiting for a
// redial when there is none (as long as their context allows).
//
// Operations are retried on a new connection only when nothing reached the
// host yet (the channel could not be opened); one interrupted midway fails
// with an error wrapping ErrConnectionLost, because it may or may not have
// taken effect on the host. Redialing stops for good on errors a retry
// cannot fix: a host key that known_hosts does not vouch for (*HostKeyError)
// or a refused login (*AuthError); operations then fail with that error.
type Session struct {
	target string
	opts   DialOptions
	log    *slog.Logger
	ctx    context.Context // ends with Close
	cancel context.CancelFunc

	mu      sync.Mutex
	conn    *Conn         // the current connection, maybe dead
	changed chan struct{} // closed (and replaced) when conn or failed change
	failed  error         // why redialing stopped for good
	lastErr error         // the last redial's error
	redials int
	arch    string
	done    chan struct{} // closed when the redial loop exits
}

// NewSession dials target (see Dial) and keeps the connection up until
// Close. The first dial is not retried: its error is returned as is.
func NewSession(ctx context.Context, target string, opts DialOptions) (*Session, error) {
	c, err := Dial(ctx, target, opts)
	if err != nil {
		return nil, err
	}
	s := &Session{target: target, opts: opts, log: opts.Logger, conn: c, changed: make(chan struct{}), done: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.maintain()
	return s, nil
}

// Close closes the connection and stops redialing. Operations in flight
// fail.
func (s *Session) Close() error {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conn.Close()
	return nil
}

// Redials counts the connections made after the first.
func (s *Session) Redials() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.redials
}

// Conn returns a live connection, waiting for a redial if the current one
// is dead. It fails when ctx ends first, when the Session is closed
// (ErrClosed) or when redialing stopped for good.
func (s *Session) Conn(ctx context.Context) (*Conn, error) {
	for {
		s.mu.Lock()
		c, changed, failed, lastErr := s.conn, s.changed, s.failed, s.lastErr
		s.mu.Unlock()
		switch {
		case s.ctx.Err() != nil:
			return nil, fmt.Errorf("ssh %s: %w", s.target, ErrClosed)
		case failed != nil:
			return nil, failed
		case c.alive():
			return c, nil
		}
		select {
		case <-changed:
		case <-s.ctx.Done():
		case <-ctx.Done():
			if lastErr == nil {
				lastErr = c.Err()
			}
			return nil, fmt.Errorf("waiting for the connection to %s: %w (%w)", s.target, ctx.Err(), lastErr)
		}
	}
}

// maintain redials whenever the connection dies, until Close or an error
// redialing cannot fix.
func (s *Session) maintain() {
	defer close(s.done)
	for {
		s.mu.Lock()
		c := s.conn
		s.mu.Unlock()
		select {
		case <-s.ctx.Done():
			return
		case <-c.Done():
		}
		s.log.Info("ssh connection lost; reconnecting", "target", s.target, "err", c.Err())
		next, err := s.redial()
		s.mu.Lock()
		if err != nil {
			s.failed = err
		} else {
			s.conn, s.lastErr = next, nil
			s.redials++
		}
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// redial dials until it succeeds, the Session is closed or the error is
// one a retry cannot fix, waiting ReconnectMin, doubling to ReconnectMax,
// between attempts.
func (s *Session) redial() (*Conn, error) {
	wait := s.opts.ReconnectMin
	if wait <= 0 {
		wait = time.Second
	}
	maxWait := s.opts.ReconnectMax
	if maxWait <= 0 {
		maxWait = 30 * time.Second
	}
	for attempt := 1; ; attempt++ {
		start := time.Now()
		c, err := Dial(s.ctx, s.target, s.opts)
		if err == nil {
			s.log.Info("ssh reconnected", "target", s.target, "attempt", attempt)
			return c, nil
		}
		if s.ctx.Err() != nil {
			return nil, fmt.Errorf("ssh %s: %w", s.target, ErrClosed)
		}
		if permanent(err) {
			s.log.Error("ssh reconnect failed for good", "target", s.target, "err", err)
			return nil, err
		}
		s.mu.Lock()
		s.lastErr = err
		s.mu.Unlock()
		// Jitter (±20%) keeps many clients of one host from redialing in
		// step; time spent in the failed dial counts towards the wait.
		d := max(time.Duration(float64(wait)*(0.8+0.4*rand.Float64()))-time.Since(start), 0)
		s.log.Info("ssh reconnect failed; retrying", "target", s.target, "attempt", attempt, "in", d.Round(10*time.Millisecond), "err", err)
		if d > 0 {
			select {
			case <-s.ctx.Done():
				return nil, fmt.Errorf("ssh %s: %w", s.target, ErrClosed)
			case <-time.After(d):
			}
		}
		wait = min(wait*2, maxWait)
	}
}

// permanent reports whether redialing cannot fix err.
func permanent(err error) bool {
	var hk *HostKeyError
	var auth *AuthError
	var cfg *ConfigError
	return errors.As(err, &hk) || errors.As(err, &auth) || errors.As(err, &cfg)
}

// Run runs cmd on the host; see Conn.Run. It is retried on a new
// connection only if the command could not be started.
func (s *Session) Run(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	for {
		c, err := s.Conn(ctx)
		if err != nil {
			return -1, err
		}
		code, err := c.Run(ctx, cmd, stdin, stdout, stderr)
		if err != nil && isNotStarted(err) && errors.Is(err, ErrConnectionLost) && ctx.Err() == nil {
			continue
		}
		return code, err
	}
}

// Output runs cmd and returns its stdout; see Conn.Output.
func (s *Session) Output(ctx context.Context, cmd string) (string, error) {
	c, err := s.Conn(ctx)
	if err != nil {
		return "", err
	}
	return output(ctx, s.Run, c.ep, cmd)
}

// Upload writes r's content to remotePath atomically; see Conn.Upload. It
// is retried on a new connection only if nothing had been read from r.
func (s *Session) Upload(ctx context.Context, r io.Reader, remotePath string, mode fs.FileMode) error {
	cr := &countingReader{r: r}
	for {
		c, err := s.Conn(ctx)
		if err != nil {
			return err
		}
		err = c.Upload(ctx, cr, remotePath, mode)
		if err != nil && cr.n == 0 && errors.Is(err, ErrConnectionLost) && ctx.Err() == nil {
			continue
		}
		return err
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// DialUnix opens the Unix socket remoteSocket on the host; see
// Conn.DialUnix. It is retried on a new connection when the connection
// died before the socket was opened. The socket connection itself dies
// with the SSH connection it was opened on.
func (s *Session) DialUnix(ctx context.Context, remoteSocket string) (net.Conn, error) {
	for {
		c, err := s.Conn(ctx)
		if err != nil {
			return nil, err
		}
		conn, err := c.DialUnix(ctx, remoteSocket)
		if err != nil && errors.Is(err, ErrConnectionLost) && ctx.Err() == nil {
			continue
		}
		return conn, err
	}
}

// Arch returns the host's GOARCH; see Conn.Arch. It is asked once per
// Session.
func (s *Session) Arch(ctx context.Context) (string, error) {
	s.mu.Lock()
	arch := s.arch
	s.mu.Unlock()
	if arch != "" {
		return arch, nil
	}
	for {
		c, err := s.Conn(ctx)
		if err != nil {
			return "", err
		}
		arch, err := c.Arch(ctx)
		if err != nil && errors.Is(err, ErrConnectionLost) && ctx.Err() == nil {
			continue
		}
		if err == nil {
			s.mu.Lock()
			s.arch = arch
			s.mu.Unlock()
		}
		return arch, err
	}
}
