package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/channels"
	"github.com/jobrun/jobrun/exitcode"
)

// cleanupTimeout bounds what runs after the job ends or is interrupted.
const cleanupTimeout = 5 * time.Minute

// runContainer runs the container with logs, metrics and the runtime limit.
func (r *run) runContainer(ctx context.Context, c Container) error {
	logFile, err := os.Create(filepath.Join(r.dir, "logs", "algo-1.log"))
	if err != nil {
		return fmt.Errorf("creating log file: %w", err)
	}
	defer logFile.Close()
	metricsFile, err := os.Create(filepath.Join(r.dir, "metrics.jsonl"))
	if err != nil {
		return fmt.Errorf("creating metrics file: %w", err)
	}
	defer metricsFile.Close()
	sink, err := newLogSink(logFile, metricsFile, r.spec.Metrics, time.Now)
	if err != nil {
		return err
	}
	stdout, stderr := sink.stream(r.Stdout), sink.stream(r.Stderr)
	c.Stdout, c.Stderr = stdout, stderr
	hashes := r.describeInputs(ctx)

	streamCtx, streamFailed := context.WithCancelCause(ctx)
	defer streamFailed(nil)
	runCtx, cancel := context.WithTimeoutCause(streamCtx, r.spec.Stopping.MaxRuntime, exitcode.ErrMaxRuntime)
	defer cancel()
	go r.watchStreams(runCtx, streamFailed)
	go r.announceStop(runCtx)
	now := time.Now().UTC()
	r.rec.StartedAt = &now
	if err := artifacts.WriteRecord(r.dir, r.rec); err != nil {
		return err
	}
	r.startCheckpointSync(ctx)
	exit, runErr := r.Engine.Run(runCtx, c)
	stdout.(*streamWriter).flush()
	stderr.(*streamWriter).flush()
	r.rec.FinalMetrics = sink.final
	r.rec.Inputs = <-hashes
	if runErr != nil {
		return runErr
	}
	r.noteExit(exit)
	return exitError(runCtx, exit, sink.err)
}

// describeInputs hashes the inputs while the container runs. A forced stop
// abandons it: the user asked to be done now.
func (r *run) describeInputs(ctx context.Context) <-chan []artifacts.InputRecord {
	out := make(chan []artifacts.InputRecord, 1)
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-r.Force:
			cancel()
		case <-hctx.Done():
		}
	}()
	go func() {
		defer cancel()
		recs, err := channels.Describe(hctx, r.staged)
		if err != nil {
			fmt.Fprintf(r.Diag, "jobrun: %v\n", err)
		}
		out <- recs
	}()
	return out
}

func (r *run) announceStop(ctx context.Context) {
	<-ctx.Done()
	cause := context.Cause(ctx)
	if errors.Is(cause, context.Canceled) && !errors.Is(cause, exitcode.ErrInterrupted) {
		return // the run is over; nothing is being stopped
	}
	fmt.Fprintf(r.Diag, "jobrun: %v: stopping the container (SIGTERM, SIGKILL after %v; press Ctrl-C again to kill it now)\n",
		cause, r.spec.Stopping.Grace)
}

func (r *run) noteExit(exit Exit) {
	code := exit.Code
	r.rec.ExitCode = &code
	if !exit.StartedAt.IsZero() {
		r.rec.StartedAt = &exit.StartedAt
	}
	r.rec.FailureReason = artifacts.ReadFailure(filepath.Join(r.dir, "output"))
	if exit.OOMKilled && r.rec.FailureReason == "" {
		r.rec.FailureReason = fmt.Sprintf("the container ran out of memory and was killed (exit code %d); "+
			"raise resources.memory or the Docker Engine's memory", code)
	}
	if exit.Killed && r.rec.FailureReason == "" {
		r.rec.FailureReason = "the container did not exit within the grace period after SIGTERM and was killed"
	}
}

// exitError maps how the container ended to jobrun's error.
func exitError(ctx context.Context, exit Exit, ioErr error) error {
	switch {
	case exit.Stopped:
		return context.Cause(ctx)
	case exit.OOMKilled:
		return fmt.Errorf("the container ran out of memory and was killed (raise resources.memory): %w",
			&exitcode.ContainerExit{Code: exit.Code})
	case exit.Code != 0:
		return &exitcode.ContainerExit{Code: exit.Code}
	}
	return ioErr
}

// finish collects outputs and writes the final record. It runs even when
// the run was interrupted, under its own bounded context. A run whose
// container completed but whose outputs could not be published fails
// (exit 125): its results are not where the user expects them.
func (r *run) finish(ctx context.Context, runErr error, res *Result) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	r.setStatus(runErr)
	// Ownership first: the checkpoint sync cannot read root's 0600 files.
	errs := []error{r.fixOwnership(ctx), r.stopCheckpointSync(ctx), r.compress()}
	now := time.Now().UTC()
	r.rec.EndedAt = &now
	pubErr := r.publish(ctx, res)
	if runErr == nil {
		runErr, pubErr = pubErr, nil // reported by the caller
	}
	for _, err := range append(errs, pubErr) {
		if err != nil {
			fmt.Fprintf(r.Diag, "jobrun: %v\n", err)
		}
	}
	r.notify(ctx, res.RunDir)
	res.Status, res.FailureReason = r.rec.Status, r.rec.FailureReason
	res.ExitCode = exitcode.Code(runErr)
	return runErr
}

func (r *run) setStatus(runErr error) {
	switch {
	case runErr == nil:
		r.rec.Status = artifacts.StatusCompleted
	case errors.Is(runErr, exitcode.ErrMaxRuntime):
		r.rec.Status, r.rec.StopReason = artifacts.StatusStopped, "MaxRuntimeExceeded"
	case errors.Is(runErr, exitcode.ErrInterrupted), errors.Is(runErr, context.Canceled):
		r.rec.Status, r.rec.StopReason = artifacts.StatusStopped, "Interrupted"
	default:
		r.rec.Status = artifacts.StatusFailed
		if r.rec.FailureReason == "" {
			r.rec.FailureReason = firstN(runErr.Error(), 1024)
		}
	}
}

func firstN(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// chowner is implemented by engines that can hand root-owned files back.
type chowner interface {
	Chown(ctx context.Context, image string, uid, gid int, dirs ...string) error
}

// fixOwnership gives files a root container wrote back to the user who
// ran jobrun, so they can move and delete their own run.
func (r *run) fixOwnership(ctx context.Context) error {
	uid, gid := os.Getuid(), os.Getgid()
	dirs := []string{filepath.Join(r.dir, "model"), filepath.Join(r.dir, "output")}
	if r.spec.Checkpoint != nil {
		dirs = append(dirs, r.checkpointDir())
	}
	ch, ok := r.Engine.(chowner)
	if uid == 0 || r.imageID == "" || !ok || !artifacts.ForeignOwned(uid, dirs...) {
		return nil
	}
	return ch.Chown(ctx, r.imageID, uid, gid, dirs...)
}

// compress replaces model/ and output/data/ by SageMaker's archives when
// the spec asks for gzip.
func (r *run) compress() error {
	if r.spec.Output.Compression != "gzip" || r.isRemote() { // a push compresses while it uploads
		return nil
	}
	out := filepath.Join(r.dir, "output")
	if err := artifacts.Archive(filepath.Join(r.dir, "model"), filepath.Join(out, "model.tar.gz")); err != nil {
		return err
	}
	r.rec.Outputs.Model = "output/model.tar.gz"
	if err := artifacts.Archive(filepath.Join(out, "data"), filepath.Join(out, "output.tar.gz")); err != nil {
		return err
	}
	r.rec.Outputs.Output = "output/"
	return nil
}
