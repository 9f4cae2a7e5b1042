package channels

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobrun/jobrun/spec"
)

// putBlob commits a blob of n bytes for o into c, aged by age.
func putBlob(t *testing.T, c *Cache, o Object, age time.Duration) string {
	t.Helper()
	f, name, err := c.newTemp(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, o.Size)); err != nil {
		t.Fatal(err)
	}
	if err := c.commit(f, name, o); err != nil {
		t.Fatal(err)
	}
	f.Close()
	p := c.blobPath(o)
	when := time.Now().Add(-age)
	if err := os.Chtimes(p, when, when); err != nil {
		t.Fatal(err)
	}
	return p
}

func blobObject(key string, size int64) Object {
	return Object{Bucket: "b", Key: key, ETag: "e-" + key, Size: size}
}

func TestCacheLookup(t *testing.T) {
	c, err := OpenCache(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	o := blobObject("k", 10)
	if _, ok := c.lookup(o); ok {
		t.Fatal("hit in an empty cache")
	}
	p := putBlob(t, c, o, time.Hour)
	if got, ok := c.lookup(o); !ok || got != p {
		t.Fatalf("lookup = %s, %v", got, ok)
	}
	if fi, _ := os.Stat(p); time.Since(fi.ModTime()) > time.Minute || fi.Mode().Perm() != 0o444 {
		t.Errorf("blob after a hit: mtime %v, mode %v", fi.ModTime(), fi.Mode())
	}
	for _, other := range []Object{
		{Bucket: "b", Key: "k", ETag: "changed", Size: 10},
		{Bucket: "b", Key: "k", ETag: "e-k", Size: 11},
		{Bucket: "b", Key: "k", ETag: "e-k", VersionID: "v2", Size: 10},
		{Bucket: "c", Key: "k", ETag: "e-k", Size: 10},
		{Bucket: "b", Key: "k", Size: 10}, // no ETag: never cached
	} {
		if _, ok := c.lookup(other); ok {
			t.Errorf("%+v hits the blob of %+v", other, o)
		}
	}
}

func TestCacheEvict(t *testing.T) {
	c, err := OpenCache(t.TempDir(), 300)
	if err != nil {
		t.Fatal(err)
	}
	oldest := putBlob(t, c, blobObject("oldest", 100), 4*time.Hour)
	linked := putBlob(t, c, blobObject("linked", 100), 3*time.Hour)
	old := putBlob(t, c, blobObject("old", 100), 2*time.Hour)
	newer := putBlob(t, c, blobObject("newer", 100), time.Hour)
	newest := putBlob(t, c, blobObject("newest", 100), 0)
	// A staged channel still links this one: eviction must skip it.
	work, _ := c.NewWorkDir()
	if err := os.Link(linked, filepath.Join(work, "x")); err != nil {
		t.Fatal(err)
	}
	// A temp file of a dead download (only named temp files can be left
	// behind) and one being written.
	c.unnamed = false
	stale, staleName, _ := c.newTemp(blobObject("stale", 1))
	stale.Close()
	os.Chtimes(staleName, time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour))
	fresh, freshName, _ := c.newTemp(blobObject("fresh", 1))
	fresh.Close()

	if err := c.Evict(); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{oldest: false, linked: true, old: false, newer: true, newest: true,
		staleName: false, freshName: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: kept %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
}

func TestCacheSweepsDeadWorkDirs(t *testing.T) {
	c, err := OpenCache(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	mine, _ := c.NewWorkDir()
	host, _ := os.Hostname()
	dead := filepath.Join(c.Dir(), workDir, fmt.Sprintf("%s-%d-123", sanitizeName(host), 1<<30))
	otherHost := filepath.Join(c.Dir(), workDir, fmt.Sprintf("elsewhere-%d-123", 1<<30))
	for _, d := range []string{dead, otherHost} {
		os.MkdirAll(d, 0o755)
	}
	if err := c.Evict(); err != nil {
		t.Fatal(err)
	}
	for d, want := range map[string]bool{mine: true, dead: false, otherHost: true} {
		if _, err := os.Stat(d); (err == nil) != want {
			t.Errorf("%s: kept %v, want %v", filepath.Base(d), err == nil, want)
		}
	}
}

// TestCacheSweepsSplits: eviction drops the split keys of prefixes not
// listed for staleSplits and saveSplits' stale temp files, keeps the rest.
func TestCacheSweepsSplits(t *testing.T) {
	c, err := OpenCache(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	c.saveSplits("b", "fresh/", []string{"fresh/k1"})
	c.saveSplits("b", "old/", []string{"old/k1"})
	old := c.splitsPath("b", "old/")
	tmpOld, tmpNew := old+tempPrefix+"1", old+tempPrefix+"2"
	os.WriteFile(tmpOld, nil, 0o644)
	os.WriteFile(tmpNew, nil, 0o644)
	os.Chtimes(old, time.Time{}, time.Now().Add(-staleSplits-time.Hour))
	os.Chtimes(tmpOld, time.Time{}, time.Now().Add(-staleTemp-time.Minute))
	if err := c.Evict(); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{c.splitsPath("b", "fresh/"): true, old: false, tmpOld: false, tmpNew: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: kept %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
	if got := c.splits("b", "fresh/"); len(got) != 1 {
		t.Errorf("fresh splits after eviction: %v", got)
	}
}

func TestDefaultCacheDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/x/cache")
	if d, _ := DefaultCacheDir(); d != "/x/cache/jobrun" {
		t.Errorf("with XDG_CACHE_HOME: %s", d)
	}
	t.Setenv("XDG_CACHE_HOME", "relative") // ignored, as the XDG spec says
	t.Setenv("HOME", "/home/u")
	if d, _ := DefaultCacheDir(); d != "/home/u/.cache/jobrun" {
		t.Errorf("without: %s", d)
	}
}

// TestStageConcurrentProcesses stages the same channel from several
// stagers sharing one cache at once, as two jobrun processes would.
func TestStageConcurrentProcesses(t *testing.T) {
	e := newEnv(t)
	for i := range 40 {
		e.put(t, fmt.Sprintf("p/%02d", i), []byte(fmt.Sprint("object ", i)))
	}
	e.putBig(t, "p/big", 12<<20)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	dirs := make([]string, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &Stager{S3: e.s3, Cache: &Cache{dir: e.cache.Dir(), MaxBytes: 1}, // evicts all it can
				MultipartThreshold: 8 << 20, PartSize: 4 << 20}
			work, _ := s.Cache.NewWorkDir()
			st, err := s.Stage(context.Background(), []spec.Input{input("train", "s3://data/p/")}, work)
			if err != nil {
				errs <- err
				return
			}
			dirs[i] = st[0].Dir
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, d := range dirs {
		got := tree(t, d)
		if len(got) != 41 || got["07"] != "object 7" || !strings.HasPrefix(d, e.cache.Dir()) {
			t.Errorf("%s holds %d files", d, len(got))
		}
	}
	if _, temp := blobs(t, e.cache); len(temp) != 0 {
		t.Errorf("temp files left: %v", temp)
	}
}

// TestStageNamedTemps stages through named temp files, the path for file
// systems without O_TMPFILE.
func TestStageNamedTemps(t *testing.T) {
	e := newEnv(t)
	if !e.cache.unnamed {
		t.Log("this file system has no O_TMPFILE: every test uses named temp files")
	}
	e.cache.unnamed = false
	e.put(t, "n/a", []byte("a"))
	big := e.putBig(t, "n/big", 12<<20)
	s := e.stager()
	s.MultipartThreshold, s.PartSize = 8<<20, 4<<20
	st := stageOK(t, s, e.workDir(t), input("train", "s3://data/n/"))
	sameFile(t, filepath.Join(st[0].Dir, "big"), big)
	if complete, temp := blobs(t, e.cache); len(complete) != 2 || len(temp) != 0 {
		t.Errorf("cache holds %v and temp files %v", complete, temp)
	}
	st = stageOK(t, s, e.workDir(t), input("train", "s3://data/n/"))
	if st[0].FromCache != 2 {
		t.Errorf("rerun: %d from cache", st[0].FromCache)
	}
}
