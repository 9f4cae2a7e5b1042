package channels

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/jobrun/jobrun/exitcode"
	"github.com/jobrun/jobrun/spec"
)

func TestStagePrefixNested(t *testing.T) {
	e := newEnv(t)
	want := map[string]string{
		"a.csv":         "1,2\n",
		"sub/b.csv":     "3,4\n",
		"sub/deep/c.nd": "x",
		"empty":         "",
	}
	for rel, body := range want {
		e.put(t, "train/"+rel, []byte(body))
	}
	e.put(t, "train/folder/", nil) // a folder marker: skipped
	e.put(t, "other/x", []byte("not mine"))

	work := e.workDir(t)
	st := stageOK(t, e.stager(), work, input("train", "s3://data/train/"))
	if got := tree(t, st[0].Dir); !reflect.DeepEqual(got, want) {
		t.Errorf("channel holds %v, want %v", got, want)
	}
	if st[0].Dir != filepath.Join(work, "train") {
		t.Errorf("Dir = %s", st[0].Dir)
	}
	if m := st[0].Mounts; len(m) != 1 || m[0].Source != st[0].Dir || m[0].Target != "/opt/ml/input/data/train" {
		t.Errorf("Mounts = %+v", m)
	}
	if got := entries(t, work); !reflect.DeepEqual(got, []string{"train"}) {
		t.Errorf("work dir holds %v, want only the channel", got)
	}
	fi, err := os.Stat(filepath.Join(st[0].Dir, "sub/b.csv"))
	if err != nil || fi.Mode().Perm() != 0o444 {
		t.Errorf("staged file mode %v, %v; want read-only 0444", fi.Mode(), err)
	}
	if len(st[0].Objects) != 4 || st[0].Objects[0].ETag == "" {
		t.Errorf("Objects = %+v", st[0].Objects)
	}
}

// TestStagePrefixNotDirectory checks SageMaker's rule: a prefix matches
// every key that starts with it, and names stay relative to the prefix's
// last '/'.
func TestStagePrefixNotDirectory(t *testing.T) {
	e := newEnv(t)
	for _, k := range []string{"data/train/x.csv", "data/train2/y.csv", "data/train.csv", "data/test.csv"} {
		e.put(t, k, []byte(k))
	}
	e.put(t, "data/trainfolder/", nil)
	st := stageOK(t, e.stager(), e.workDir(t), input("train", "s3://data/data/train"))
	want := map[string]string{
		"train/x.csv":  "data/train/x.csv",
		"train2/y.csv": "data/train2/y.csv",
		"train.csv":    "data/train.csv",
	}
	if got := tree(t, st[0].Dir); !reflect.DeepEqual(got, want) {
		t.Errorf("channel holds %v, want %v", got, want)
	}

	// A URI naming one object stages that object under its base name.
	st = stageOK(t, e.stager(), e.workDir(t), input("one", "s3://data/data/test.csv"))
	if got := tree(t, st[0].Dir); !reflect.DeepEqual(got, map[string]string{"test.csv": "data/test.csv"}) {
		t.Errorf("single object: channel holds %v", got)
	}

	// The whole bucket.
	st = stageOK(t, e.stager(), e.workDir(t), input("all", "s3://data"))
	if got := sortedKeys(tree(t, st[0].Dir)); len(got) != 4 || got[0] != "data/test.csv" {
		t.Errorf("whole bucket: %v", got)
	}
}

func TestStageManySmall(t *testing.T) {
	e := newEnv(t)
	const n = 500
	want := map[string]string{}
	for i := range n {
		rel := fmt.Sprintf("d%02d/f%04d.txt", i%17, i)
		want[rel] = fmt.Sprintf("object %d\n", i)
		e.put(t, "small/"+rel, []byte(want[rel]))
	}
	s := e.stager()
	s.Concurrency = 16
	start := time.Now()
	st := stageOK(t, s, e.workDir(t), input("train", "s3://data/small/"))
	t.Logf("staged %d objects in %v", n, time.Since(start))
	if got := tree(t, st[0].Dir); !reflect.DeepEqual(got, want) {
		t.Errorf("channel holds %d files, want %d (or contents differ)", len(got), len(want))
	}
	if g := e.s3.gets.Load(); g != n {
		t.Errorf("%d GETs for %d objects", g, n)
	}
	if pages := e.s3.lists.Load(); pages != 1 {
		t.Errorf("%d list requests", pages)
	}
}

// TestStageBig forces the ranged multipart path with a small threshold.
func TestStageBig(t *testing.T) {
	e := newEnv(t)
	const size = 40 << 20
	a := e.putBig(t, "big/a.bin", size)
	b := e.putBig(t, "big/b.bin", size+12345) // a short last part
	s := e.stager()
	s.MultipartThreshold, s.PartSize = 8<<20, 4<<20
	st := stageOK(t, s, e.workDir(t), input("big", "s3://data/big/"))
	sameFile(t, filepath.Join(st[0].Dir, "a.bin"), a)
	sameFile(t, filepath.Join(st[0].Dir, "b.bin"), b)
	if g := e.s3.gets.Load(); g != 10+11 {
		t.Errorf("%d GETs, want 21 ranged parts", g)
	}
	if _, temp := blobs(t, e.cache); len(temp) != 0 {
		t.Errorf("temp files left: %v", temp)
	}
}

func TestStageCacheHitAndChange(t *testing.T) {
	e := newEnv(t)
	for i := range 20 {
		e.put(t, fmt.Sprintf("c/%02d", i), []byte(fmt.Sprint("v1 ", i)))
	}
	big := e.putBig(t, "c/big", 20<<20)
	s := e.stager()
	s.MultipartThreshold, s.PartSize = 8<<20, 4<<20
	cold := stageOK(t, s, e.workDir(t), input("train", "s3://data/c/"))
	if cold[0].FromCache != 0 {
		t.Errorf("cold run: %d from cache", cold[0].FromCache)
	}
	gets := e.s3.gets.Load()

	warm := stageOK(t, s, e.workDir(t), input("train", "s3://data/c/"))
	if g := e.s3.gets.Load() - gets; g != 0 {
		t.Errorf("warm rerun sent %d GETs, want 0", g)
	}
	if warm[0].FromCache != 21 {
		t.Errorf("warm run: %d from cache, want 21", warm[0].FromCache)
	}
	if !reflect.DeepEqual(tree(t, warm[0].Dir), tree(t, cold[0].Dir)) {
		t.Error("warm staging differs from cold")
	}
	sameFile(t, filepath.Join(warm[0].Dir, "big"), big)
	fi, _ := os.Stat(filepath.Join(warm[0].Dir, "00"))
	if linkCount(fi) < 2 {
		t.Errorf("staged file has %d links: not hard-linked from the cache", linkCount(fi))
	}

	// A changed object is fetched again; the others still come from the cache.
	e.put(t, "c/07", []byte("v2 7"))
	gets = e.s3.gets.Load()
	again := stageOK(t, s, e.workDir(t), input("train", "s3://data/c/"))
	if g := e.s3.gets.Load() - gets; g != 1 {
		t.Errorf("after one change: %d GETs, want 1", g)
	}
	if got := tree(t, again[0].Dir)["07"]; got != "v2 7" {
		t.Errorf("changed object staged as %q", got)
	}
	if again[0].FromCache != 20 {
		t.Errorf("after one change: %d from cache, want 20", again[0].FromCache)
	}
}

// TestStageObjectChangedWhileStaging overwrites an object between the
// listing and its GET: If-Match must make the GET fail.
func TestStageObjectChangedWhileStaging(t *testing.T) {
	for _, big := range []bool{false, true} {
		t.Run(fmt.Sprintf("big=%v", big), func(t *testing.T) {
			e := newEnv(t)
			if big {
				e.putBig(t, "x/obj", 12<<20)
			} else {
				e.put(t, "x/obj", []byte("old"))
			}
			e.s3.setBeforeGet(func(n int64, in *s3.GetObjectInput) {
				if n == 1 {
					e.put(t, "x/obj", []byte("new content"))
				}
			})
			s := e.stager()
			s.MultipartThreshold, s.PartSize = 8<<20, 4<<20
			work := e.workDir(t)
			_, err := s.Stage(context.Background(), []spec.Input{input("train", "s3://data/x/")}, work)
			if !errors.Is(err, ErrObjectChanged) && !strings.Contains(fmt.Sprint(err), "changed on S3") {
				t.Fatalf("Stage = %v, want a changed-object error", err)
			}
			if !strings.Contains(err.Error(), `channel "train"`) || !strings.Contains(err.Error(), "s3://data/x/obj") {
				t.Errorf("error does not name the channel and object: %v", err)
			}
			if exitcode.Code(err) != exitcode.Failure {
				t.Errorf("exit code %d", exitcode.Code(err))
			}
			assertNothingKept(t, e, work)
		})
	}
}

// assertNothingKept checks that a failed staging left no channel
// directory, no staging directory and no temp blob, and that every blob
// is whole: read-only, and the size of one of the objects (sizes).
func assertNothingKept(t *testing.T, e *env, work string, sizes ...int64) {
	t.Helper()
	if got := entries(t, work); len(got) != 0 {
		t.Errorf("work dir keeps %v after a failed staging", got)
	}
	complete, temp := blobs(t, e.cache)
	if len(temp) != 0 {
		t.Errorf("temp blobs kept: %v", temp)
	}
	for _, p := range complete {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o444 {
			t.Errorf("blob %s: %v %v", p, fi.Mode(), err)
			continue
		}
		if len(sizes) > 0 && !slices.Contains(sizes, fi.Size()) {
			t.Errorf("blob %s has %d bytes: not a whole object (%v)", p, fi.Size(), sizes)
		}
	}
	t.Logf("%d whole blobs kept", len(complete))
}

// TestStageCancel cancels the context in the middle of downloading big
// objects.
func TestStageCancel(t *testing.T) {
	e := newEnv(t)
	e.putBig(t, "c/a", 24<<20)
	e.putBig(t, "c/b", 24<<20)
	for i := range 30 {
		e.put(t, fmt.Sprintf("c/small%02d", i), []byte("x"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.s3.setBeforeGet(func(n int64, in *s3.GetObjectInput) {
		if n == 16 { // the big objects' 12 parts are under way or done
			cancel()
		}
	})
	s := e.stager()
	s.MultipartThreshold, s.PartSize, s.Concurrency, s.PartConcurrency = 8<<20, 4<<20, 4, 4
	work := e.workDir(t)
	_, err := s.Stage(ctx, []spec.Input{input("train", "s3://data/c/")}, work)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Stage = %v, want context.Canceled", err)
	}
	if exitcode.Code(err) != exitcode.Interrupted || !exitcode.Quiet(err) {
		t.Errorf("exit code %d, quiet %v", exitcode.Code(err), exitcode.Quiet(err))
	}
	assertNothingKept(t, e, work, 24<<20, 1)

	// A later run completes from scratch and uses what was whole.
	st := stageOK(t, e.stager(), e.workDir(t), input("train", "s3://data/c/"))
	if len(tree(t, st[0].Dir)) != 32 {
		t.Errorf("rerun staged %d files", len(tree(t, st[0].Dir)))
	}
	t.Logf("the rerun took %d objects from the cache", st[0].FromCache)
}

// TestStageServerKilled kills the S3 server while big objects are being
// downloaded.
func TestStageServerKilled(t *testing.T) {
	e := newEnv(t)
	e.putBig(t, "k/a", 32<<20)
	e.putBig(t, "k/b", 32<<20)
	e.s3 = &countingS3{S3API: quickClient(e.srv)}
	var once sync.Once
	e.s3.setBeforeGet(func(n int64, in *s3.GetObjectInput) {
		if n == 3 {
			once.Do(e.srv.Kill)
		}
	})
	s := e.stager()
	s.MultipartThreshold, s.PartSize, s.Concurrency, s.PartConcurrency = 8<<20, 4<<20, 2, 2
	work := e.workDir(t)
	start := time.Now()
	_, err := s.Stage(context.Background(), []spec.Input{input("train", "s3://data/k/")}, work)
	if err == nil {
		t.Fatal("Stage succeeded with the server killed")
	}
	t.Logf("after %v: %v", time.Since(start), err)
	if !strings.Contains(err.Error(), "cannot reach the S3 endpoint") || !strings.Contains(err.Error(), `channel "train"`) {
		t.Errorf("error does not explain: %v", err)
	}
	if exitcode.Code(err) != exitcode.Failure {
		t.Errorf("exit code %d", exitcode.Code(err))
	}
	assertNothingKept(t, e, work, 32<<20)

	e.srv.Restart(t)
	st := stageOK(t, e.stager(), e.workDir(t), input("train", "s3://data/k/"))
	if len(st[0].Objects) != 2 {
		t.Errorf("after restart: %+v", st[0].Objects)
	}
}

// TestStageResumesBrokenStream breaks response bodies mid-way: the
// download resumes at the offset reached, with a ranged GET.
func TestStageResumesBrokenStream(t *testing.T) {
	e := newEnv(t)
	data := e.putBig(t, "r/obj", 3<<20)
	flaky := &flakyS3{S3API: e.s3, breakAfter: 1 << 20, breaks: 2}
	s := &Stager{S3: flaky, Cache: e.cache}
	st := stageOK(t, s, e.workDir(t), input("train", "s3://data/r/"))
	sameFile(t, filepath.Join(st[0].Dir, "obj"), data)
	if got := flaky.ranges; len(got) != 3 || got[0] != "" || got[1] != "bytes=1048576-3145727" || got[2] != "bytes=2097152-3145727" {
		t.Errorf("GET ranges %q", got)
	}

	// Open (Pipe and FastFile streaming) resumes too.
	flaky = &flakyS3{S3API: e.s3, breakAfter: 1 << 20, breaks: 2}
	rc, err := (&Stager{S3: flaky}).Open(context.Background(), st[0].Objects[0])
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("Open read %d bytes, %v", len(got), err)
	}
	if len(flaky.ranges) != 3 || flaky.ranges[2] != "bytes=2097152-3145727" {
		t.Errorf("Open GET ranges %q", flaky.ranges)
	}
}

// flakyS3 cuts the first breaks response bodies after breakAfter bytes.
type flakyS3 struct {
	S3API
	breakAfter int64
	mu         sync.Mutex
	breaks     int
	ranges     []string
}

func (f *flakyS3) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.mu.Lock()
	f.ranges = append(f.ranges, aws.ToString(in.Range))
	cut := f.breaks > 0
	f.breaks--
	f.mu.Unlock()
	out, err := f.S3API.GetObject(ctx, in, opts...)
	if err == nil && cut {
		out.Body = &brokenBody{out.Body, f.breakAfter}
	}
	return out, err
}

type brokenBody struct {
	io.ReadCloser
	left int64
}

func (b *brokenBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errors.New("connection reset by peer (simulated)")
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
