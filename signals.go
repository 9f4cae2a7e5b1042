package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/jobrun/jobrun/exitcode"
	"github.com/jobrun/jobrun/runner/remote/agent"
)

// errHangup is the interruption of a closed terminal (SIGHUP): jobrun
// local stops its job as on Ctrl-C, jobrun remote detaches instead.
var errHangup = fmt.Errorf("terminal closed: %w", exitcode.ErrInterrupted)

// interruptContext is the one place signals are handled. The first Ctrl-C
// (or SIGTERM, SIGHUP) cancels the context with exitcode.ErrInterrupted:
// the job is stopped gracefully and its outputs are collected. The second
// closes force: the container is killed at once and cleanup still runs.
//
// jobrun stop uses two signals of its own, which unlike Ctrl-C can be sent
// any number of times: agent.StopSignal asks for the graceful stop,
// agent.KillSignal for the kill.
func interruptContext() (context.Context, <-chan struct{}, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	force := make(chan struct{})
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, agent.StopSignal, agent.KillSignal)
	done := make(chan struct{})
	go func() {
		interrupted, forced := false, false
		for {
			select {
			case sig := <-sigs:
				switch {
				case !interrupted:
					interrupted = true
					cause := exitcode.ErrInterrupted
					if sig == syscall.SIGHUP {
						cause = errHangup
					}
					cancel(cause)
					if sig != agent.KillSignal {
						continue
					}
				case sig == agent.StopSignal:
					continue // already stopping
				}
				if !forced {
					forced = true
					fmt.Fprintln(os.Stderr, "jobrun: killing the container now; cleaning up")
					close(force)
				}
			case <-done:
				return
			}
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
