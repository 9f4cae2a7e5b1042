package sshconn

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// notStarted marks a failure to open a channel: nothing reached the
// host, so a Session may retry on a new connection. It is transparent:
// same message, and it unwraps to the cause.
type notStarted struct{ err error }

func (e *notStarted) Error() string { return e.err.Error() }
func (e *notStarted) Unwrap() error { return e.err }

func isNotStarted(err error) bool {
	var ns *notStarted
	return errors.As(err, &ns)
}

// Run runs cmd on the host through the user's login shell, with stdin
// (nil: empty) as its input, and returns its exit status: 0 for success,
// the command's status, or 128+N when signal N killed it. err is non-nil
// only when the command's status is unknown: the connection was lost (err
// wraps ErrConnectionLost; the command may still be running on the host),
// ctx ended (err is ctx.Err()), or copying its output failed.
//
// When ctx ends Run returns at once: the command is sent SIGTERM and its
// channel is closed, and nothing more is written to stdout or stderr.
// OpenSSH's sshd delivers signals only to commands of non-root logins;
// otherwise the command runs on until it ends or writes to its closed
// output (SIGPIPE). stdin may still be read once after Run returned.
func (c *Conn) Run(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	sess, err := c.newSession(ctx)
	if err != nil {
		return -1, err
	}
	gate := &gate{}
	sess.Stdin, sess.Stdout, sess.Stderr = stdin, gate.writer(stdout), gate.writer(stderr)
	if err := sess.Start(cmd); err != nil {
		sess.Close()
		return -1, c.opErr("starting a command", err)
	}
	return c.wait(ctx, sess, gate)
}

// newSession opens a session channel; its failures are marked
// notStarted.
func (c *Conn) newSession(ctx context.Context) (*ssh.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !c.alive() {
		return nil, &notStarted{c.Err()}
	}
	type result struct {
		s   *ssh.Session
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := c.client.NewSession()
		ch <- result{s, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, &notStarted{c.opErr("opening a session", r.err)}
		}
		return r.s, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.s != nil {
				r.s.Close()
			}
		}()
		return nil, ctx.Err()
	case <-c.done:
		return nil, &notStarted{c.Err()}
	}
}

// wait waits for a started command. If ctx ends first it closes the gate
// on its output, sends SIGTERM, closes the channel and returns.
func (c *Conn) wait(ctx context.Context, sess *ssh.Session, g *gate) (int, error) {
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err := <-done:
		sess.Close()
		return c.exitStatus(err)
	case <-ctx.Done():
		g.close()
		go func() {
			_ = sess.Signal(ssh.SIGTERM)
			_ = sess.Close()
			<-done
		}()
		return -1, ctx.Err()
	}
}

// gate passes writes on until it is closed, then drops them.
type gate struct {
	mu     sync.Mutex
	closed bool
}

func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

func (g *gate) writer(w io.Writer) io.Writer {
	if w == nil {
		return nil
	}
	return gatedWriter{g, w}
}

type gatedWriter struct {
	g *gate
	w io.Writer
}

func (gw gatedWriter) Write(p []byte) (int, error) {
	gw.g.mu.Lock()
	defer gw.g.mu.Unlock()
	if gw.g.closed {
		return len(p), nil
	}
	return gw.w.Write(p)
}

func (c *Conn) exitStatus(err error) (int, error) {
	var exit *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exit):
		return exit.ExitStatus(), nil
	case errors.As(err, &missing):
		// The channel closed without a status: most likely the
		// connection died. Its end is noticed a moment later.
		select {
		case <-c.done:
			return -1, c.Err()
		case <-time.After(time.Second):
			return -1, fmt.Errorf("ssh %s: the command ended without an exit status", c.ep)
		}
	}
	return -1, c.opErr("running a command", err)
}

// opErr wraps an operation's error, preferring the connection's own end
// (ErrConnectionLost) when it is over.
func (c *Conn) opErr(op string, err error) error {
	select {
	case <-c.done:
		return fmt.Errorf("%s on %s: %w", op, c.ep, c.Err())
	case <-time.After(50 * time.Millisecond):
	}
	if !c.alive() {
		return fmt.Errorf("%s on %s: %w", op, c.ep, c.Err())
	}
	return fmt.Errorf("%s on %s: %w", op, c.ep, err)
}

// Output runs cmd and returns its stdout; a non-zero exit status is an
// error that quotes the end of its stderr.
func (c *Conn) Output(ctx context.Context, cmd string) (string, error) {
	return output(ctx, c.Run, c.ep, cmd)
}

type runFunc func(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) (int, error)

func output(ctx context.Context, run runFunc, ep *Endpoint, cmd string) (string, error) {
	var out, errb bytes.Buffer
	code, err := run(ctx, cmd, nil, &out, &tailWriter{buf: &errb, max: 2048})
	if err != nil {
		return "", err
	}
	if code != 0 {
		return out.String(), fmt.Errorf("ssh %s: %s: exit status %d: %s", ep, firstWord(cmd), code, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}

// tailWriter keeps the last max bytes written.
type tailWriter struct {
	buf *bytes.Buffer
	max int
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if over := w.buf.Len() - w.max; over > 0 {
		w.buf.Next(over)
	}
	return len(p), nil
}

// Upload writes r's content to remotePath on the host with the given
// permission bits, atomically: into a temporary file beside it, moved
// into place only once all of r arrived and its size checked. Missing
// directories are created (mode 0700). A remotePath starting with ~/ is
// relative to the login user's home directory, as is a relative one.
// If the upload fails the temporary file is removed when the connection
// still allows it; otherwise "<remotePath>.jobrun-upload-*" is left.
//
// When r's size is known (it has a Len method, like *bytes.Reader, or is
// a regular *os.File) it takes one remote command; otherwise two, the
// second checking the size sent.
func (c *Conn) Upload(ctx context.Context, r io.Reader, remotePath string, mode fs.FileMode) error {
	if remotePath == "" || strings.HasSuffix(remotePath, "/") {
		return fmt.Errorf("upload to %q: not a file path", remotePath)
	}
	tmp := remotePath + ".jobrun-upload-" + randHex(6)
	receive := fmt.Sprintf("umask 077 && mkdir -p -- %s && t=%s && cat > \"$t\"", Quote(path.Dir(remotePath)), Quote(tmp))
	finish := func(size int64) string {
		return fmt.Sprintf(`t=%s; n=$(wc -c < "$t" | tr -d ' '); if [ "$n" = %d ]; then chmod %o -- "$t" && mv -f -- "$t" %s; else rm -f -- "$t"; echo "size mismatch: $n bytes arrived, %d sent" >&2; exit 99; fi`,
			Quote(tmp), size, mode.Perm(), Quote(remotePath), size)
	}
	var err error
	if size, ok := sizeOf(r); ok {
		err = c.send(ctx, r, receive+" && "+finish(size), size)
	} else {
		var sent int64
		if sent, err = c.sendAll(ctx, r, receive); err == nil {
			_, err = c.Output(ctx, finish(sent))
		}
	}
	if err != nil {
		c.removeQuietly(tmp)
		return fmt.Errorf("upload to %s: %w", remotePath, err)
	}
	return nil
}

// sizeOf returns how many bytes r will yield, if that is known.
func sizeOf(r io.Reader) (int64, bool) {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len()), true
	case *os.File:
		fi, err := v.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return 0, false
		}
		off, err := v.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0, false
		}
		return fi.Size() - off, true
	}
	return 0, false
}

// send runs script with r as its input and checks that r yielded size
// bytes (the script checks what arrived).
func (c *Conn) send(ctx context.Context, r io.Reader, script string, size int64) error {
	n, err := c.sendAll(ctx, r, script)
	if err == nil && n != size {
		err = fmt.Errorf("the source yielded %d bytes, not the %d expected", n, size)
	}
	return err
}

// sendAll runs script with r as its input and returns how much it sent.
// If reading r fails the channel is closed and the script's input ends
// there, short: scripts must check the size before using what arrived.
func (c *Conn) sendAll(ctx context.Context, r io.Reader, script string) (int64, error) {
	sess, err := c.newSession(ctx)
	if err != nil {
		return 0, err
	}
	defer sess.Close()
	var errb bytes.Buffer
	sess.Stderr = &tailWriter{buf: &errb, max: 2048}
	w, err := sess.StdinPipe()
	if err != nil {
		return 0, err
	}
	if err := sess.Start(script); err != nil {
		return 0, c.opErr("starting an upload", err)
	}
	stop := context.AfterFunc(ctx, func() { sess.Close() })
	defer stop()
	n, copyErr := io.Copy(w, r)
	if copyErr != nil {
		sess.Close()
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		return n, c.opErr("sending data", copyErr)
	}
	w.Close()
	code, err := c.exitStatus(sess.Wait())
	switch {
	case ctx.Err() != nil:
		return n, ctx.Err()
	case err != nil:
		return n, err
	case code != 0:
		return n, fmt.Errorf("exit status %d: %s", code, strings.TrimSpace(errb.String()))
	}
	return n, nil
}

// removeQuietly removes a leftover temporary file, briefly, ignoring
// errors.
func (c *Conn) removeQuietly(p string) {
	if !c.alive() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = c.Run(ctx, "rm -f -- "+Quote(p), nil, nil, nil)
}

// DialUnix opens a connection to the Unix socket remoteSocket on the
// host (e.g. /var/run/docker.sock), forwarded through the SSH connection
// (direct-streamlocal@openssh.com; the host's sshd must allow
// AllowStreamLocalForwarding, its default). The returned net.Conn does
// not support deadlines.
func (c *Conn) DialUnix(ctx context.Context, remoteSocket string) (net.Conn, error) {
	if !c.alive() {
		return nil, c.Err()
	}
	conn, err := c.client.DialContext(ctx, "unix", remoteSocket)
	if err == nil {
		return conn, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	err = c.opErr("opening "+remoteSocket, err)
	var open *ssh.OpenChannelError
	if errors.As(err, &open) {
		err = fmt.Errorf("%w (no socket there, no permission for %s, or the host's sshd forbids Unix-socket forwarding: AllowStreamLocalForwarding)", err, c.ep.User)
	}
	return nil, err
}

// Arch returns the host's architecture as a GOARCH (amd64, arm64, ...),
// from uname -m.
func (c *Conn) Arch(ctx context.Context) (string, error) {
	c.archMu.Lock()
	defer c.archMu.Unlock()
	if c.arch != "" {
		return c.arch, nil
	}
	out, err := c.Output(ctx, "uname -m")
	if err != nil {
		return "", err
	}
	arch, err := GOARCH(strings.TrimSpace(out))
	if err != nil {
		return "", fmt.Errorf("ssh %s: %w", c.ep, err)
	}
	c.arch = arch
	return arch, nil
}

// GOARCH maps a machine name as uname -m prints it to Go's GOARCH.
func GOARCH(machine string) (string, error) {
	switch machine {
	case "x86_64", "amd64":
		return "amd64", nil
	case "aarch64", "arm64":
		return "arm64", nil
	case "i386", "i486", "i586", "i686", "x86":
		return "386", nil
	case "armv6l", "armv7l", "armv7", "armv8l", "arm":
		return "arm", nil
	case "ppc64le":
		return "ppc64le", nil
	case "ppc64":
		return "ppc64", nil
	case "s390x":
		return "s390x", nil
	case "riscv64":
		return "riscv64", nil
	case "loongarch64":
		return "loong64", nil
	case "mips64":
		return "mips64", nil
	}
	return "", fmt.Errorf("unknown machine architecture %q (uname -m)", machine)
}

// Quote quotes s as one word for a POSIX shell. A leading ~/ stays
// outside the quotes as "$HOME"/, so that it still means the home
// directory.
func Quote(s string) string {
	if s == "~" {
		return `"$HOME"`
	}
	if rest, ok := strings.CutPrefix(s, "~/"); ok {
		return `"$HOME"/` + Quote(rest)
	}
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
