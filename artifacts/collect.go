package artifacts

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/klauspost/pgzip"
)

// failureLimit is how much of /opt/ml/output/failure SageMaker keeps as
// the job's FailureReason.
const failureLimit = 1024

// ReadFailure returns the failure reason the container wrote into its
// output directory, cut to SageMaker's 1024 characters; "" when none.
func ReadFailure(outputDir string) string {
	f, err := os.Open(filepath.Join(outputDir, "failure"))
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, failureLimit*utf8.UTFMax)
	n, _ := io.ReadFull(f, buf)
	s := strings.ToValidUTF8(string(buf[:n]), "\uFFFD")
	if r := []rune(s); len(r) > failureLimit {
		s = string(r[:failureLimit])
	}
	return strings.TrimSpace(s)
}

// Archive tars and gzips dir into dst (SageMaker's model.tar.gz layout:
// entries relative to dir, no leading folder), then removes dir. It writes
// through a temporary file, so dst is whole or absent.
func Archive(dir, dst string) error {
	f, err := os.CreateTemp(filepath.Dir(dst), ".tmp-"+filepath.Base(dst)+"-*")
	if err != nil {
		return fmt.Errorf("archiving %s: %w", dir, err)
	}
	defer os.Remove(f.Name())
	if err := writeTarGz(dir, f, gzipLevel(dir), nil); err != nil {
		f.Close()
		return fmt.Errorf("archiving %s: %w", dir, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("archiving %s: %w", dir, err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return fmt.Errorf("archiving %s: %w", dir, err)
	}
	return os.RemoveAll(dir)
}

// writeTarGz writes dir as a gzip-compressed tar to w at a level from
// gzipLevel. pgzip compresses 1 MiB blocks on every core at once (the
// output is one ordinary gzip stream, readable by gzip, tar and Python's
// tarfile): single-threaded gzip is what makes SageMaker's forced
// compression of a large model so slow. written, when set, is told how
// many bytes of tar went into the compressor.
func writeTarGz(dir string, w io.Writer, level int, written func(int64)) error {
	zw, err := pgzip.NewWriterLevel(w, level)
	if err != nil {
		return err
	}
	// pgzip holds two buffers per block in flight and defaults to one block
	// per core: cap it so a big machine does not spend 100s of MiB on it.
	if err := zw.SetConcurrency(1<<20, min(runtime.GOMAXPROCS(0), 16)); err != nil {
		return err
	}
	var tw io.Writer = zw
	if written != nil {
		tw = countingWriter{zw, written}
	}
	if err := writeTar(dir, tw); err != nil {
		zw.Close()
		return err
	}
	return zw.Close()
}

type countingWriter struct {
	w io.Writer
	n func(int64)
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n(int64(n))
	return n, err
}

func writeTar(dir string, w io.Writer) error { return WriteTar(dir, w, nil) }

// WriteTar writes the tree below dir as a tar stream, entries relative to
// dir, leaving out what skip (given slash-separated relative paths; nil
// keeps all) says: a skipped folder is left out whole.
func WriteTar(dir string, w io.Writer, skip func(rel string) bool) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		switch {
		case rel == ".":
			return nil
		case skip != nil && skip(filepath.ToSlash(rel)) && d.IsDir():
			return filepath.SkipDir
		case skip != nil && skip(filepath.ToSlash(rel)):
			return nil
		}
		return tarEntry(tw, path, filepath.ToSlash(rel))
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// tarEntry adds one file; symlinks are stored as links, never followed, so
// a link out of the model directory cannot pull in other files. Archives
// are made after the container has exited, so nothing swaps a file for a
// link while this runs.
func tarEntry(tw *tar.Writer, path, name string) error {
	info, err := os.Lstat(path)
	if err != nil {
		return err
	}
	link := ""
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		if link, err = os.Readlink(path); err != nil {
			return err
		}
	case !info.Mode().IsRegular() && !info.IsDir():
		fmt.Fprintf(os.Stderr, "jobrun: skipping special file %s\n", path)
		return nil
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return err
	}
	hdr.Name, hdr.Uname, hdr.Gname = name, "", ""
	if info.IsDir() {
		hdr.Name += "/"
	}
	if err := tw.WriteHeader(hdr); err != nil || !info.Mode().IsRegular() {
		return err
	}
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	_, err = io.Copy(tw, src)
	return err
}

// ForeignOwned reports whether anything below the dirs belongs to another
// user than uid (files a root container wrote).
func ForeignOwned(uid int, dirs ...string) bool {
	found := errors.New("found")
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if info, err := e.Info(); err == nil && ownerOf(info) != uid {
				return found
			}
			return nil
		})
		if err == found {
			return true
		}
	}
	return false
}

func ownerOf(info fs.FileInfo) int {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

// ChownTree gives everything below dir to uid:gid without following links.
func ChownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}
