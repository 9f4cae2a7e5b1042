package channels

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultCacheMax is the cache's default size cap. The cap is also kept
// below what leaves a tenth of the file system free (see Cache.Evict).
const DefaultCacheMax int64 = 50 << 30

// Cache is a content-addressed store of S3 objects on local disk.
//
// A blob is keyed by bucket, key, ETag, version id and size, so a changed
// object (new ETag) is a different blob and is fetched again. Blobs are
// written to tmp/ and renamed into blobs/ when whole, so a blob that
// exists is complete; they are read-only (0444) so that a container (which
// sees hard links to them) cannot change them. Staging hard-links blobs
// into the channel directory, which makes a warm rerun cost one link per
// object.
//
// Temp files live beside the blobs they become (blobs/<2 hex>/.tmp-*):
// 64 downloads creating files in one shared directory would contend for
// that directory's lock, which measured at a quarter of the client's CPU
// time for 10,000 small objects; spread over 256 directories they do not,
// and the final rename stays within one directory.
//
// Several jobrun processes may share one cache: rename is atomic, two
// processes fetching the same blob at once both succeed (the second
// rename replaces the first with identical bytes), and eviction removes
// only blobs with one link, so never a blob a staged channel still uses.
type Cache struct {
	dir string
	// MaxBytes caps the total size of the blobs; 0 means DefaultCacheMax.
	MaxBytes int64
	unnamed  bool // the file system takes unnamed temp files (O_TMPFILE)
}

// Cache layout below dir.
const (
	blobsDir   = "blobs" // blobs/<2 hex>/<64 hex>
	tempPrefix = ".tmp-" // blobs/<2 hex>/.tmp-*: blobs being written
	workDir    = "work"  // per-run staging roots from NewWorkDir
	listsDir   = "lists" // lists/<64 hex>: split keys of a prefix's last listing
)

// staleTemp is how long a temp blob may go unwritten before eviction
// takes it for the leftover of a killed process.
const staleTemp = time.Hour

// staleSplits is how long the split keys of a prefix's listing are kept
// after that prefix was last listed: every listing rewrites them, and a
// missing file only makes the next listing sequential.
const staleSplits = 30 * 24 * time.Hour

// DefaultCacheDir is $XDG_CACHE_HOME/jobrun, else ~/.cache/jobrun (on
// every OS: jobrun is a command-line tool and follows the XDG layout).
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "jobrun"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the cache directory (set XDG_CACHE_HOME or --cache-dir): %w", err)
	}
	return filepath.Join(home, ".cache", "jobrun"), nil
}

// OpenCache opens (creating it if needed) the cache in dir with the size
// cap maxBytes (0: DefaultCacheMax).
func OpenCache(dir string, maxBytes int64) (*Cache, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{blobsDir, workDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("opening the cache %s (is it writable? set --cache-dir): %w", dir, err)
		}
	}
	c := &Cache{dir: dir, MaxBytes: maxBytes}
	c.unnamed = unnamedWorks(filepath.Join(dir, blobsDir))
	return c, nil
}

// Dir is the cache's root directory.
func (c *Cache) Dir() string { return c.dir }

// cacheable reports whether o can be keyed: without an ETag or version id
// there is nothing to tell a changed object from the cached one.
func cacheable(o Object) bool { return o.ETag != "" || o.VersionID != "" }

// blobPath is where o's blob lives.
func (c *Cache) blobPath(o Object) string {
	h := sha256.New()
	for _, f := range []string{"v1", o.Bucket, o.Key, o.ETag, o.VersionID, strconv.FormatInt(o.Size, 10)} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	sum := hex.EncodeToString(h.Sum(nil))
	return filepath.Join(c.dir, blobsDir, sum[:2], sum)
}

// lookup returns o's blob path if the cache holds it, and marks it used
// (mtime) for LRU eviction.
func (c *Cache) lookup(o Object) (string, bool) {
	if !cacheable(o) {
		return "", false
	}
	p := c.blobPath(o)
	fi, err := os.Stat(p)
	if err != nil || fi.Size() != o.Size {
		return "", false
	}
	c.touch(p, fi.ModTime())
	return p, true
}

// touch sets a blob's mtime to now, unless it was set in the last minute:
// a warm rerun of 10,000 objects should not pay 10,000 extra syscalls for
// an LRU order that a minute does not change.
func (c *Cache) touch(p string, mtime time.Time) {
	now := time.Now()
	if now.Sub(mtime) > time.Minute {
		_ = os.Chtimes(p, now, now)
	}
}

// newTemp creates the file o's blob is downloaded into, in the blob's
// directory, read-only from the start (the mode applies to later opens,
// not to this descriptor). Where the system allows it (Linux, O_TMPFILE)
// the file has no name until commit links it whole, so a killed process
// leaves nothing behind and the directory is not touched twice; name is
// then "". Elsewhere it is a .tmp- file renamed by commit.
func (c *Cache) newTemp(o Object) (f *os.File, name string, err error) {
	dir := filepath.Dir(c.blobPath(o))
	for attempt := 0; ; attempt++ {
		f, name, err = c.createIn(dir)
		if errors.Is(err, fs.ErrNotExist) && attempt == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, "", err
			}
			continue
		}
		return f, name, err
	}
}

func (c *Cache) createIn(dir string) (*os.File, string, error) {
	if c.unnamed {
		f, err := openUnnamed(dir)
		return f, "", err
	}
	for {
		name := filepath.Join(dir, tempPrefix+randomSuffix())
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o444)
		if !errors.Is(err, fs.ErrExist) {
			return f, name, err
		}
	}
}

// randomSuffix is 16 random hex digits for temp names.
func randomSuffix() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// commit makes the downloaded (read-only) file o's blob: an unnamed file
// is linked to the blob's name (a blob another process committed
// meanwhile holds the same bytes and stays), a named one renamed over it.
func (c *Cache) commit(f *os.File, name string, o Object) error {
	if name != "" {
		return os.Rename(name, c.blobPath(o))
	}
	err := linkUnnamed(f, c.blobPath(o))
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	return err
}

// NewWorkDir creates a directory below the cache, on its file system, for
// one run's staged channels: hard links to blobs work there, where a
// directory on another file system (often /tmp) would need copies. Its
// name holds the host name and process id, so Evict can remove the work
// directories of processes that died without cleaning up. The caller
// removes it when the run is over.
func (c *Cache) NewWorkDir() (string, error) {
	host, _ := os.Hostname()
	pattern := fmt.Sprintf("%s-%d-*", sanitizeName(host), os.Getpid())
	return os.MkdirTemp(filepath.Join(c.dir, workDir), pattern)
}

func sanitizeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '-' || r == '/' || r == os.PathSeparator || r < ' ' {
			return '_'
		}
		return r
	}, s)
	if s == "" {
		return "localhost"
	}
	return s
}

// Evict removes least recently used blobs (by mtime) until the cache fits
// its cap, along with temp files no one has written for an hour and the
// work directories of dead jobrun processes on this host and the split
// keys of prefixes not listed for 30 days. The cap is
// MaxBytes, lowered when needed so that the file system keeps a tenth of
// its size free. Blobs that are hard-linked elsewhere (link count > 1, a
// staged channel in use) are never removed, so the cache can exceed its
// cap while big channels are staged.
func (c *Cache) Evict() error {
	c.sweepWork()
	c.sweepSplits()
	blobs, total, err := c.scan()
	if err != nil {
		return err
	}
	limit := c.limit(total)
	if total <= limit {
		return nil
	}
	sort.Slice(blobs, func(i, j int) bool { return blobs[i].mtime.Before(blobs[j].mtime) })
	var errs []error
	for _, b := range blobs {
		if total <= limit {
			break
		}
		if b.links > 1 {
			continue
		}
		if err := os.Remove(b.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		total -= b.size
	}
	return errors.Join(errs...)
}

// limit is the size the blobs may take: MaxBytes, or less when the file
// system would otherwise keep under a tenth of its size free.
func (c *Cache) limit(total int64) int64 {
	limit := c.MaxBytes
	if limit <= 0 {
		limit = DefaultCacheMax
	}
	if avail, size, ok := diskSpace(c.dir); ok {
		if room := total + avail - size/10; room < limit {
			limit = max(room, 0)
		}
	}
	return limit
}

type blobInfo struct {
	path  string
	size  int64
	mtime time.Time
	links uint64
}

// scan lists the blobs and their total size, and removes on the way the
// temp files nobody has written for staleTemp (a download in progress
// writes its file continuously; a killed one leaves it behind).
func (c *Cache) scan() ([]blobInfo, int64, error) {
	var blobs []blobInfo
	var total int64
	err := filepath.WalkDir(filepath.Join(c.dir, blobsDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed by another process meanwhile
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		if strings.HasPrefix(d.Name(), tempPrefix) {
			if time.Since(fi.ModTime()) > staleTemp {
				_ = os.Remove(p)
			}
			return nil
		}
		blobs = append(blobs, blobInfo{p, fi.Size(), fi.ModTime(), linkCount(fi)})
		total += fi.Size()
		return nil
	})
	return blobs, total, err
}

// sweepWork removes work directories of this host's dead processes.
func (c *Cache) sweepWork() {
	host, _ := os.Hostname()
	prefix := sanitizeName(host) + "-"
	entries, _ := os.ReadDir(filepath.Join(c.dir, workDir))
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(filepath.Join(c.dir, workDir, e.Name()))
	}
}

// sweepSplits removes the split keys of prefixes not listed for
// staleSplits, and temp files of saveSplits a killed process left.
func (c *Cache) sweepSplits() {
	entries, _ := os.ReadDir(filepath.Join(c.dir, listsDir))
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		age := time.Since(fi.ModTime())
		if age > staleSplits || (strings.Contains(e.Name(), tempPrefix) && age > staleTemp) {
			_ = os.Remove(filepath.Join(c.dir, listsDir, e.Name()))
		}
	}
}

// splitsPath is where the split keys of the last listing of bucket/prefix
// are kept.
func (c *Cache) splitsPath(bucket, prefix string) string {
	h := sha256.New()
	for _, f := range []string{"v1", bucket, prefix} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return filepath.Join(c.dir, listsDir, hex.EncodeToString(h.Sum(nil)))
}

// splits returns the keys that split the last complete listing of
// bucket/prefix into pages (none if there is no such listing or its file
// is unreadable). They only decide how a listing is parallelised, never
// what it holds (see splitListing), so a stale or damaged file costs time,
// not correctness.
func (c *Cache) splits(bucket, prefix string) []string {
	b, err := os.ReadFile(c.splitsPath(bucket, prefix))
	if err != nil {
		return nil
	}
	var keys []string
	if json.Unmarshal(b, &keys) != nil {
		return nil
	}
	return keys
}

// saveSplits keeps the split keys of a complete listing for the next
// one (none: the listing fit one page, and the file is removed). It is
// best effort: a failure only makes the next listing sequential.
func (c *Cache) saveSplits(bucket, prefix string, keys []string) {
	p := c.splitsPath(bucket, prefix)
	if len(keys) == 0 {
		_ = os.Remove(p)
		return
	}
	b, err := json.Marshal(keys)
	if err != nil || os.MkdirAll(filepath.Dir(p), 0o755) != nil {
		return
	}
	tmp := p + tempPrefix + randomSuffix()
	if os.WriteFile(tmp, b, 0o644) != nil || os.Rename(tmp, p) != nil {
		_ = os.Remove(tmp)
	}
}
