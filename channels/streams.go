package channels

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/jobrun/jobrun/spec"
)

// Streams serves a run's Pipe and FastFile channels while its container
// runs: one goroutine per Pipe channel, one FUSE mount per FastFile one.
type Streams struct {
	Mounts []Mount // what the container must see, read-only
	cancel context.CancelFunc
	wg     sync.WaitGroup
	failed chan error
	fast   []*FastFile
}

// StartStreams prepares the streaming channels of staged under dir (a
// run-private folder): FIFOs in dir/pipes, mounted over
// /opt/ml/input/data; FastFile mounts in dir/fastfile/<channel>. A
// FastFile channel falls back to File mode (staged into workDir) where
// FUSE cannot be used, with a warning to log. The FIFOs exist when it
// returns, so the container can start.
func (s *Stager) StartStreams(ctx context.Context, staged []Staged, dir, workDir string, log *slog.Logger) (*Streams, error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	st := &Streams{cancel: cancel, failed: make(chan error, len(staged))}
	pipes := filepath.Join(dir, "pipes")
	for i := range staged {
		if err := s.startStream(ctx, st, &staged[i], pipes, dir, workDir, log); err != nil {
			st.Close()
			return nil, fmt.Errorf("channel %q: %w", staged[i].Input.Name, err)
		}
	}
	if _, err := os.Stat(pipes); err == nil {
		if err := makeMountPoints(pipes, staged); err != nil {
			st.Close()
			return nil, err
		}
		st.Mounts = append(st.Mounts, Mount{Source: pipes, Target: DataDir})
	}
	return st, nil
}

func (s *Stager) startStream(ctx context.Context, st *Streams, ch *Staged, pipes, dir, workDir string, log *slog.Logger) error {
	if !ch.IsS3() {
		return nil
	}
	switch ch.Input.Mode {
	case "pipe":
		return s.startPipe(ctx, st, ch, pipes, log)
	case "fastfile":
		return s.startFastFile(ctx, st, ch, dir, workDir, log)
	}
	return nil
}

func (s *Stager) startPipe(ctx context.Context, st *Streams, ch *Staged, dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	p := &Pipe{Dir: dir, Channel: ch.Input.Name, Objects: ch.Objects, Open: s, Log: log, SpoolDir: dir,
		Gzip: ch.Input.Compression == "gzip", RecordIO: ch.Input.RecordWrapper == "recordio"}
	if ch.Input.Type == "augmented_manifest" {
		p.Items = s.manifestItems(ctx, *ch)
	}
	if err := p.Prepare(); err != nil {
		return err
	}
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		if err := p.Serve(ctx); err != nil && ctx.Err() == nil {
			st.failed <- fmt.Errorf("pipe channel %q: %w", ch.Input.Name, err)
		}
	}()
	return nil
}

// manifestItems streams an augmented manifest's selected attributes: a
// "-ref" attribute as the bytes of the object it names, any other as its
// value. The manifest is read again each epoch.
func (s *Stager) manifestItems(ctx context.Context, ch Staged) func(yield func(PipeItem) bool) error {
	return ManifestItems(func(yield func([]PipeItem) bool) error {
		return s.EachRecord(ctx, &ch, func(rec AugmentedRecord) bool {
			items := make([]PipeItem, len(rec.Values))
			for i, v := range rec.Values {
				if v.Ref != nil {
					items[i].Object = v.Ref
				} else {
					items[i].Data = AttributeBytes(v.Raw)
				}
			}
			return yield(items)
		})
	})
}

func (s *Stager) startFastFile(ctx context.Context, st *Streams, ch *Staged, dir, workDir string, log *slog.Logger) error {
	mnt := filepath.Join(dir, "fastfile", ch.Input.Name)
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return err
	}
	// Spill files below the cache (workDir) share its file system, so
	// cached objects are served in place through hard links.
	spill := dir
	if workDir != "" {
		spill = workDir
	}
	ff, err := MountFastFile(ctx, mnt, spill, ch.Objects, s)
	if errors.Is(err, ErrNoFUSE) {
		log.Warn("FastFile mode needs FUSE (run as root, or install fuse3 and allow user_allow_other); staging the channel in File mode instead",
			"channel", ch.Input.Name, "error", err)
		return s.fallBackToFile(ctx, st, ch, workDir)
	}
	if err != nil {
		return err
	}
	st.fast = append(st.fast, ff)
	st.Mounts = append(st.Mounts, Mount{Source: ff.Dir(), Target: path.Join(DataDir, ch.Input.Name)})
	return nil
}

func (s *Stager) fallBackToFile(ctx context.Context, st *Streams, ch *Staged, workDir string) error {
	in := ch.Input
	in.Mode = "file"
	staged, err := s.Stage(ctx, []spec.Input{in}, workDir)
	if err != nil {
		return err
	}
	st.Mounts = append(st.Mounts, staged[0].Mounts...)
	return nil
}

// makeMountPoints creates, in the pipes folder mounted over
// /opt/ml/input/data, the folders and files the other channels are
// mounted on: the pipes mount is read-only, so Docker could not create
// them there.
func makeMountPoints(pipes string, staged []Staged) error {
	for _, ch := range staged {
		if ch.Input.Mode == "pipe" && ch.IsS3() {
			continue
		}
		if err := os.MkdirAll(filepath.Join(pipes, ch.Input.Name), 0o755); err != nil {
			return err
		}
		for _, m := range ch.Mounts {
			if err := makeMountPoint(pipes, m); err != nil {
				return err
			}
		}
	}
	return nil
}

func makeMountPoint(pipes string, m Mount) error {
	target := filepath.Join(pipes, strings.TrimPrefix(m.Target, DataDir+"/"))
	if info, err := os.Stat(m.Source); err == nil && info.IsDir() {
		return os.MkdirAll(target, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// Failed delivers the first error of a Pipe channel: the job cannot go
// on with a truncated stream.
func (st *Streams) Failed() <-chan error { return st.failed }

// Close stops the Pipe channels and unmounts the FastFile ones.
func (st *Streams) Close() error {
	if st == nil {
		return nil
	}
	st.cancel()
	st.wg.Wait()
	var errs []error
	for _, ff := range st.fast {
		errs = append(errs, ff.Close())
	}
	return errors.Join(errs...)
}

var _ io.Closer = (*Streams)(nil)
