package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/jobrun/jobrun/exitcode"
)

// interruptContext is the one place signals are handled. The first Ctrl-C
// (or SIGTERM) cancels the context with exitcode.ErrInterrupted: the job is
// stopped gracefully and its outputs are collected. The second closes
// force: the container is killed at once and cleanup still runs.
func interruptContext() (context.Context, <-chan struct{}, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	force := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			cancel(exitcode.ErrInterrupted)
		case <-done:
			return
		}
		select {
		case <-sigs:
			fmt.Fprintln(os.Stderr, "jobrun: killing the container now; cleaning up")
			close(force)
		case <-done:
		}
	}()
	stopped := false
	return ctx, force, func() {
		if !stopped {
			stopped = true
			signal.Stop(sigs)
			close(done)
			cancel(context.Canceled)
		}
	}
}
