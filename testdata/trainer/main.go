// Command trainer is a tiny but real SageMaker bring-your-own-container
// trainer, used by jobrun's integration tests and by examples/quickstart.
//
// It follows the training-container contract: it is run as `trainer train`
// (no argument is accepted too), reads /opt/ml/input/config/*.json, trains a
// logistic regression on the CSV files of one input channel, checkpoints every
// epoch, resumes from a checkpoint, checkpoints and exits 143 on SIGTERM,
// writes /opt/ml/model/model.json, and on bad input writes
// /opt/ml/output/failure and exits 2.
//
// Hyperparameters (every value a string, as SageMaker writes them):
//
//	epochs          number of epochs in total, counting resumed ones (default 5)
//	lr              learning rate of batch gradient descent (default 0.1)
//	channel         input channel to train on (default "train")
//	sleep           seconds to sleep at the start of each epoch (default 0)
//	fail            "true": write the failure file, exit with exit_code
//	exit_code       exit code for fail=true (default 3)
//	ignore_sigterm  "true": ignore SIGTERM, so only SIGKILL ends the job
//	allocate_mb     touch this many MiB before training (out-of-memory tests)
//	dump_env        "true": write output/data/env.json (environment, configs,
//	                argv, hostname, host resolution, uid, /opt/ml/code, mounts)
//
// JOBRUN_TRAINER_ROOT replaces /opt/ml, to run the trainer outside a container.
// It uses the standard library only and builds with CGO_ENABLED=0.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitInternal = 1   // an I/O error the input is not to blame for
	exitBadInput = 2   // bad configuration, hyperparameters or data
	exitFail     = 3   // default exit code for fail=true
	exitSIGTERM  = 143 // 128 + SIGTERM, after saving a checkpoint
)

// exitError ends the run with code; reason goes to the failure file unless
// the run was stopped by SIGTERM.
type exitError struct {
	code   int
	reason string
}

func (e *exitError) Error() string { return e.reason }

func badInput(format string, args ...any) error {
	return &exitError{code: exitBadInput, reason: fmt.Sprintf(format, args...)}
}

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	t := &trainer{dirs: newDirs(os.Getenv("JOBRUN_TRAINER_ROOT")), sigs: sigs}
	os.Exit(t.main(os.Args[1:]))
}

// trainer holds one run's directories and its SIGTERM channel.
type trainer struct {
	dirs dirs
	sigs chan os.Signal
}

// main runs the job and maps its outcome to an exit code.
func (t *trainer) main(args []string) int {
	err := t.run(args)
	if err == nil {
		return 0
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		ee = &exitError{code: exitInternal, reason: err.Error()}
	}
	if ee.code != exitSIGTERM {
		t.writeFailure(ee.reason)
	}
	logf("exiting with code %d: %s", ee.code, ee.reason)
	return ee.code
}

func (t *trainer) run(args []string) error {
	cfg, err := loadConfig(t.dirs)
	if err != nil {
		return err
	}
	p, perr := parseParams(cfg.hyperparameters)
	if p.ignoreSIGTERM {
		signal.Ignore(syscall.SIGTERM)
		logf("ignore_sigterm=true: ignoring SIGTERM, only SIGKILL ends this job")
	}
	if p.dumpEnv {
		t.dumpEnv(args, cfg)
	}
	if perr != nil {
		return perr
	}
	if err := checkArgs(args); err != nil {
		return err
	}
	allocate(p.allocateMB)
	if p.fail {
		return &exitError{code: p.exitCode,
			reason: fmt.Sprintf("fail=true: failing on purpose with exit code %d", p.exitCode)}
	}
	return t.train(p, cfg)
}

// checkArgs accepts SageMaker's `train` argument or none at all.
func checkArgs(args []string) error {
	if len(args) == 0 {
		logf("started without arguments (SageMaker passes \"train\")")
		return nil
	}
	if args[0] != "train" {
		return badInput("unknown argument %q: expected \"train\" or no argument", args[0])
	}
	if len(args) > 1 {
		logf("ignoring extra arguments %q", args[1:])
	}
	return nil
}

// logf prints a diagnostic line to stderr; results go to stdout.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "trainer: "+format+"\n", args...)
}

// ballast keeps allocate's memory reachable until the process ends.
var ballast [][]byte

// allocate touches n MiB, to test out-of-memory handling.
func allocate(n int) {
	for i := 0; i < n; i++ {
		b := make([]byte, 1<<20)
		for j := range b {
			b[j] = byte(j)
		}
		ballast = append(ballast, b)
	}
}
