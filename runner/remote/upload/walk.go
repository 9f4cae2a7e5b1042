package upload

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// maxDepth bounds directory nesting where loops cannot be recognized.
const maxDepth = 255

// localFile is a regular file of the source.
type localFile struct {
	entry         // Path relative to the source; Hash once hashed
	local  string // its path on this machine
	id     fileID // stat identity, from the walk, then from hashing
	cached bool   // the hash came from the hash cache
}

// tree is the source as walked: directories (parents before children)
// and files.
type tree struct {
	dirs  []entry
	files []*localFile
	bytes int64
}

// manifest lists the tree for link.
func (t *tree) manifest() manifest {
	m := make(manifest, 0, len(t.dirs)+len(t.files))
	m = append(m, t.dirs...)
	for _, f := range t.files {
		m = append(m, f.entry)
	}
	return m
}

// walk lists src, a directory or a regular file, following symlinks. A
// single file becomes a tree holding it under its base name.
func walk(src string) (*tree, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("reading the source: %w", err)
	}
	t := &tree{}
	switch {
	case fi.Mode().IsRegular():
		t.addFile(src, filepath.Base(src), fi)
		return t, nil
	case fi.IsDir():
		w := walker{t: t, onPath: map[fileID]bool{}}
		return t, w.dir(src, "", fi)
	}
	return nil, notRegular(src, fi)
}

// walker walks a directory; onPath holds the identities of the
// directories from the root down to the current one, to catch symlinks
// that loop.
type walker struct {
	t      *tree
	onPath map[fileID]bool
}

func (w *walker) dir(dir, rel string, fi fs.FileInfo) error {
	id, known := statID(fi)
	key := fileID{Dev: id.Dev, Ino: id.Ino}
	if known {
		if w.onPath[key] {
			return fmt.Errorf("%s: a symbolic link loops back to a directory that contains it (remove the link or point it elsewhere)", dir)
		}
		w.onPath[key] = true
		defer delete(w.onPath, key)
	} else if strings.Count(rel, "/") >= maxDepth {
		// No inode numbers here to recognize a loop by.
		return fmt.Errorf("%s: directories nested too deep (a symbolic link loop?)", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading the source: %w", err)
	}
	for _, e := range ents {
		local, r := filepath.Join(dir, e.Name()), path.Join(rel, e.Name())
		if err := w.add(local, r, e); err != nil {
			return err
		}
	}
	return nil
}

// add adds one directory entry, following a symlink to what it names.
func (w *walker) add(local, rel string, e fs.DirEntry) error {
	fi, err := e.Info()
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if fi, err = os.Stat(local); err != nil {
			target, _ := os.Readlink(local)
			return fmt.Errorf("%s: symbolic link to %q, which cannot be read (remove the link or restore its target): %w", local, target, err)
		}
	}
	if err != nil {
		return fmt.Errorf("reading the source: %w", err)
	}
	switch {
	case fi.Mode().IsRegular():
		w.t.addFile(local, rel, fi)
	case fi.IsDir():
		w.t.dirs = append(w.t.dirs, entry{Path: rel, Mode: fi.Mode().Perm(), Dir: true})
		return w.dir(local, rel, fi)
	default:
		return notRegular(local, fi)
	}
	return nil
}

func (t *tree) addFile(local, rel string, fi fs.FileInfo) {
	id, _ := statID(fi)
	t.files = append(t.files, &localFile{entry: entry{Path: rel, Mode: fi.Mode().Perm()}, local: local, id: id})
	t.bytes += fi.Size()
}

func notRegular(p string, fi fs.FileInfo) error {
	return fmt.Errorf("%s: a %s, which cannot be uploaded (only regular files and directories; move it out of the source)", p, kind(fi.Mode()))
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file (" + m.Type().String() + ")"
}
