// Package testproc runs the servers test harnesses start (versitygw,
// sshd): started so that the kernel kills them if the test binary dies
// without its cleanups, waited for in the background, and stopped with
// SIGTERM then SIGKILL.
package testproc

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// ErrExited is wrapped by harness errors when a server exited before it
// was ready (e.g. its port was taken): the caller may try again.
var ErrExited = errors.New("server exited")

// Process is a started server.
type Process struct {
	Cmd  *exec.Cmd
	done chan struct{} // closed when Wait returned
	err  error         // Wait's result, valid after done
}

// Start starts cmd and waits for it in the background.
func Start(cmd *exec.Cmd) (*Process, error) {
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited returns an error wrapping ErrExited if the process has exited,
// nil while it runs.
func (p *Process) Exited() error {
	select {
	case <-p.done:
		return errors.Join(ErrExited, p.err)
	default:
		return nil
	}
}

// Terminate sends SIGTERM (grace > 0) or SIGKILL and waits for the exit,
// escalating to SIGKILL after grace.
func (p *Process) Terminate(grace time.Duration) {
	if grace > 0 {
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			return
		case <-time.After(grace):
		}
	}
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// Retry calls launch until it succeeds, fails with an error that does not
// wrap ErrExited, or timeout passes: a server restarted on a fixed port
// may find it briefly taken.
func Retry(launch func() error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := launch()
		if err == nil || !errors.Is(err, ErrExited) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Tail returns the last 4 KiB of a server's log file, for test failures.
func Tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	const max = 4096
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}
