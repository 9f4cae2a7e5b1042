package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/jobrun/jobrun/exitcode"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func jobrunVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

const exitStatusHelp = `
EXIT STATUS:
   0    the job completed (or the command succeeded)
   2    bad spec or command line
   124  stopping.max_runtime was reached and the job was stopped
   125  jobrun or the Docker Engine failed
   130  interrupted (Ctrl-C)
   N    otherwise the container's own non-zero exit code
`

func newApp(force <-chan struct{}) *cli.App {
	cli.CommandHelpTemplate = cli.CommandHelpTemplate + exitStatusHelp
	cli.AppHelpTemplate = cli.AppHelpTemplate + exitStatusHelp
	usage := func(_ *cli.Context, err error, _ bool) error { return exitcode.NewUsage(err) }
	app := &cli.App{
		Name:    "jobrun",
		Usage:   "run SageMaker training containers anywhere, from one YAML spec",
		Version: jobrunVersion(),
		Description: `Examples:
   jobrun local train.yaml                      run a job on this machine's Docker Engine
   jobrun local train.yaml --set hyperparameters.lr=0.1
   jobrun validate train.yaml                   check a spec without running it
   jobrun render train.yaml ./opt-ml            write the /opt/ml tree a container would see
   jobrun remote train.yaml --host gpu-box      run it on a GPU host over SSH, supervised there
   jobrun ls                                    list runs in ./runs`,
		HideHelpCommand:           true,
		DisableSliceFlagSeparator: true,
		Commands: []*cli.Command{
			localCommand(force), validateCommand(), renderCommand(), lsCommand(), statusCommand(), logsCommand(),
			diffCommand(), pushCommand(), rerunCommand(force), remoteCommand(force), stopCommand(), pullCommand(), gcCommand(), chownCommand(), agentCommand(force),
		},
		OnUsageError:   func(_ *cli.Context, err error, _ bool) error { return exitcode.NewUsage(err) },
		ExitErrHandler: func(*cli.Context, error) {},
	}
	for _, c := range app.Commands {
		c.OnUsageError = usage
	}
	return app
}

// report prints an error (unless it explains itself) and returns the exit code.
func report(err error) int {
	var exit cli.ExitCoder
	if errors.As(err, &exit) { // urfave/cli's own errors are about usage
		err = exitcode.NewUsage(err)
	}
	code := exitcode.Code(err)
	if err != nil && !exitcode.Quiet(err) {
		msg := err.Error()
		if !strings.Contains(msg, "\n") {
			msg = "jobrun: " + msg // several lines are file:line:col diagnostics
		}
		fmt.Fprintln(os.Stderr, msg)
	}
	var usage *exitcode.UsageError
	if errors.As(err, &usage) && strings.Contains(err.Error(), "flag provided but not defined") {
		fmt.Fprintln(os.Stderr, "run 'jobrun --help' or 'jobrun COMMAND --help' for usage")
	}
	return code
}
