// Command jobrun runs SageMaker training containers locally, on a remote
// host or in the cloud from one YAML spec. See README.md.
package main

import "os"

func main() { os.Exit(run(os.Args)) }

// run is main without the exit, so tests can run jobrun in-process.
func run(args []string) int {
	ctx, force, stop := interruptContext()
	defer stop()
	err := newApp(force).RunContext(ctx, reorderArgs(args))
	return report(err)
}
