package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jobrun/jobrun/awsconfig"
)

// Checkpoints is where a job's checkpoints are kept between runs: restored
// into the container's checkpoint folder before it starts, synced out while
// it runs (Sync) and saved once more after it exits. Saving adds and
// replaces files, never deletes them: a checkpoint is never lost by a sync.
type Checkpoints interface {
	// Restore copies the saved checkpoints into localDir, skipping files
	// already there unchanged. Nothing saved yet is not an error.
	Restore(ctx context.Context, localDir string) error
	// Save copies new and changed files of localDir out.
	Save(ctx context.Context, localDir string) error
	// Store is where they are kept, for a Syncer's file-by-file uploads.
	Store() Store
}

// OpenCheckpoints opens a checkpoint URI: an s3:// prefix through the AWS
// configuration aws selects, or a local folder.
func OpenCheckpoints(ctx context.Context, uri string, aws awsconfig.Options) (Checkpoints, error) {
	st, err := OpenStore(ctx, uri, aws)
	if err != nil {
		return nil, err
	}
	if s3, ok := st.(*S3Store); ok {
		return S3Checkpoints{S3: s3}, nil
	}
	return LocalCheckpoints{Dir: st.URI("")}, nil
}

// LocalCheckpoints keeps checkpoints in a local directory: restored into
// the container's checkpoint folder before the start, saved back after.
type LocalCheckpoints struct{ Dir string }

// Store is the directory.
func (l LocalCheckpoints) Store() Store { return LocalStore{Root: l.Dir} }

// Restore copies the saved checkpoints into dst. A missing directory is an
// empty one: the first run of a job has nothing to resume from.
func (l LocalCheckpoints) Restore(ctx context.Context, dst string) error {
	if _, err := os.Stat(l.Dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := CopyTree(ctx, l.Dir, dst); err != nil {
		return fmt.Errorf("restoring checkpoints from %s: %w", l.Dir, err)
	}
	return nil
}

// Save copies new and changed files from src back. Files deleted in src
// are kept: a checkpoint is never lost by a sync.
func (l LocalCheckpoints) Save(ctx context.Context, src string) error {
	if err := CopyTree(ctx, src, l.Dir); err != nil {
		return fmt.Errorf("saving checkpoints to %s: %w", l.Dir, err)
	}
	return nil
}

// CopyTree copies regular files and folders from src to dst, skipping
// files whose size and modification time already match. Each file is
// written through a temporary name and renamed, so an interrupted copy
// never leaves a half-written file under its real name. Symlinks and
// special files are skipped.
func CopyTree(ctx context.Context, src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			return copyIfChanged(path, target)
		}
		return nil
	})
}

func copyIfChanged(src, dst string) error {
	si, err := os.Stat(src)
	if err != nil {
		return err
	}
	if di, err := os.Stat(dst); err == nil && di.Size() == si.Size() && di.ModTime().Equal(si.ModTime()) {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(dst), ".tmp-"+filepath.Base(dst)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(out.Name())
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := errors.Join(out.Chmod(si.Mode().Perm()), out.Close()); err != nil {
		return err
	}
	if err := os.Chtimes(out.Name(), si.ModTime(), si.ModTime()); err != nil {
		return err
	}
	return os.Rename(out.Name(), dst)
}

// S3Checkpoints keeps checkpoints below an S3 prefix, as SageMaker does
// with CheckpointConfig.S3Uri.
type S3Checkpoints struct{ S3 *S3Store }

// Store is the S3 prefix.
func (c S3Checkpoints) Store() Store { return c.S3 }

// Restore downloads every object below the prefix into localDir, in
// parallel. Each file gets the object's modification time, so a file
// already there with the same size and time is skipped, and a Syncer
// started afterwards knows it need not upload it back.
func (c S3Checkpoints) Restore(ctx context.Context, localDir string) error {
	if err := restoreTree(ctx, c.S3, localDir, c.S3.o.Log); err != nil {
		return fmt.Errorf("restoring checkpoints from %s: %w", c.S3.URI(""), err)
	}
	return nil
}

// Save uploads the files of localDir that are missing or differ below the
// prefix (by size and CRC-32C).
func (c S3Checkpoints) Save(ctx context.Context, localDir string) error {
	if err := saveTree(ctx, c.S3, localDir, c.S3.o.Log); err != nil {
		return fmt.Errorf("saving checkpoints to %s: %w", c.S3.URI(""), err)
	}
	return nil
}

// restoreWorkers bounds parallel downloads.
const restoreWorkers = 8

func restoreTree(ctx context.Context, st Store, localDir string, log *slog.Logger) error {
	objs, err := st.List(ctx, "")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(localDir, 0o755); err != nil {
		return err
	}
	errs := forEach(ctx, restoreWorkers, len(objs), func(ctx context.Context, i int) error {
		return restoreObject(ctx, st, localDir, objs[i], log)
	})
	return summarize("checkpoint files", errs)
}

// restoreObject downloads one object unless the local file matches it.
// Keys that cannot be local paths (with "..", say) are skipped; an empty
// key ending in "/" is a folder.
func restoreObject(ctx context.Context, st Store, localDir string, obj Object, log *slog.Logger) error {
	if strings.HasSuffix(obj.Key, "/") && obj.Size == 0 {
		rel, err := localKey(strings.TrimSuffix(obj.Key, "/"))
		if err != nil {
			return nil
		}
		return os.MkdirAll(filepath.Join(localDir, rel), 0o755)
	}
	rel, err := localKey(obj.Key)
	if err != nil {
		log.Warn("not restoring an object whose key cannot be a file name", "uri", st.URI(obj.Key))
		return nil
	}
	if info, err := os.Lstat(filepath.Join(localDir, rel)); err == nil && sameFile(info, obj) {
		return nil
	}
	r, err := st.Open(ctx, obj.Key, 0)
	if err != nil {
		return err
	}
	defer r.Close()
	got, err := LocalStore{Root: localDir}.write(ctx, obj.Key, r, 0o644, obj.ModTime)
	if err == nil && got.Size != obj.Size {
		err = fmt.Errorf("%s: got %d bytes of %d", st.URI(obj.Key), got.Size, obj.Size)
	}
	return err
}

// sameFile: a local file and an object match by size and modification
// time to the second (S3 keeps whole seconds).
func sameFile(info fs.FileInfo, obj Object) bool {
	return info.Mode().IsRegular() && info.Size() == obj.Size &&
		info.ModTime().Truncate(time.Second).Equal(obj.ModTime.Truncate(time.Second))
}

// saveTree uploads what differs; links out of localDir and special files
// are skipped with a warning.
func saveTree(ctx context.Context, st Store, localDir string, log *slog.Logger) error {
	root, err := os.OpenRoot(localDir)
	if err != nil {
		return err
	}
	defer root.Close()
	srcs, skipped, err := scan{root: root, dir: localDir}.run()
	if err != nil {
		return err
	}
	warnSkipped(log, skipped)
	objs, err := st.List(ctx, "")
	if err != nil {
		return err
	}
	remote := byKey(objs)
	errs := forEach(ctx, DefaultConcurrency, len(srcs), func(ctx context.Context, i int) error {
		_, err := putIfChanged(ctx, st, srcs[i], remote)
		return err
	})
	return summarize("checkpoint files", errs)
}
