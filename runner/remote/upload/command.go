package upload

import (
	"strings"

	"github.com/jobrun/jobrun/runner/remote/sshconn"
)

// AgentCommand is the jobrun subcommand, after the binary's path, that
// hands the rest of its arguments to Serve: `<bin> agent upload ARGS...`
// must call Serve(ctx, ARGS, os.Stdin, os.Stdout, os.Stderr).
const AgentCommand = "agent upload"

// Host operations, the first argument of Serve.
const (
	opReceive = "receive" // receive --store S: a blob stream on stdin
	opLink    = "link"    // link --store S --dest D: a manifest on stdin
)

// Prefix is Options.Agent for the jobrun binary at bin on the host (an
// absolute path, or ~/... for the login user's home): the path quoted for
// the host's shell, then AgentCommand.
func Prefix(bin string) string {
	return sshconn.Quote(bin) + " " + AgentCommand
}

// Command is the shell command line that runs Serve(args) on the host:
// agent (already quoted, used as it is) followed by each of args quoted.
// Send builds every host command with it, so it is the one place where
// the client's arguments and Serve's parsing meet.
func Command(agent string, args ...string) string {
	var b strings.Builder
	b.WriteString(agent)
	for _, a := range args {
		b.WriteByte(' ')
		b.WriteString(sshconn.Quote(a))
	}
	return b.String()
}
