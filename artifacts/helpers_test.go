package artifacts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobrun/jobrun/internal/s3test"
)

// srv is one S3 server for the package's tests; each test takes its own
// bucket. Tests that kill the server start their own.
var srv *s3test.Server

func TestMain(m *testing.M) {
	s, stop, err := s3test.StartMain()
	if err != nil {
		// The S3 tests must fail, not skip, without versitygw.
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv = s
	code := m.Run()
	stop()
	os.Exit(code)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// quietLog keeps expected warnings out of the test output but lets tests
// read them.
type logSink struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLog() (*slog.Logger, *logSink) {
	sink := &logSink{}
	return slog.New(slog.NewTextHandler(sink, nil)), sink
}

func newS3Store(t *testing.T, s *s3test.Server, bucket, prefix string, o S3Options) *S3Store {
	t.Helper()
	if o.Log == nil {
		o.Log, _ = newLog()
	}
	st, err := NewS3Store(s.Client(t), "s3://"+bucket+"/"+prefix, o)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// randomFile writes size pseudo-random (incompressible) bytes.
func randomFile(t testing.TB, path string, size int64, seed uint64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	if _, err := io.CopyN(f, rand.NewChaCha8(key), size); err != nil {
		t.Fatal(err)
	}
}

// newRun makes a run directory like the runner's, with a job.json.
func newRun(t *testing.T, parent, job string) string {
	t.Helper()
	dir := filepath.Join(parent, job)
	for _, d := range []string{"model", "output/data", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(dir, "logs", "algo-1.log"), "epoch 1 loss=0.5\nepoch 2 loss=0.25\n")
	write(t, filepath.Join(dir, "metrics.jsonl"), `{"name":"loss","value":0.25}`+"\n")
	code := 0
	rec := &Record{JobName: job, Status: StatusCompleted, ExitCode: &code, CreatedAt: time.Now().UTC(),
		Outputs: OutputRecord{Model: "model/", Output: "output/", Logs: "logs/", Metrics: "metrics.jsonl"}}
	if err := WriteRecord(dir, rec); err != nil {
		t.Fatal(err)
	}
	return dir
}

// smallFiles writes n small files in nested folders below dir.
func smallFiles(t testing.TB, dir string, n int) {
	t.Helper()
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("layer-%02d", i%10), fmt.Sprintf("sub-%d", i%3), fmt.Sprintf("w-%03d.bin", i))
		randomFile(t, p, int64(1+i*37%20000), uint64(i))
	}
}

// localFiles maps every regular file below dir (slash paths) to its
// SHA-256.
func localFiles(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = fileSum(t, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func fileSum(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// storeFiles maps every object below prefix (keys relative to it) to its
// SHA-256, read back through the store.
func storeFiles(t testing.TB, st Store, prefix string) map[string]string {
	t.Helper()
	ctx := context.Background()
	objs, err := st.List(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, o := range objs {
		r, err := st.Open(ctx, o.Key, 0)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			t.Fatalf("reading %s: %v", o.Key, err)
		}
		out[strings.TrimPrefix(o.Key, prefix)] = hex.EncodeToString(h.Sum(nil))
	}
	return out
}

// sameFiles reports the differences between two path → checksum maps.
func sameFiles(t testing.TB, got, want map[string]string) {
	t.Helper()
	var diffs []string
	for k, v := range want {
		if got[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s: got %.12q, want %.12q", k, got[k], v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, k+": not expected")
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("%d differences (of %d files):\n%s", len(diffs), len(want), strings.Join(diffs[:min(len(diffs), 20)], "\n"))
	}
}

// recordingStore notes when each Put starts and ends.
type recordingStore struct {
	Store
	mu     sync.Mutex
	events []string // "start key", "end key"
}

func (r *recordingStore) note(ev string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recordingStore) Put(ctx context.Context, key string, f *os.File) (Object, error) {
	r.note("start " + key)
	defer r.note("end " + key)
	return r.Store.Put(ctx, key, f)
}

func (r *recordingStore) PutStream(ctx context.Context, key string, rd io.Reader, o StreamOptions) (Object, error) {
	r.note("start " + key)
	defer r.note("end " + key)
	return r.Store.PutStream(ctx, key, rd, o)
}

func (r *recordingStore) puts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if k, ok := strings.CutPrefix(e, "start "); ok {
			out = append(out, k)
		}
	}
	return out
}

func (r *recordingStore) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = nil
}
