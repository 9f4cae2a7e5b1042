package upload

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fileID is what the hash cache trusts a file by. Any change to the
// content changes the size or the change time (ctime, which no user call
// can set back); a file replaced by another has a new inode.
type fileID struct {
	Size         int64
	Mtime, Ctime int64 // nanoseconds since the epoch
	Dev, Ino     uint64
}

// racyWindow is how recent a file's timestamps may be for its hash to be
// cached. A file written in the same timestamp tick as it was read could
// change again without changing its timestamps (the "racy git" problem),
// so its hash is not kept. Timestamp ticks are a jiffy (≤ 10 ms) on
// Linux's file systems; timestamps with no sub-second part point to a
// file system that keeps whole seconds (or two, FAT).
const (
	racyWindow       = 20 * time.Millisecond
	racyWindowCoarse = 2 * time.Second
)

// cacheable reports whether a hash of the file with identity id, read
// from start on, may be trusted on a later run. Inode 0 means the
// platform gave none (statID): nothing to trust the file by.
func (id fileID) cacheable(start time.Time) bool {
	if id.Ino == 0 {
		return false
	}
	window := racyWindow
	if id.Mtime%1e9 == 0 && id.Ctime%1e9 == 0 {
		window = racyWindowCoarse
	}
	limit := start.Add(-window).UnixNano()
	return id.Mtime < limit && id.Ctime < limit
}

// hashCache remembers file hashes between runs, keyed by the file's path
// within the source and its fileID. Each source has its own file in the
// cache directory, rewritten whole (temp file + rename) after hashing:
// concurrent jobrun processes each write a consistent file and the last
// one wins, which at worst costs a rehash later. A damaged or foreign
// file is ignored.
type hashCache struct {
	path   string // "" when there is no cache
	source string
	old    map[string]cacheEntry
	mu     sync.Mutex
	now    map[string]cacheEntry // what this run saw: the next file
}

type cacheEntry struct {
	id   fileID
	hash string
}

const cacheHeader = "jobrun-upload-hashes 1"

// openHashCache loads the cache of the source (an absolute path) from
// dir; dir "" disables caching.
func openHashCache(dir, source string) *hashCache {
	c := &hashCache{source: source, old: map[string]cacheEntry{}, now: map[string]cacheEntry{}}
	if dir == "" {
		return c
	}
	sum := sha256.Sum256([]byte(source))
	c.path = filepath.Join(dir, "upload-"+hex.EncodeToString(sum[:16]))
	if old, err := c.load(); err == nil {
		c.old = old
	}
	return c
}

func (c *hashCache) load() (map[string]cacheEntry, error) {
	f, err := os.Open(c.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, maxLine)
	if err := expectLine(br, cacheHeader+" "+strconv.Quote(c.source)); err != nil {
		return nil, err
	}
	m := map[string]cacheEntry{}
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, err
		}
		if line == endRecord {
			return m, nil
		}
		rel, e, err := parseCacheLine(line)
		if err != nil {
			return nil, err
		}
		m[rel] = e
	}
}

// parseCacheLine parses "HASH SIZE MTIME CTIME DEV INO QUOTED-PATH".
func parseCacheLine(line string) (string, cacheEntry, error) {
	f := strings.SplitN(line, " ", 7)
	if len(f) != 7 || !isHash(f[0]) {
		return "", cacheEntry{}, fmt.Errorf("bad hash cache line")
	}
	var n [5]int64
	for i := range n {
		v, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			return "", cacheEntry{}, err
		}
		n[i] = v
	}
	rel, err := strconv.Unquote(f[6])
	if err != nil {
		return "", cacheEntry{}, err
	}
	id := fileID{Size: n[0], Mtime: n[1], Ctime: n[2], Dev: uint64(n[3]), Ino: uint64(n[4])}
	return rel, cacheEntry{id: id, hash: f[0]}, nil
}

// lookup returns the cached hash of rel if its identity is unchanged.
func (c *hashCache) lookup(rel string, id fileID) (string, bool) {
	e, ok := c.old[rel]
	if !ok || e.id != id {
		return "", false
	}
	c.keep(rel, e)
	return e.hash, true
}

// keep records an entry for the next run.
func (c *hashCache) keep(rel string, e cacheEntry) {
	c.mu.Lock()
	c.now[rel] = e
	c.mu.Unlock()
}

// save writes this run's entries (files gone from the source drop out).
func (c *hashCache) save() error {
	if c.path == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(c.path), ".upload-*")
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	fmt.Fprintf(bw, "%s %s\n", cacheHeader, strconv.Quote(c.source))
	for rel, e := range c.now {
		id := e.id
		fmt.Fprintf(bw, "%s %d %d %d %d %d %s\n", e.hash, id.Size, id.Mtime, id.Ctime, int64(id.Dev), int64(id.Ino), strconv.Quote(rel))
	}
	fmt.Fprintln(bw, endRecord)
	err = bw.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), c.path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
