package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jobrun/jobrun/internal/ctxio"
)

// LocalStore keeps objects as files below a folder. Files are written
// through a temporary name and renamed, and keep the source's modification
// time, so a later copy can skip unchanged files by size and time.
type LocalStore struct{ Root string }

// NewLocalStore opens a folder (made absolute); it need not exist yet.
func NewLocalStore(dir string) (LocalStore, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return LocalStore{}, fmt.Errorf("opening %s: %w", dir, err)
	}
	return LocalStore{Root: abs}, nil
}

// URI is the file's path.
func (l LocalStore) URI(key string) string {
	if key == "" {
		return l.Root
	}
	return filepath.Join(l.Root, filepath.FromSlash(key))
}

func (l LocalStore) path(key string) (string, error) {
	rel, err := localKey(key)
	if err != nil {
		return "", err
	}
	return filepath.Join(l.Root, rel), nil
}

// List walks the folder below prefix. Links and special files are not
// objects and are left out.
func (l LocalStore) List(ctx context.Context, prefix string) ([]Object, error) {
	dir := filepath.Join(l.Root, filepath.FromSlash(prefix))
	var out []Object
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".tmp-") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(l.Root, path)
		out = append(out, Object{Key: filepath.ToSlash(rel), Size: info.Size(), ModTime: info.ModTime()})
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	return out, nil
}

// Folders lists the sub-folders of prefix, sorted.
func (l LocalStore) Folders(_ context.Context, prefix string) ([]string, error) {
	dir := filepath.Join(l.Root, filepath.FromSlash(prefix))
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// Stat describes a file; a local store keeps no checksums.
func (l LocalStore) Stat(_ context.Context, key string) (Object, error) {
	path, err := l.path(key)
	if err != nil {
		return Object{}, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return Object{}, err
	}
	if !info.Mode().IsRegular() {
		return Object{}, fmt.Errorf("%s: not a regular file: %w", path, fs.ErrNotExist)
	}
	return Object{Key: key, Size: info.Size(), ModTime: info.ModTime()}, nil
}

// Open opens the file at offset.
func (l LocalStore) Open(_ context.Context, key string, offset int64) (io.ReadCloser, error) {
	path, err := l.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Put copies f, keeping its permissions and modification time.
func (l LocalStore) Put(ctx context.Context, key string, f *os.File) (Object, error) {
	info, err := f.Stat()
	if err != nil {
		return Object{}, err
	}
	obj, err := l.write(ctx, key, io.NewSectionReader(f, 0, info.Size()), info.Mode().Perm(), info.ModTime())
	if err == nil && obj.Size != info.Size() {
		err = fmt.Errorf("copying %s: wrote %d bytes of %d (did the file change?)", l.URI(key), obj.Size, info.Size())
	}
	return obj, err
}

// PutStream copies r.
func (l LocalStore) PutStream(ctx context.Context, key string, r io.Reader, _ StreamOptions) (Object, error) {
	return l.write(ctx, key, r, 0o644, time.Time{})
}

// write copies r to key through a temporary file, with permissions perm
// and, unless zero, modification time mtime.
func (l LocalStore) write(ctx context.Context, key string, r io.Reader, perm fs.FileMode, mtime time.Time) (Object, error) {
	path, err := l.path(key)
	if err != nil {
		return Object{}, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return Object{}, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return Object{}, err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, ctxio.Reader(ctx, r))
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err := errors.Join(err, tmp.Close()); err != nil {
		return Object{}, fmt.Errorf("writing %s: %w", path, err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(tmp.Name(), mtime, mtime); err != nil {
			return Object{}, err
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return Object{}, err
	}
	return l.objectAt(key, path, n)
}

func (l LocalStore) objectAt(key, path string, n int64) (Object, error) {
	info, err := os.Stat(path)
	if err != nil {
		return Object{}, err
	}
	return Object{Key: key, Size: n, ModTime: info.ModTime()}, nil
}

// Delete removes a file.
func (l LocalStore) Delete(_ context.Context, key string) error {
	path, err := l.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
