package channels

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/jobrun/jobrun/internal/s3test"
	"github.com/jobrun/jobrun/spec"
)

// countingS3 counts requests and lets a test act before each GET.
type countingS3 struct {
	S3API
	gets, heads, lists atomic.Int64
	getBytes           atomic.Int64 // bytes of GET bodies read

	mu        sync.Mutex
	beforeGet func(n int64, in *s3.GetObjectInput) // n: this GET's 1-based count
}

func (c *countingS3) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	n := c.gets.Add(1)
	c.mu.Lock()
	hook := c.beforeGet
	c.mu.Unlock()
	if hook != nil {
		hook(n, in)
	}
	out, err := c.S3API.GetObject(ctx, in, opts...)
	if err == nil {
		out.Body = &countingBody{out.Body, &c.getBytes}
	}
	return out, err
}

func (c *countingS3) HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	c.heads.Add(1)
	return c.S3API.HeadObject(ctx, in, opts...)
}

func (c *countingS3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	c.lists.Add(1)
	return c.S3API.ListObjectsV2(ctx, in, opts...)
}

func (c *countingS3) setBeforeGet(f func(n int64, in *s3.GetObjectInput)) {
	c.mu.Lock()
	c.beforeGet = f
	c.mu.Unlock()
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// quickClient is a client for srv whose retries give up fast, for tests
// that cut the server off.
func quickClient(srv *s3test.Server) *s3.Client {
	return s3.New(s3.Options{
		Region:       srv.Region,
		BaseEndpoint: aws.String(srv.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 2
			o.MaxBackoff = 20 * time.Millisecond
		}),
	})
}

// env is one test's server, bucket, cache and work directory.
type env struct {
	srv    *s3test.Server
	bucket string
	s3     *countingS3
	cache  *Cache
}

func newEnv(t testing.TB) *env {
	t.Helper()
	srv := s3test.Start(t)
	srv.Bucket(t, "data")
	cache, err := OpenCache(filepath.Join(t.TempDir(), "cache"), 0)
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, bucket: "data", s3: &countingS3{S3API: srv.Client(t)}, cache: cache}
}

// stager returns a Stager on e's server and cache.
func (e *env) stager() *Stager {
	return &Stager{S3: e.s3, Cache: e.cache}
}

// workDir returns a fresh work directory in the cache.
func (e *env) workDir(t testing.TB) string {
	t.Helper()
	d, err := e.cache.NewWorkDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func (e *env) put(t testing.TB, key string, body []byte) {
	t.Helper()
	e.srv.Put(t, e.bucket, key, body)
}

// putBig uploads size random bytes (multipart above s3test.PartSize) and
// returns them.
func (e *env) putBig(t testing.TB, key string, size int) []byte {
	t.Helper()
	data := randomBytes(t, size)
	p := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	e.srv.PutFile(t, e.bucket, key, p)
	return data
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func input(name, uri string) spec.Input {
	return spec.Input{Name: name, URI: uri, Type: "s3prefix", Mode: "file", Compression: "none",
		Distribution: "fully_replicated", RecordWrapper: "none"}
}

// stageOK stages inputs and fails the test on error.
func stageOK(t testing.TB, s *Stager, work string, inputs ...spec.Input) []Staged {
	t.Helper()
	st, err := s.Stage(context.Background(), inputs, work)
	if err != nil {
		t.Fatalf("Stage: %v", err)
	}
	return st
}

// tree maps every regular file below dir to its content ("" for big
// files: compare those separately).
func tree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if len(b) > 1<<20 {
			b = nil
		}
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// entries lists a directory's names.
func entries(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// sameFile fails unless path holds want.
func sameFile(t testing.TB, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes differ from the %d uploaded", path, len(got), len(want))
	}
}

// blobs lists the cache's blob files and temp files.
func blobs(t testing.TB, c *Cache) (complete, temp []string) {
	t.Helper()
	filepath.WalkDir(filepath.Join(c.Dir(), blobsDir), func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil || !d.Type().IsRegular():
		case strings.HasPrefix(d.Name(), tempPrefix):
			temp = append(temp, p)
		default:
			complete = append(complete, p)
		}
		return nil
	})
	return complete, temp
}
