// Package exitcode is the one place that maps errors to jobrun's exit codes.
package exitcode

import (
	"context"
	"errors"
	"fmt"
)

// Exit codes, documented in every command's help.
const (
	OK          = 0
	Usage       = 2   // bad spec or command line
	MaxRuntime  = 124 // stopping.max_runtime reached
	Failure     = 125 // jobrun or Docker failed
	Interrupted = 130 // stopped by Ctrl-C or a signal
)

// UsageError marks a mistake in the spec or the command line (exit 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// NewUsage wraps err as a usage error.
func NewUsage(err error) error {
	if err == nil {
		return nil
	}
	return &UsageError{Err: err}
}

// Usagef formats a usage error.
func Usagef(format string, a ...any) error { return NewUsage(fmt.Errorf(format, a...)) }

// ContainerExit carries a container's own non-zero exit code through to
// jobrun's exit status.
type ContainerExit struct{ Code int }

func (e *ContainerExit) Error() string { return fmt.Sprintf("container exited with code %d", e.Code) }

// ErrMaxRuntime is the cause when stopping.max_runtime stopped the job.
var ErrMaxRuntime = errors.New("max runtime reached")

// ErrInterrupted is the cause when the user stopped the job.
var ErrInterrupted = errors.New("interrupted")

// Code maps an error to an exit code.
func Code(err error) int {
	var usage *UsageError
	var exit *ContainerExit
	var coded *Coded
	switch {
	case err == nil:
		return OK
	case errors.As(err, &usage):
		return Usage
	case errors.Is(err, ErrMaxRuntime):
		return MaxRuntime
	case errors.Is(err, ErrInterrupted), errors.Is(err, context.Canceled):
		return Interrupted
	case errors.As(err, &exit):
		return exit.Code
	case errors.As(err, &coded):
		return coded.Code
	default:
		return Failure
	}
}

// Quiet reports whether the error needs no message: an interruption, or a
// bare container exit the container has already explained in its own log.
// A container exit wrapped with more context (out of memory) is printed.
func Quiet(err error) bool {
	var exit *ContainerExit
	var coded *Coded
	if errors.As(err, &coded) {
		return coded.Msg == ""
	}
	return errors.Is(err, ErrInterrupted) || errors.Is(err, context.Canceled) ||
		(errors.As(err, &exit) && err.Error() == exit.Error())
}

// Coded carries an exit code decided elsewhere: the agent of a remote job
// maps its run's error to a code on the host, and the client exits with
// that same code. Msg is the agent's error message, "" when the code says
// it all (a container's own exit code, an interruption).
type Coded struct {
	Code int
	Msg  string
}

func (e *Coded) Error() string {
	if e.Msg != "" {
		return e.Msg
	}
	return fmt.Sprintf("exit code %d", e.Code)
}
