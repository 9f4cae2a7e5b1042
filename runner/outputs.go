package runner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/exitcode"
)

// The run's place: a local output folder is the run directory itself; an
// S3 output gets a local staging run directory that is pushed at the end.

// isRemote reports whether the run's place is not the local run directory.
func (r *run) isRemote() bool { return artifacts.IsS3(r.spec.Output.URI) }

// openPlace decides the local run directory and, for an S3 output, opens
// the store and makes sure the run is not there already.
func (r *run) openPlace(ctx context.Context) error {
	if !r.isRemote() {
		r.dir = filepath.Join(r.spec.Output.URI, r.JobName)
		return nil
	}
	store, err := artifacts.OpenStore(ctx, r.spec.Output.URI, r.AWS)
	if err != nil {
		return err
	}
	r.store = store
	if _, err := store.Stat(ctx, r.JobName+"/"+artifacts.RecordFile); err == nil {
		return exitcode.Usagef("run %s already exists in %s; choose another --name", r.JobName, r.spec.Output.URI)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checking output %s: %w", r.spec.Output.URI, err)
	}
	r.dir = filepath.Join(r.LocalRuns, r.JobName)
	return nil
}

// publishStart makes an S3 run visible (status InProgress) from the start.
func (r *run) publishStart(ctx context.Context) error {
	if r.store == nil {
		return nil
	}
	if err := artifacts.PushRecord(ctx, r.dir, r.store); err != nil {
		return fmt.Errorf("writing job.json to %s: %w", r.spec.Output.URI, err)
	}
	return nil
}

func (r *run) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(r.Diag, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func (r *run) checkpointDir() string { return filepath.Join(r.tmp, "checkpoints") }

// restoreCheckpoints copies the checkpoint URI's files into the folder
// mounted at checkpoint.local_path.
func (r *run) restoreCheckpoints(ctx context.Context) error {
	if r.spec.Checkpoint == nil {
		return nil
	}
	if err := os.MkdirAll(r.checkpointDir(), 0o777); err != nil {
		return err
	}
	cp, err := artifacts.OpenCheckpoints(ctx, r.spec.Checkpoint.URI, r.AWS)
	if err != nil {
		return fmt.Errorf("opening checkpoints %s: %w", r.spec.Checkpoint.URI, err)
	}
	r.ckpt = cp
	r.rec.Outputs.Checkpoints = r.spec.Checkpoint.URI
	return cp.Restore(ctx, r.checkpointDir())
}

// startCheckpointSync copies new and changed checkpoints out while the
// container runs, so a killed run or host loses at most the last seconds.
func (r *run) startCheckpointSync(ctx context.Context) {
	if r.ckpt != nil {
		r.syncer = artifacts.Sync(context.WithoutCancel(ctx), r.checkpointDir(), r.ckpt, artifacts.SyncOptions{Log: r.logger()})
	}
}

// stopCheckpointSync does the final, complete sync.
func (r *run) stopCheckpointSync(ctx context.Context) error {
	if r.syncer == nil {
		return nil
	}
	if err := r.syncer.Stop(ctx); err != nil {
		return fmt.Errorf("saving checkpoints to %s: %w", r.spec.Checkpoint.URI, err)
	}
	return nil
}

// publish writes the final record and, for an S3 output, pushes the run.
// The local staging copy of a pushed run is removed once the push is
// verified; after a failed push it stays for `jobrun push` to resume.
func (r *run) publish(ctx context.Context, res *Result) error {
	if r.store == nil {
		return artifacts.WriteRecord(r.dir, r.rec)
	}
	if err := artifacts.WriteRecord(r.dir, r.rec); err != nil {
		return err
	}
	rec, err := artifacts.Push(ctx, r.dir, r.store, artifacts.PushOptions{Compression: r.spec.Output.Compression, Log: r.logger(),
		Progress: ByteProgress(r.Diag, "jobrun: uploading "+r.JobName)})
	if err != nil {
		return fmt.Errorf("uploading the run to %s: %w; the run is kept in %s: resume with `jobrun push %s`",
			r.spec.Output.URI, err, r.dir, r.dir)
	}
	r.rec = rec
	res.RunDir = r.store.URI(r.JobName + "/")
	return os.RemoveAll(r.dir)
}

// notify posts the run's end to the spec's webhook; failures are logged.
func (r *run) notify(ctx context.Context, runDir string) {
	n := r.spec.Notify
	if n == nil || !n.Wants(r.rec.Status) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := artifacts.Notify(ctx, n.Webhook, artifacts.EventFor(r.rec, runDir)); err != nil {
		fmt.Fprintf(r.Diag, "jobrun: notifying the webhook: %v\n", err)
	}
}
