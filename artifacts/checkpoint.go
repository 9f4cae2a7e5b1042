package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// LocalCheckpoints keeps checkpoints in a local directory: restored into
// the container's checkpoint folder before the start, saved back after.
type LocalCheckpoints struct{ Dir string }

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
