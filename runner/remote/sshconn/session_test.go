package sshconn_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jobrun/jobrun/internal/sshtest"
	"github.com/jobrun/jobrun/runner/remote/sshconn"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func newSession(t *testing.T, srv *sshtest.Server, opts sshconn.DialOptions) *sshconn.Session {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := sshconn.NewSession(testContext(t), srv.Target(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func output(t *testing.T, s *sshconn.Session, cmd string) string {
	t.Helper()
	out, err := s.Output(testContext(t), cmd)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return out
}

// With the default keepalives (5 s × 3) a cut link is noticed within 20 s;
// once the link is back the Session redials and commands work again.
func TestCutLinkDefaults(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.InNetns())
	opts := options(t, srv)
	opts.ConnectTimeout = 3 * time.Second
	s := newSession(t, srv, opts)
	if out := output(t, s, "echo one"); out != "one\n" {
		t.Fatalf("echo one = %q", out)
	}
	c0, err := s.Conn(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	inFlight := make(chan error, 1)
	go func() {
		_, err := s.Run(context.Background(), "sleep 120", nil, nil, nil)
		inFlight <- err
	}()
	time.Sleep(500 * time.Millisecond)

	if err := srv.CutLink(); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	select {
	case <-c0.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the cut link was not noticed in 30 s")
	}
	detected := time.Since(cut)
	t.Logf("cut link noticed after %v: %v", detected, c0.Err())
	if detected > 21*time.Second {
		t.Errorf("cut link noticed after %v; want within 20 s", detected)
	}
	if !errors.Is(c0.Err(), sshconn.ErrConnectionLost) || !strings.Contains(c0.Err().Error(), "no answer") {
		t.Errorf("Err = %v; want ErrConnectionLost, no answer", c0.Err())
	}
	select {
	case err := <-inFlight:
		if !errors.Is(err, sshconn.ErrConnectionLost) {
			t.Errorf("in-flight Run = %v; want ErrConnectionLost", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the in-flight Run did not return")
	}

	time.Sleep(2 * time.Second) // a redial or two fail
	if err := srv.RestoreLink(); err != nil {
		t.Fatal(err)
	}
	restored := time.Now()
	if out := output(t, s, "echo two"); out != "two\n" {
		t.Errorf("echo two = %q", out)
	}
	t.Logf("command done %v after the link came back", time.Since(restored))
	if n := s.Redials(); n != 1 {
		t.Errorf("Redials = %d; want 1", n)
	}
}

// With short keepalives: a command issued while the link is down waits
// for the redial and then runs; a Unix-socket connection opened after it
// works.
func TestSessionWaitsForRedial(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.InNetns())
	opts := options(t, srv)
	opts.KeepaliveInterval = 300 * time.Millisecond
	opts.ConnectTimeout = time.Second
	opts.ReconnectMin = 200 * time.Millisecond
	opts.ReconnectMax = time.Second
	s := newSession(t, srv, opts)
	output(t, s, "true")
	c0, _ := s.Conn(testContext(t))

	if err := srv.CutLink(); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	<-c0.Done()
	t.Logf("noticed after %v", time.Since(cut))
	queued := make(chan string, 1)
	go func() {
		out, err := s.Output(testContext(t), "echo queued")
		queued <- fmt.Sprint(out, err)
	}()
	// While the link is down, a bounded wait fails with the redial's
	// error.
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if _, err := s.Run(ctx, "true", nil, nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run while down = %v; want DeadlineExceeded", err)
	} else {
		t.Logf("Run while down: %v", err)
	}
	if err := srv.RestoreLink(); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-queued:
		if got != "queued\n<nil>" {
			t.Errorf("queued command: %q", got)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the queued command did not run after the link came back")
	}
	conn, err := s.DialUnix(testContext(t), "/nonexistent.sock")
	if err == nil {
		conn.Close()
		t.Error("DialUnix to a missing socket succeeded")
	}
	if arch, err := s.Arch(testContext(t)); err != nil || arch == "" {
		t.Errorf("Arch = %q, %v", arch, err)
	}
}

// The host closing the connection (a crash, sshd restarted) is noticed at
// once and redialed at once.
func TestSessionRedialsAfterHostClosed(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t)
	s := newSession(t, srv, options(t, srv))
	output(t, s, "true")
	srv.Restart(t)
	start := time.Now()
	if out := output(t, s, "echo back"); out != "back\n" {
		t.Errorf("after restart: %q", out)
	}
	t.Logf("back after %v", time.Since(start))
	if s.Redials() != 1 {
		t.Errorf("Redials = %d", s.Redials())
	}
}

// A changed host key on redial stops redialing for good: operations fail
// with the *HostKeyError.
func TestSessionStopsOnChangedHostKey(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t)
	opts := options(t, srv)
	s := newSession(t, srv, opts)
	output(t, s, "true")
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(other)
	os.WriteFile(opts.KnownHostsFiles[0], []byte(knownhosts.Line([]string{srv.KnownHostsName()}, signer.PublicKey())+"\n"), 0o600)
	srv.KillConnections()
	_, err := s.Run(testContext(t), "true", nil, nil, nil)
	var hke *sshconn.HostKeyError
	if !errors.As(err, &hke) || !hke.Changed() {
		t.Fatalf("Run after the host key changed = %v; want a changed-key *HostKeyError", err)
	}
	if _, err := s.Conn(testContext(t)); !errors.As(err, &hke) {
		t.Errorf("Conn = %v", err)
	}
}

// Close while the link is down and redials are failing returns promptly
// and fails waiting operations with ErrClosed.
func TestSessionCloseWhileRedialing(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.InNetns())
	opts := options(t, srv)
	opts.KeepaliveInterval = 200 * time.Millisecond
	opts.ConnectTimeout = 10 * time.Second
	s := newSession(t, srv, opts)
	output(t, s, "true")
	c0, _ := s.Conn(testContext(t))
	srv.CutLink()
	<-c0.Done()
	waiting := make(chan error, 1)
	go func() {
		_, err := s.Run(testContext(t), "true", nil, nil, nil)
		waiting <- err
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	select {
	case err := <-waiting:
		if !errors.Is(err, sshconn.ErrClosed) {
			t.Errorf("waiting Run = %v; want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("a waiting Run did not return after Close")
	}
}

// zeros is an endless reader.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// An upload stuck on a cut link (its writes blocked on a full TCP buffer)
// fails once the keepalives give up, and leaves no file in place.
func TestUploadCutLink(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.InNetns())
	opts := options(t, srv)
	opts.KeepaliveInterval = 300 * time.Millisecond
	c := dial(t, srv, opts)
	dst := t.TempDir() + "/big.bin"
	done := make(chan error, 1)
	go func() { done <- c.Upload(testContext(t), zeros{}, dst, 0o600) }()
	time.Sleep(300 * time.Millisecond)
	if err := srv.CutLink(); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	select {
	case err := <-done:
		t.Logf("Upload failed %v after the cut: %v", time.Since(cut), err)
		if !errors.Is(err, sshconn.ErrConnectionLost) {
			t.Errorf("Upload = %v; want ErrConnectionLost", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Upload still running 10 s after the link was cut")
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Errorf("destination exists: %v", err)
	}
}
