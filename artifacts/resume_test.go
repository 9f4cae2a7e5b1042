package artifacts

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/jobrun/jobrun/internal/s3test"
)

// TestServerKilledMidUploadThenPushCompletes kills the S3 server while a
// push is under way: the push fails and says so in the local record;
// after a restart the next push sends what is missing, and what is stored
// then matches the run byte for byte, with no unfinished multipart upload
// left behind.
func TestServerKilledMidUploadThenPushCompletes(t *testing.T) {
	s := s3test.Start(t)
	s.Bucket(t, "runs")
	run := newRun(t, t.TempDir(), "job-1")
	smallFiles(t, filepath.Join(run, "model"), 100)
	for i := range 4 {
		randomFile(t, filepath.Join(run, "model", "big", "shard-"+string(rune('a'+i))), 40*mib, uint64(500+i))
	}
	ctx := testCtx(t)
	// One try per request: the killed server is not coming back during
	// this push.
	st := newS3Store(t, s, "runs", "jobs", S3Options{Attempts: 1, Concurrency: 4})

	var kill sync.Once
	_, err := Push(ctx, run, st, PushOptions{Progress: func(done, total int64) {
		if done > total/3 {
			kill.Do(s.Kill)
		}
	}})
	if err == nil {
		t.Fatal("the push succeeded although the server was killed")
	}
	t.Logf("push with the server killed: %v", err)
	rec, _ := ReadRecord(run)
	if rec.Upload == nil || rec.Upload.Error == "" || rec.Upload.CompletedAt != nil {
		t.Fatalf("local record after the failed push: %+v", rec.Upload)
	}

	s.Restart(t)
	if keys := s.List(t, "runs", "jobs/job-1/job.json"); len(keys) != 0 {
		t.Error("job.json was uploaded by the failed push")
	}
	t.Logf("unfinished multipart uploads after the restart: %d", countUploads(t, s, "runs"))
	st = newS3Store(t, s, "runs", "jobs", S3Options{})
	rec, err = Push(ctx, run, st, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second push: %d files, %d already there", rec.Upload.Files, rec.Upload.Unchanged)
	if rec.Upload.Unchanged == 0 {
		t.Error("the second push sent everything again; it should resume")
	}
	sameFiles(t, storeFiles(t, st, "job-1/"), localFiles(t, run))
	if n := countUploads(t, s, "runs"); n != 0 {
		t.Errorf("%d unfinished multipart uploads left", n)
	}
}

func countUploads(t *testing.T, s *s3test.Server, bucket string) int {
	t.Helper()
	out, err := s.Client(t).ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Uploads)
}
