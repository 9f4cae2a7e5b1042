package awsconfig

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jobrun/jobrun/internal/s3test"
)

// TestAgainstVersitygw: a client from the environment alone (as a jobrun
// subprocess would see it) reaches a local S3 server, path-style.
func TestAgainstVersitygw(t *testing.T) {
	isolate(t)
	srv := s3test.Start(t)
	srv.Bucket(t, "integration")
	srv.Put(t, "integration", "in/x.csv", []byte("1,2,3\n"))
	srv.SetEnv(t)

	client, cfg, err := S3Client(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "us-east-1" || !client.Options().UsePathStyle {
		t.Fatalf("region %q, path style %v", cfg.Region, client.Options().UsePathStyle)
	}
	ctx := context.Background()
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("integration"), Key: aws.String("in/x.csv")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(b) != "1,2,3\n" {
		t.Errorf("got %q", b)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("integration"), Key: aws.String("out/model.bin"), Body: bytes.NewReader([]byte{1, 2, 3}),
	}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Get(t, "integration", "out/model.bin"); !bytes.Equal(got, []byte{1, 2, 3}) {
		t.Errorf("uploaded %v", got)
	}

	// The SDK's endpoint rules use path style for IP hosts by themselves,
	// but not for localhost: there path style is what makes it work.
	local := strings.Replace(srv.Endpoint, "127.0.0.1", "localhost", 1)
	for _, tc := range []struct {
		pathStyle *bool
		wantOK    bool
	}{{nil, true}, {aws.Bool(false), false}} {
		client, _, err := S3Client(context.Background(), Options{Endpoint: local, PathStyle: tc.pathStyle})
		if err != nil {
			t.Fatal(err)
		}
		_, err = client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("integration"), Key: aws.String("in/x.csv")},
			func(o *s3.Options) { o.RetryMaxAttempts = 1 })
		if (err == nil) != tc.wantOK {
			t.Errorf("%s with PathStyle %s: err %v, want success %v", local, ptr(tc.pathStyle), err, tc.wantOK)
		}
	}
}
