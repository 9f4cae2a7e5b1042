package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// growStdout gives a pipe on stdout the 1 MiB buffer Pipe mode asks for
// on its FIFOs (channels' growPipe); failing is harmless, as there.
func growStdout() {
	if fi, err := os.Stdout.Stat(); err == nil && fi.Mode()&os.ModeNamedPipe != 0 {
		unix.FcntlInt(os.Stdout.Fd(), unix.F_SETPIPE_SZ, 1<<20)
	}
}
