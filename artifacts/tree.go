package artifacts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// source is one local file to upload. Files are opened through an
// os.Root of the folder they belong to (model/, output/, the checkpoint
// folder...), so a symbolic link is followed only while it stays inside
// that folder: a link to a file in the tree uploads that file's bytes
// under the link's name (S3 has no links), a link out of it is skipped
// with a warning. The kernel enforces this on open (openat2
// RESOLVE_BENEATH), so a container cannot swap a link between the check
// and the read.
type source struct {
	root  *os.Root
	rel   string // below root, slash-separated
	key   string // in the store
	size  int64
	mtime time.Time
}

// scan lists the files below root's folder dir as sources keyed
// keyPrefix/rel. skip, when set, leaves out a folder (and what it holds)
// by its slash path below dir. Links that leave the folder, links to
// folders and special files are returned as skipped names.
type scan struct {
	root      *os.Root
	dir       string
	keyPrefix string
	skip      func(rel string) bool
}

func (sc scan) run() (srcs []source, skipped []string, err error) {
	err = filepath.WalkDir(sc.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(sc.dir, path)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ".":
			return nil
		case sc.skip != nil && sc.skip(rel):
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		case d.IsDir(), isTemp(d.Name()):
			return nil
		}
		src, ok := sc.source(rel, d)
		if !ok {
			skipped = append(skipped, rel)
			return nil
		}
		srcs = append(srcs, src)
		return nil
	})
	return srcs, skipped, err
}

// source stats one entry: a regular file, or a link that resolves to one
// inside the root.
func (sc scan) source(rel string, d fs.DirEntry) (source, bool) {
	var info fs.FileInfo
	var err error
	switch {
	case d.Type().IsRegular():
		info, err = d.Info()
	case d.Type()&fs.ModeSymlink != 0:
		info, err = sc.root.Stat(filepath.FromSlash(rel))
	default:
		return source{}, false
	}
	if err != nil || !info.Mode().IsRegular() {
		return source{}, false
	}
	return source{root: sc.root, rel: rel, key: joinKey(sc.keyPrefix, rel), size: info.Size(), mtime: info.ModTime()}, true
}

// isTemp: jobrun's own temporary files (WriteFileAtomic, LocalStore) are
// never artifacts.
func isTemp(name string) bool { return strings.HasPrefix(name, ".tmp-") }

// open opens the source for reading, checking it is still a regular file.
// O_NONBLOCK keeps a FIFO swapped in since the scan from blocking the
// open; it changes nothing for regular files.
func (s source) open() (*os.File, error) {
	f, err := s.root.OpenFile(filepath.FromSlash(s.rel), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = fmt.Errorf("%s: not a regular file any more", s.rel)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// warnSkipped logs the names a scan skipped.
func warnSkipped(log *slog.Logger, names []string) {
	for _, n := range names {
		log.Warn("not uploading a link that leaves its folder, a link to a folder, or a special file", "path", n)
	}
}

// treeFingerprint identifies a folder's content by every entry's path,
// type, size, modification time and link target, without reading the
// files: an archive uploaded with the same fingerprint need not be made
// again. It also returns the bytes the archive can hold, at most.
func treeFingerprint(dir string) (fp string, size int64, err error) {
	h := sha256.New()
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		link, _ := os.Readlink(path) // "" for anything but a link
		fmt.Fprintf(h, "%q %v %d %d %q\n", filepath.ToSlash(rel), info.Mode(), info.Size(), info.ModTime().UnixNano(), link)
		size += info.Size() + 1024 // a tar header and padding per entry
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), size, err
}
