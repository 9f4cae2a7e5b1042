package runner

import (
	"context"
	"fmt"
	"os"

	"github.com/jobrun/jobrun/awsconfig"
	"github.com/jobrun/jobrun/channels"
)

// stageInputs stages every channel (S3 File-mode channels downloaded
// through the cache) and starts the Pipe and FastFile streams.
func (r *run) stageInputs(ctx context.Context) error {
	stager, err := r.newStager(ctx)
	if err != nil {
		return err
	}
	if stager.Cache != nil {
		if r.workDir, err = stager.Cache.NewWorkDir(); err != nil {
			return fmt.Errorf("creating a staging folder in the cache: %w", err)
		}
	}
	if r.staged, err = stager.Stage(ctx, r.spec.Inputs, r.workDir); err != nil {
		return err
	}
	r.streams, err = stager.StartStreams(ctx, r.staged, r.tmp, r.workDir, r.logger())
	return err
}

// newStager makes a Stager; S3 access and the cache are set up only when a
// channel reads from S3.
func (r *run) newStager(ctx context.Context) (*channels.Stager, error) {
	s := &channels.Stager{Progress: r.Diag, Hosts: 1}
	if !r.hasS3Inputs() {
		return s, nil
	}
	client, _, err := awsconfig.S3Client(ctx, r.AWS)
	if err != nil {
		return nil, fmt.Errorf("setting up S3 access for the inputs: %w", err)
	}
	cache, err := channels.OpenCache(r.CacheDir, r.CacheMax)
	if err != nil {
		return nil, err
	}
	s.S3, s.Cache = client, cache
	return s, nil
}

func (r *run) hasS3Inputs() bool {
	for _, in := range r.spec.Inputs {
		if !in.IsLocal() {
			return true
		}
	}
	return false
}

// stopStreams ends the Pipe and FastFile channels and removes the staged
// channels (cache blobs stay).
func (r *run) stopStreams() {
	if err := r.streams.Close(); err != nil {
		fmt.Fprintf(r.Diag, "jobrun: stopping input streams: %v\n", err)
	}
	if r.workDir != "" {
		if err := os.RemoveAll(r.workDir); err != nil {
			fmt.Fprintf(r.Diag, "jobrun: removing %s: %v\n", r.workDir, err)
		}
	}
}

// watchStreams stops the container when a Pipe channel fails: it would
// otherwise wait forever for data that will not come.
func (r *run) watchStreams(ctx context.Context, stop context.CancelCauseFunc) {
	if r.streams == nil {
		return
	}
	select {
	case err := <-r.streams.Failed():
		stop(err)
	case <-ctx.Done():
	}
}
