package upload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobrun/jobrun/internal/ctxio"
)

// hashFiles sets every file's Hash, from the cache where its identity is
// unchanged, else by reading it (several files at once: small files are
// bound by latency, big ones by the CPU). It returns the bytes read.
func hashFiles(ctx context.Context, files []*localFile, c *hashCache, hook func(string)) (int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var read atomic.Int64
	next := make(chan *localFile)
	var wg sync.WaitGroup
	for range min(len(files), max(4, runtime.GOMAXPROCS(0))) {
		wg.Go(func() {
			buf := make([]byte, 256<<10)
			for f := range next {
				if err := hashOne(ctx, f, c, hook, buf); err != nil {
					cancel(err)
				} else if !f.cached {
					read.Add(f.id.Size)
				}
			}
		})
	}
feed:
	for _, f := range files {
		select {
		case next <- f:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return read.Load(), context.Cause(ctx)
}

// hashOne hashes one file unless the cache knows it.
func hashOne(ctx context.Context, f *localFile, c *hashCache, hook func(string), buf []byte) error {
	if ctx.Err() != nil {
		return nil // another file failed; hashFiles reports why
	}
	if h, ok := c.lookup(f.Path, f.id); ok {
		f.Hash, f.cached = h, true
		return nil
	}
	if hook != nil {
		hook(f.local)
	}
	start := time.Now()
	h, id, err := hashFile(ctx, f.local, buf)
	if err != nil {
		return err
	}
	f.Hash, f.id = h, id
	if id.cacheable(start) {
		c.keep(f.Path, cacheEntry{id: id, hash: h})
	}
	return nil
}

// hashFile returns the SHA-256 of the file at p and its identity, which
// must be the same after reading as before.
func hashFile(ctx context.Context, p string, buf []byte) (string, fileID, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fileID{}, fmt.Errorf("hashing: %w", err)
	}
	defer f.Close()
	before, err := fstatID(f)
	if err != nil {
		return "", fileID{}, err
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(h, ctxio.Reader(ctx, f), buf); err != nil {
		return "", fileID{}, fmt.Errorf("hashing %s: %w", p, err)
	}
	after, err := fstatID(f)
	if err != nil {
		return "", fileID{}, err
	}
	if after != before {
		return "", fileID{}, fmt.Errorf("%s changed while it was being hashed (wait until nothing writes to it, then retry)", p)
	}
	return hex.EncodeToString(h.Sum(nil)), before, nil
}

func fstatID(f *os.File) (fileID, error) {
	fi, err := f.Stat()
	if err != nil {
		return fileID{}, fmt.Errorf("hashing: %w", err)
	}
	id, _ := statID(fi)
	return id, nil
}
