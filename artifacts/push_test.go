package artifacts

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const mib = 1 << 20

// modelRun makes a run with many small files and two files big enough
// for multipart uploads.
func modelRun(t *testing.T, small int, big int64) string {
	t.Helper()
	run := newRun(t, t.TempDir(), "job-1")
	smallFiles(t, filepath.Join(run, "model"), small)
	randomFile(t, filepath.Join(run, "model", "big", "shard-0.bin"), big, 1000)
	randomFile(t, filepath.Join(run, "model", "big", "shard-1.bin"), big+12345, 1001)
	write(t, filepath.Join(run, "output", "data", "eval", "scores.csv"), "a,b\n1,2\n")
	write(t, filepath.Join(run, "output", "success"), "")
	return run
}

// pushStores are the destinations every Push test runs against.
func pushStores(t *testing.T) map[string]func(t *testing.T) Store {
	return map[string]func(t *testing.T) Store{
		"s3": func(t *testing.T) Store { return newS3Store(t, srv, srv.NewBucket(t), "runs/x", S3Options{}) },
		"local": func(t *testing.T) Store {
			st, _ := NewLocalStore(filepath.Join(t.TempDir(), "runs"))
			return st
		},
	}
}

func TestPushNestedModelThenResumeNothing(t *testing.T) {
	for name, open := range pushStores(t) {
		t.Run(name, func(t *testing.T) {
			run := modelRun(t, 300, 48*mib)
			ctx := testCtx(t)
			rs := &recordingStore{Store: open(t)}
			log, _ := newLog()
			rec, err := Push(ctx, run, rs, PushOptions{Log: log})
			if err != nil {
				t.Fatal(err)
			}
			want := localFiles(t, run)
			sameFiles(t, storeFiles(t, rs, "job-1/"), want)
			if puts := rs.puts(); puts[len(puts)-1] != "job-1/job.json" {
				t.Errorf("job.json was not uploaded last: %v", puts[len(puts)-5:])
			}
			checkJobJSONAfterAll(t, rs.events)
			up := rec.Upload
			if up == nil || up.CompletedAt == nil || up.Error != "" || up.Files != len(want)-1 || up.Unchanged != 0 {
				t.Fatalf("upload record = %+v, want %d files, completed", up, len(want)-1)
			}
			if up.URI != rs.URI("job-1/") {
				t.Errorf("URI = %q", up.URI)
			}

			// A second push finds everything there: only job.json is sent.
			rs.reset()
			rec, err = Push(ctx, run, rs, PushOptions{Log: log})
			if err != nil {
				t.Fatal(err)
			}
			if puts := rs.puts(); !slices.Equal(puts, []string{"job-1/job.json"}) {
				t.Errorf("second push sent %d objects: %v", len(puts), puts[:min(len(puts), 5)])
			}
			if rec.Upload.Unchanged != rec.Upload.Files {
				t.Errorf("second push: %+v", rec.Upload)
			}

			// A changed file (same size) is sent again, and only it.
			randomFile(t, filepath.Join(run, "model", "layer-03", "sub-0", "w-003.bin"), int64(1+3*37), 77)
			rs.reset()
			if _, err := Push(ctx, run, rs, PushOptions{Log: log}); err != nil {
				t.Fatal(err)
			}
			if puts := rs.puts(); !slices.Equal(puts, []string{"job-1/model/layer-03/sub-0/w-003.bin", "job-1/job.json"}) {
				t.Errorf("after one change, sent %v", puts)
			}
			sameFiles(t, storeFiles(t, rs, "job-1/"), localFiles(t, run))
		})
	}
}

// checkJobJSONAfterAll checks that job.json's upload started after every
// other upload had ended.
func checkJobJSONAfterAll(t *testing.T, events []string) {
	t.Helper()
	start := slices.Index(events, "start job-1/job.json")
	for _, e := range events[start:] {
		if strings.HasPrefix(e, "end ") && e != "end job-1/job.json" {
			t.Errorf("%s after job.json's upload started", e)
		}
	}
}

func TestPushBigFilesAreMultipartWithWholeChecksums(t *testing.T) {
	ctx := testCtx(t)
	bucket := srv.NewBucket(t)
	run := newRun(t, t.TempDir(), "job-1")
	randomFile(t, filepath.Join(run, "model", "w.bin"), 20*mib+1, 5)
	st := newS3Store(t, srv, bucket, "", S3Options{})
	if _, err := Push(ctx, run, st, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	head, err := srv.Client(t).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("job-1/model/w.bin")})
	if err != nil {
		t.Fatal(err)
	}
	if etag := aws.ToString(head.ETag); !strings.HasSuffix(etag, `-3"`) {
		t.Errorf("ETag %s: want a 3-part multipart upload", etag)
	}
	obj, err := st.Stat(ctx, "job-1/model/w.bin")
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(filepath.Join(run, "model", "w.bin"))
	defer f.Close()
	crc, _ := sectionCRC(ctx, f, 0, 20*mib+1)
	if obj.Checksum != encodeCRC(crc) {
		t.Errorf("stored checksum %q, the file's CRC-32C is %q", obj.Checksum, encodeCRC(crc))
	}
}

// linkRun makes a model folder with links in and out of it, a link to a
// folder and a FIFO.
func linkRun(t *testing.T) string {
	t.Helper()
	parent := t.TempDir()
	run := newRun(t, parent, "job-1")
	model := filepath.Join(run, "model")
	write(t, filepath.Join(model, "weights.bin"), "weights")
	write(t, filepath.Join(parent, "secret"), "do not ship")
	write(t, filepath.Join(run, "output", "data", "other"), "not the model's")
	links := map[string]string{
		"abs-out":     filepath.Join(parent, "secret"),
		"rel-out":     "../../secret",
		"sibling-out": "../output/data/other",
		"in-tree":     "weights.bin",
		"dir-link":    ".",
		"dangling":    "nope",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(model, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(model, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	return run
}

func TestPushNeverFollowsLinksOutOfTheModel(t *testing.T) {
	run := linkRun(t)
	for name, open := range pushStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			st := open(t)
			log, sink := newLog()
			rec, err := Push(ctx, run, st, PushOptions{Log: log})
			if err != nil {
				t.Fatal(err)
			}
			got := storeFiles(t, st, "job-1/model/")
			want := map[string]string{"weights.bin": fileSum(t, filepath.Join(run, "model", "weights.bin"))}
			want["in-tree"] = want["weights.bin"] // S3 has no links: an in-tree link uploads its target's bytes
			sameFiles(t, got, want)
			skipped := rec.Upload.Skipped
			sort.Strings(skipped)
			wantSkipped := []string{"model/abs-out", "model/dangling", "model/dir-link", "model/fifo", "model/rel-out", "model/sibling-out"}
			if !slices.Equal(skipped, wantSkipped) {
				t.Errorf("skipped %v, want %v", skipped, wantSkipped)
			}
			if !strings.Contains(sink.String(), "model/abs-out") {
				t.Errorf("no warning about the link out of the model:\n%s", sink)
			}
		})
	}
}

// tarList lists an archive with tar itself, sorted.
func tarList(t *testing.T, path string) []string {
	t.Helper()
	out, err := exec.Command("tar", "-tzf", path).CombinedOutput()
	if err != nil {
		t.Fatalf("tar -tzf %s: %v\n%s", path, err, out)
	}
	names := strings.Fields(string(out))
	sort.Strings(names)
	return names
}

// treeList lists a folder as tar lists an archive of it: folders end in
// "/", no entry for the folder itself.
func treeList(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if info.IsDir() {
			rel += "/"
		}
		names = append(names, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	return names
}

func gzipRun(t *testing.T) string {
	t.Helper()
	run := newRun(t, t.TempDir(), "job-1")
	model := filepath.Join(run, "model")
	smallFiles(t, model, 40)
	randomFile(t, filepath.Join(model, "big.bin"), 18*mib, 9) // incompressible: a multipart stream
	if err := os.MkdirAll(filepath.Join(model, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("big.bin", filepath.Join(model, "latest")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(run, "output", "data", "preds", "p.csv"), "1\n2\n")
	write(t, filepath.Join(run, "output", "failure"), "bad input")
	return run
}

func TestPushGzipArchivesListLikeTheTree(t *testing.T) {
	run := gzipRun(t)
	for name, open := range pushStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			rs := &recordingStore{Store: open(t)}
			rec, err := Push(ctx, run, rs, PushOptions{Compression: CompressionGzip})
			if err != nil {
				t.Fatal(err)
			}
			keys := mapKeys(storeFiles(t, rs, "job-1/"))
			want := []string{"job.json", "logs/algo-1.log", "metrics.jsonl", "output/failure", "output/model.tar.gz", "output/output.tar.gz"}
			if !slices.Equal(keys, want) {
				t.Fatalf("keys %v, want SageMaker's %v", keys, want)
			}
			for archive, dir := range map[string]string{"output/model.tar.gz": "model", "output/output.tar.gz": "output/data"} {
				local := download(t, rs, "job-1/"+archive)
				if got, want := tarList(t, local), treeList(t, filepath.Join(run, dir)); !slices.Equal(got, want) {
					t.Errorf("tar -tzf %s:\n%v\nwant\n%v", archive, got, want)
				}
			}
			if rec.Outputs.Model != "output/model.tar.gz" || rec.Upload.Compression != CompressionGzip {
				t.Errorf("record: %+v %+v", rec.Outputs, rec.Upload)
			}
			extracted := t.TempDir()
			if out, err := exec.Command("tar", "-xzf", download(t, rs, "job-1/output/model.tar.gz"), "-C", extracted).CombinedOutput(); err != nil {
				t.Fatalf("tar -xzf: %v\n%s", err, out)
			}
			sameFiles(t, localFiles(t, extracted), localFiles(t, filepath.Join(run, "model")))
		})
	}
}

func TestPushGzipAgainSkipsTheSameTree(t *testing.T) {
	ctx := testCtx(t)
	run := gzipRun(t)
	rs := &recordingStore{Store: newS3Store(t, srv, srv.NewBucket(t), "", S3Options{})}
	if _, err := Push(ctx, run, rs, PushOptions{Compression: CompressionGzip}); err != nil {
		t.Fatal(err)
	}
	rs.reset()
	// The record remembers the compression: jobrun push needs no flag.
	if _, err := Push(ctx, run, rs, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if puts := rs.puts(); !slices.Equal(puts, []string{"job-1/job.json"}) {
		t.Errorf("pushing the same tree again sent %v", puts)
	}
	write(t, filepath.Join(run, "output", "data", "preds", "p2.csv"), "3\n")
	rs.reset()
	if _, err := Push(ctx, run, rs, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if puts := rs.puts(); !slices.Equal(puts, []string{"job-1/output/output.tar.gz", "job-1/job.json"}) {
		t.Errorf("after a change in output/data, sent %v", puts)
	}
}

func mapKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// download copies an object to a temporary file.
func download(t *testing.T, st Store, key string) string {
	t.Helper()
	r, err := st.Open(context.Background(), key, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	path := filepath.Join(t.TempDir(), filepath.Base(key))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPushOntoItselfCopiesNothing(t *testing.T) {
	parent := t.TempDir()
	run := newRun(t, parent, "job-1")
	st, _ := NewLocalStore(parent)
	rec, err := Push(testCtx(t), run, st, PushOptions{})
	if err != nil || rec.Upload != nil {
		t.Fatalf("push onto itself: %v %+v", err, rec.Upload)
	}
}

func TestPushNotARun(t *testing.T) {
	st, _ := NewLocalStore(t.TempDir())
	if _, err := Push(testCtx(t), t.TempDir(), st, PushOptions{}); err == nil || !strings.Contains(err.Error(), "not a run directory") {
		t.Errorf("err = %v", err)
	}
}

func TestPushCancelledAbortsItsUploads(t *testing.T) {
	bucket := srv.NewBucket(t)
	run := newRun(t, t.TempDir(), "job-1")
	randomFile(t, filepath.Join(run, "model", "w.bin"), 64*mib, 3)
	st := newS3Store(t, srv, bucket, "", S3Options{Concurrency: 2})
	ctx, cancel := context.WithCancel(context.Background())
	_, err := Push(ctx, run, st, PushOptions{Progress: func(done, total int64) {
		if done > 0 {
			cancel()
		}
	}})
	if err == nil {
		t.Fatal("a cancelled push succeeded")
	}
	if n := countUploads(t, srv, bucket); n != 0 {
		t.Errorf("%d multipart uploads left after a cancelled push", n)
	}
	rec, _ := ReadRecord(run)
	if rec.Upload == nil || rec.Upload.Error == "" || rec.Upload.CompletedAt != nil {
		t.Errorf("local record after a failed push: %+v", rec.Upload)
	}
}

func TestPushRefusesAJobNameThatLeavesTheStore(t *testing.T) {
	run := newRun(t, t.TempDir(), "job-1")
	for _, name := range []string{"", "..", "a/b", "../x"} {
		rec, _ := ReadRecord(run)
		rec.JobName = name
		WriteRecord(run, rec)
		st, _ := NewLocalStore(t.TempDir())
		if _, err := Push(testCtx(t), run, st, PushOptions{}); err == nil || !strings.Contains(err.Error(), "cannot name") {
			t.Errorf("job name %q: %v", name, err)
		}
		if err := PushRecord(testCtx(t), run, st); err == nil {
			t.Errorf("PushRecord with job name %q succeeded", name)
		}
	}
}

func TestPushRecordAlone(t *testing.T) {
	run := newRun(t, t.TempDir(), "job-1")
	st := newS3Store(t, srv, srv.NewBucket(t), "", S3Options{})
	if err := PushRecord(testCtx(t), run, st); err != nil {
		t.Fatal(err)
	}
	recs, err := ListRuns(testCtx(t), st)
	if err != nil || len(recs) != 1 || recs[0].Status != StatusCompleted {
		t.Errorf("%v %v", recs, err)
	}
}
