package artifacts

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/pgzip"

	"github.com/jobrun/jobrun/awsconfig"
)

func TestListRunsReadRecordAtAndOpenLog(t *testing.T) {
	for name, open := range pushStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			st := open(t)
			parent := t.TempDir()
			for i, job := range []string{"old-job", "new-job"} {
				run := newRun(t, parent, job)
				rec, _ := ReadRecord(run)
				rec.CreatedAt = time.Date(2026, 1, 1, i, 0, 0, 0, time.UTC)
				if err := WriteRecord(run, rec); err != nil {
					t.Fatal(err)
				}
				if _, err := Push(ctx, run, st, PushOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			seed(t, st, "not-a-run/file", "x")
			seed(t, st, "bad-record/job.json", "{not json")
			recs, err := ListRuns(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 2 || recs[0].JobName != "new-job" || recs[1].JobName != "old-job" {
				t.Fatalf("ListRuns = %v", recs)
			}
			if recs[0].Upload == nil || recs[0].Upload.CompletedAt == nil {
				t.Errorf("a pushed record says where it went: %+v", recs[0].Upload)
			}
			if _, err := ReadRecordAt(ctx, st, "missing"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a missing run: %v", err)
			}
			checkOpenLog(t, st)
		})
	}
}

func checkOpenLog(t *testing.T, st Store) {
	t.Helper()
	ctx := testCtx(t)
	const log = "epoch 1 loss=0.5\nepoch 2 loss=0.25\n"
	for _, offset := range []int64{0, 17, int64(len(log)), int64(len(log)) + 10} {
		r, err := OpenLog(ctx, st, "new-job", "", offset)
		if err != nil {
			t.Fatalf("offset %d: %v", offset, err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		if want := log[min(offset, int64(len(log))):]; string(b) != want {
			t.Errorf("log from %d = %q, want %q", offset, b, want)
		}
	}
	if _, err := OpenLog(ctx, st, "missing", "algo-2", 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the log of a missing run: %v", err)
	}
}

func TestListRunsEmptyStore(t *testing.T) {
	st, _ := NewLocalStore(filepath.Join(t.TempDir(), "none"))
	if recs, err := ListRuns(testCtx(t), st); err != nil || len(recs) != 0 {
		t.Errorf("%v %v", recs, err)
	}
	s3st := newS3Store(t, srv, srv.NewBucket(t), "nothing/here", S3Options{})
	if recs, err := ListRuns(testCtx(t), s3st); err != nil || len(recs) != 0 {
		t.Errorf("%v %v", recs, err)
	}
}

func TestPushAbortsUploadsLeftByAnEarlierAttempt(t *testing.T) {
	ctx := testCtx(t)
	bucket := srv.NewBucket(t)
	c := srv.Client(t)
	for _, key := range []string{"p/job-1/model/w.bin", "p/other-job/model/w.bin"} {
		if _, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
			t.Fatal(err)
		}
	}
	run := newRun(t, t.TempDir(), "job-1")
	log, sink := newLog()
	st := newS3Store(t, srv, bucket, "p", S3Options{Log: log})
	if _, err := Push(ctx, run, st, PushOptions{Log: log}); err != nil {
		t.Fatal(err)
	}
	out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Uploads) != 1 || aws.ToString(out.Uploads[0].Key) != "p/other-job/model/w.bin" {
		t.Errorf("uploads left: %d; want only the other job's", len(out.Uploads))
	}
	if !strings.Contains(sink.String(), "aborted unfinished uploads") {
		t.Errorf("log:\n%s", sink)
	}
}

func TestPutStreamSizes(t *testing.T) {
	ctx := testCtx(t)
	st := newS3Store(t, srv, srv.NewBucket(t), "s", S3Options{})
	for _, size := range []int{0, 1, DefaultPartSize, DefaultPartSize + 1, 3*DefaultPartSize + 5} {
		body := make([]byte, size)
		rng := rand.NewChaCha8([32]byte{byte(size)})
		rng.Read(body)
		key := "k" + string(rune('a'+size%26))
		obj, err := st.PutStream(ctx, key, bytes.NewReader(body), StreamOptions{Meta: map[string]string{"x": "y"}})
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if obj.Size != int64(size) || obj.Meta["x"] != "y" {
			t.Errorf("%d bytes: %+v", size, obj)
		}
		if got, _ := remoteBody(t, st, key); !bytes.Equal(got, body) {
			t.Errorf("%d bytes: read back %d", size, len(got))
		}
	}
}

// failingReader fails after n bytes, like an archiver that hits a read
// error halfway.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk on fire")
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

func TestPutStreamFailureLeavesNothing(t *testing.T) {
	ctx := testCtx(t)
	bucket := srv.NewBucket(t)
	st := newS3Store(t, srv, bucket, "", S3Options{})
	_, err := st.PutStream(ctx, "k", &failingReader{n: 20 * mib}, StreamOptions{})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err = %v", err)
	}
	if keys := srv.List(t, bucket, ""); len(keys) != 0 {
		t.Errorf("objects after a failed stream: %v", keys)
	}
	if n := countUploads(t, srv, bucket); n != 0 {
		t.Errorf("%d unfinished uploads after a failed stream", n)
	}
}

func TestCombineCRC(t *testing.T) {
	data := make([]byte, 1<<20+3)
	rand.NewChaCha8([32]byte{7}).Read(data)
	whole := crc32.Checksum(data, castagnoli)
	for _, cuts := range [][]int{{0}, {1}, {5 << 10, 700 << 10}, {1 << 20}, {1, 2, 3}} {
		var crcs []uint32
		var sizes []int64
		prev := 0
		for _, c := range append(cuts, len(data)) {
			crcs = append(crcs, crc32.Checksum(data[prev:c], castagnoli))
			sizes = append(sizes, int64(c-prev))
			prev = c
		}
		if got := partCRCs(crcs, sizes); got != whole {
			t.Errorf("cuts %v: %08x, want %08x", cuts, got, whole)
		}
	}
	if got := encodeCRC(whole); len(got) != 8 {
		t.Errorf("encodeCRC = %q", got)
	}
	if b, _ := base64.StdEncoding.DecodeString(encodeCRC(0x01020304)); !bytes.Equal(b, []byte{1, 2, 3, 4}) {
		t.Errorf("big-endian: %v", b)
	}
}

func TestParseS3URI(t *testing.T) {
	for uri, want := range map[string][2]string{
		"s3://bkt":         {"bkt", ""},
		"s3://bkt/":        {"bkt", ""},
		"s3://bkt/p/q/":    {"bkt", "p/q"},
		"s3://bkt/p":       {"bkt", "p"},
		"s3://bkt//p//":    {"bkt", "p"},
		"s3://bucket/a b/": {"bucket", "a b"},
	} {
		b, p, err := ParseS3URI(uri)
		if err != nil || b != want[0] || p != want[1] {
			t.Errorf("%s: %q %q %v", uri, b, p, err)
		}
	}
	for _, bad := range []string{"s3://", "s3:///p", "/local", "gs://b", "s3://b/p"} {
		if _, _, err := ParseS3URI(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestOpenStore(t *testing.T) {
	ctx := context.Background()
	st, err := OpenStore(ctx, "runs", awsOpts())
	if l, ok := st.(LocalStore); err != nil || !ok || !filepath.IsAbs(l.Root) {
		t.Errorf("local: %#v %v", st, err)
	}
	srv.SetEnv(t)
	st, err = OpenStore(ctx, "s3://bkt/p/", awsOpts())
	if err != nil || st.URI("job/x") != "s3://bkt/p/job/x" || st.URI("") != "s3://bkt/p" {
		t.Errorf("s3: %v %v", st, err)
	}
	if _, err := os.Stat("runs"); err == nil {
		t.Error("opening a store created its folder")
	}
}

func awsOpts() awsconfig.Options { return awsconfig.Options{} }

func TestGzipLevelByContent(t *testing.T) {
	dir := t.TempDir()
	weights := make([]byte, 4<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < len(weights); i += 4 {
		binary.LittleEndian.PutUint32(weights[i:], math.Float32bits(float32(rng.NormFloat64()*0.02)))
	}
	write(t, filepath.Join(dir, "w", "model.bin"), string(weights))
	write(t, filepath.Join(dir, "w", "config.json"), `{"layers": 12}`)
	var csv strings.Builder
	for i := 0; csv.Len() < 4<<20; i++ {
		fmt.Fprintf(&csv, "%d,%.4f,label-%d\n", i, float64(i%997)/997, i%7)
	}
	write(t, filepath.Join(dir, "t", "preds.csv"), csv.String())
	if got := gzipLevel(filepath.Join(dir, "w")); got != pgzip.HuffmanOnly {
		t.Errorf("float weights: level %d, want HuffmanOnly", got)
	}
	if got := gzipLevel(filepath.Join(dir, "t")); got != pgzip.DefaultCompression {
		t.Errorf("CSV: level %d, want the default", got)
	}
	if got := gzipLevel(filepath.Join(dir, "empty")); got != pgzip.DefaultCompression {
		t.Errorf("no files: level %d", got)
	}
}
