// Command uploadhost is the host side of upload's tests: what
// `jobrun agent upload ARGS...` does, without the rest of jobrun. It
// takes the arguments with or without the leading "agent upload", so
// that tests can use upload.Prefix as they are.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/jobrun/jobrun/runner/remote/upload"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args := os.Args[1:]
	if len(args) >= 2 && args[0] == "agent" && args[1] == "upload" {
		args = args[2:]
	}
	if err := upload.Serve(ctx, args, os.Stdin, os.Stdout, os.Stderr); err != nil {
		os.Exit(1)
	}
}
