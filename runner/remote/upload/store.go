package upload

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// store is the host's blob store (see the package documentation).
type store struct{ dir string }

// Marks of temporary names: STORE/tmp/recv-PID-*, DEST.tmp-*, DEST.old-*.
const (
	recvPrefix = "recv-"
	tmpMark    = ".tmp-"
	oldMark    = ".old-"
)

// staleAfter is the age at which a temporary file or tree counts as the
// leftover of a killed run: no live run leaves one untouched that long.
const staleAfter = time.Hour

func openStore(dir string) (store, error) {
	s := store{dir: filepath.Clean(dir)}
	for _, d := range []string{s.blobsDir(), s.tmpDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return store{}, fmt.Errorf("blob store: %w", err)
		}
	}
	return s, nil
}

func (s store) blobsDir() string            { return filepath.Join(s.dir, "blobs") }
func (s store) tmpDir() string              { return filepath.Join(s.dir, "tmp") }
func (s store) blob(hash string) string     { return filepath.Join(s.blobsDir(), hash) }
func (s store) execBlob(hash string) string { return s.blob(hash) + ".x" }

// received is a verified blob waiting in tmp for its name.
type received struct{ tmp, hash string }

// receiveBlob copies size bytes from r to a temp file, hashing them on
// the way, and returns the file's path once the hash matches. On any
// failure the temp file is gone.
func (s store) receiveBlob(r io.Reader, hash string, size int64, buf []byte) (_ string, err error) {
	f, err := os.CreateTemp(s.tmpDir(), s.tempPrefix()+"*")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(f, h), io.LimitReader(r, size), buf)
	if err != nil {
		return "", err
	}
	if n < size {
		return "", fmt.Errorf("stream ended after %d of %d bytes: %w", n, size, io.ErrUnexpectedEOF)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hash {
		return "", fmt.Errorf("content hashes to %s (did the file change while it was sent?)", got)
	}
	if err := f.Chmod(0o444); err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}

// commit makes received blobs durable (one syncfs for all of them, not
// an fsync each: thousands of small files would take minutes) and then
// gives them their names. A crash before the rename leaves temp files,
// never a named blob with unwritten content.
func (s store) commit(blobs []received) error {
	if len(blobs) == 0 {
		return nil
	}
	if err := syncFiles(s.tmpDir(), blobs); err != nil {
		s.discard(blobs)
		return fmt.Errorf("receive: flushing blobs to disk: %w", err)
	}
	for i, b := range blobs {
		if err := os.Rename(b.tmp, s.blob(b.hash)); err != nil {
			s.discard(blobs[i:])
			return fmt.Errorf("receive: %w", err)
		}
	}
	return nil
}

func (s store) discard(blobs []received) {
	for _, b := range blobs {
		os.Remove(b.tmp)
	}
}

// missing returns the hashes m needs that the store lacks, each once.
func (s store) missing(m manifest) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, e := range m {
		if e.Dir || seen[e.Hash] {
			continue
		}
		seen[e.Hash] = true
		fi, err := os.Lstat(s.blob(e.Hash))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			out = append(out, e.Hash)
		case err != nil:
			return nil, err
		case !fi.Mode().IsRegular():
			return nil, fmt.Errorf("%s is not a regular file: the store is damaged", s.blob(e.Hash))
		}
	}
	return out, nil
}

// place creates the file e at dst as a hard link to its blob, or as a
// copy where the file system refuses the link (EXDEV, EMLINK).
func (s store) place(e entry, dst string) error {
	src := s.blob(e.Hash)
	if e.Mode&0o111 != 0 {
		var err error
		if src, err = s.ensureExec(e.Hash); err != nil {
			return err
		}
	}
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	return copyFile(src, dst, fi.Mode().Perm(), false)
}

// ensureExec returns the executable variant of a blob, making it (a
// copy: a hard link shares the mode) if it does not exist yet.
func (s store) ensureExec(hash string) (string, error) {
	x := s.execBlob(hash)
	if _, err := os.Lstat(x); err == nil {
		return x, nil
	}
	tmp := filepath.Join(s.tmpDir(), s.tempPrefix()+randHex(6))
	if err := copyFile(s.blob(hash), tmp, 0o555, true); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if err := os.Rename(tmp, x); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return x, nil
}

// copyFile copies src to a new file dst with mode perm; with durable it
// is fsynced (it is about to be named as a blob).
func copyFile(src, dst string, perm fs.FileMode, durable bool) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil && durable {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// tempPrefix names this process's temp blobs: recv-PID-.
func (s store) tempPrefix() string {
	return recvPrefix + strconv.Itoa(os.Getpid()) + "-"
}

// sweepTemps removes stale temp blobs of killed receives. A live receive
// may hold a verified blob unchanged for as long as the next ones take to
// arrive, so temp files of live processes are left alone however old.
func (s store) sweepTemps() {
	ents, _ := os.ReadDir(s.tmpDir())
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), recvPrefix)
		pid, _, _ := strings.Cut(rest, "-")
		if n, err := strconv.Atoi(pid); ok && (err != nil || !processAlive(n)) {
			removeIfStale(filepath.Join(s.tmpDir(), e.Name()))
		}
	}
}

// sweepSiblings removes stale DEST.tmp-* and DEST.old-* trees of killed
// links (DEST is dir/base).
func sweepSiblings(dir, base string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, base+tmpMark) || strings.HasPrefix(n, base+oldMark) {
			removeIfStale(filepath.Join(dir, n))
		}
	}
}

func removeIfStale(p string) {
	if fi, err := os.Lstat(p); err == nil && time.Since(fi.ModTime()) > staleAfter {
		_ = os.RemoveAll(p)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}
