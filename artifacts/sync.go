package artifacts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// SyncOptions tune a Syncer; zero values take the defaults.
type SyncOptions struct {
	// Interval is the time between two scans of the folder; default 1 s.
	// Scanning (rather than inotify) sees files written through any mount
	// and needs no watch per sub-folder; a checkpoint folder holds few
	// files, so a scan costs little.
	Interval time.Duration
	// Settle is how long a file's size and modification time must stay the
	// same before it is uploaded, so that a file still being written is not
	// uploaded half-written; default 1 s. Stop ignores it.
	Settle time.Duration
	// MirrorDeletes deletes from the store the files that were deleted
	// locally. Off by default: a sync never loses a checkpoint.
	MirrorDeletes bool
	// Workers bounds the uploads of one scan; default 8.
	Workers int
	// Log receives the warnings of background syncs; nil means
	// slog.Default().
	Log *slog.Logger
}

func (o SyncOptions) withDefaults() SyncOptions {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Settle <= 0 {
		o.Settle = time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// Syncer copies a folder's new and changed files to a checkpoint store
// while a container writes them.
type Syncer struct {
	dir   string
	store Store
	o     SyncOptions

	stop     chan struct{}
	stopOnce sync.Once
	stopErr  error
	done     chan struct{}
	cancel   context.CancelFunc

	// Used by one pass at a time: the loop's, then Stop's.
	root   *os.Root
	seen   map[string]sighting
	warned map[string]bool

	mu   sync.Mutex
	sent map[string]stamp // key → the local file as it was when the store got it
}

// stamp is what tells a file changed without reading it.
type stamp struct {
	size  int64
	mtime int64 // Unix nanoseconds
}

func (src source) stamp() stamp { return stamp{src.size, src.mtime.UnixNano()} }

// sighting is a stamp and since when a scan has seen it unchanged.
type sighting struct {
	stamp
	since time.Time
}

// Sync starts syncing localDir out to cp's store in the background: every
// Interval it uploads the files that are new or changed and have settled.
// Files already in the store with the same size and modification time
// (as Restore leaves them) are not uploaded again. ctx bounds the
// background syncing only: cancel it to abandon it; Stop does the final
// sync under its own context.
func Sync(ctx context.Context, localDir string, cp Checkpoints, o SyncOptions) *Syncer {
	s := &Syncer{
		dir: localDir, store: cp.Store(), o: o.withDefaults(),
		stop: make(chan struct{}), done: make(chan struct{}),
		seen: map[string]sighting{}, warned: map[string]bool{}, sent: map[string]stamp{},
	}
	ctx, s.cancel = context.WithCancel(ctx)
	go s.loop(ctx)
	return s
}

// Stop lets an upload in progress finish, then syncs once more, everything
// that differs from what the store got, settled or not (the container has
// exited: nothing is being written any more), and returns that final
// sync's error. Unchanged files cost nothing (no request, no read), so
// the final sync after a spot notice's SIGTERM sends only what the last
// epoch wrote. Stop returns ctx's error if ctx ends first. Calling it again
// returns the first call's result.
func (s *Syncer) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.stopAndSync(ctx) })
	return s.stopErr
}

func (s *Syncer) stopAndSync(ctx context.Context) error {
	close(s.stop)
	defer s.cancel()
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancel()
		<-s.done
		return fmt.Errorf("syncing checkpoints to %s: %w", s.store.URI(""), context.Cause(ctx))
	}
	defer s.closeRoot()
	if err := s.pass(ctx, true); err != nil {
		return fmt.Errorf("syncing checkpoints to %s: %w", s.store.URI(""), err)
	}
	return nil
}

func (s *Syncer) loop(ctx context.Context) {
	defer close(s.done)
	tick := time.NewTicker(s.o.Interval)
	defer tick.Stop()
	if err := s.baseline(ctx); err != nil {
		s.o.Log.Warn("checkpoint sync: listing what is already saved", "err", err)
	}
	for {
		select {
		case <-s.stop:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := s.pass(ctx, false); err != nil && ctx.Err() == nil {
			s.o.Log.Warn("checkpoint sync (retried at the next scan)", "err", err)
		}
	}
}

// baseline notes the files the store already has (restored ones: same
// size and modification time) so they are not sent back.
func (s *Syncer) baseline(ctx context.Context) error {
	objs, err := s.store.List(ctx, "")
	if err != nil {
		return err
	}
	srcs, err := s.scan()
	if err != nil {
		return err
	}
	remote := byKey(objs)
	for _, src := range srcs {
		if obj, ok := remote[src.key]; ok && obj.Size == src.size &&
			obj.ModTime.Truncate(time.Second).Equal(src.mtime.Truncate(time.Second)) {
			s.sent[src.key] = src.stamp()
		}
	}
	return nil
}

// scan lists the folder, opening its root the first time it exists.
func (s *Syncer) scan() ([]source, error) {
	if s.root == nil {
		root, err := os.OpenRoot(s.dir)
		if err != nil {
			return nil, err
		}
		s.root = root
	}
	srcs, skipped, err := scan{root: s.root, dir: s.dir}.run()
	for _, name := range skipped {
		if !s.warned[name] {
			s.warned[name] = true
			warnSkipped(s.o.Log, []string{name})
		}
	}
	return srcs, err
}

func (s *Syncer) closeRoot() {
	if s.root != nil {
		s.root.Close()
	}
}

// pass uploads what is due; final makes everything that differs due.
func (s *Syncer) pass(ctx context.Context, final bool) error {
	srcs, err := s.scan()
	if err != nil {
		return err
	}
	due := s.due(srcs, time.Now(), final)
	errs := forEach(ctx, s.o.Workers, len(due), func(ctx context.Context, i int) error {
		return s.upload(ctx, due[i])
	})
	err = summarize("checkpoint files", errs)
	if s.o.MirrorDeletes {
		err = errors.Join(err, s.deleteGone(ctx, srcs))
	}
	return err
}

// due picks the files whose stamp differs from what the store got and,
// unless final, has not changed for Settle.
func (s *Syncer) due(srcs []source, now time.Time, final bool) []source {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []source
	seen := make(map[string]sighting, len(srcs))
	for _, src := range srcs {
		st := src.stamp()
		if s.sent[src.key] == st {
			continue
		}
		sg, ok := s.seen[src.key]
		if !ok || sg.stamp != st {
			sg = sighting{st, now}
		}
		seen[src.key] = sg
		if final || now.Sub(sg.since) >= s.o.Settle {
			out = append(out, src)
		}
	}
	s.seen = seen
	return out
}

// upload sends one file and records its stamp, unless the file changed
// since the scan or while it was sent: then the next scan sees a new stamp
// and sends it again once it settles.
func (s *Syncer) upload(ctx context.Context, src source) error {
	want := src.stamp()
	f, err := src.open()
	if err != nil {
		return err
	}
	defer f.Close()
	if fileStamp(f) != want {
		return nil
	}
	if _, err := s.store.Put(ctx, src.key, f); err != nil {
		return err
	}
	if fileStamp(f) != want {
		return nil
	}
	s.mu.Lock()
	s.sent[src.key] = want
	s.mu.Unlock()
	return nil
}

func fileStamp(f *os.File) stamp {
	info, err := f.Stat()
	if err != nil {
		return stamp{size: -1}
	}
	return stamp{info.Size(), info.ModTime().UnixNano()}
}

// deleteGone deletes from the store what was sent or restored and is no
// longer in the folder.
func (s *Syncer) deleteGone(ctx context.Context, srcs []source) error {
	here := make(map[string]bool, len(srcs))
	for _, src := range srcs {
		here[src.key] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for key := range s.sent {
		if here[key] {
			continue
		}
		if err := s.store.Delete(ctx, key); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(s.sent, key)
	}
	return errors.Join(errs...)
}
