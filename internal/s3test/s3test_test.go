package s3test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func md5ETag(b []byte) string {
	sum := md5.Sum(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func TestBucketPutGetETag(t *testing.T) {
	srv := Start(t)
	if !strings.HasPrefix(srv.Endpoint, "http://127.0.0.1:") {
		t.Errorf("Endpoint = %q", srv.Endpoint)
	}
	srv.Bucket(t, "data")
	body := []byte("the quick brown fox jumps over the lazy dog")
	etag := srv.Put(t, "data", "dir/fox.txt", body)
	if want := md5ETag(body); etag != want {
		t.Errorf("PutObject ETag = %s, want %s (quoted MD5)", etag, want)
	}
	if got := srv.Get(t, "data", "dir/fox.txt"); !bytes.Equal(got, body) {
		t.Errorf("Get = %q, want %q", got, body)
	}

	ctx := ctxT(t)
	head, err := srv.Client(t).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("data"), Key: aws.String("dir/fox.txt")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.ETag) != etag {
		t.Errorf("HeadObject ETag = %s, PutObject's %s", aws.ToString(head.ETag), etag)
	}
	if aws.ToInt64(head.ContentLength) != int64(len(body)) {
		t.Errorf("ContentLength = %d", aws.ToInt64(head.ContentLength))
	}

	// The posix backend keeps the object as a plain file.
	onDisk, err := os.ReadFile(filepath.Join(srv.Dir, "data", "dir", "fox.txt"))
	if err != nil || !bytes.Equal(onDisk, body) {
		t.Errorf("file under Dir: %q, %v", onDisk, err)
	}

	// Errors are S3 errors.
	_, err = srv.Client(t).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String("missing")})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "NoSuchKey" {
		t.Errorf("GetObject of a missing key: %v, want NoSuchKey", err)
	}
	_, err = srv.Client(t).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("data")})
	if !errors.As(err, &apiErr) || !strings.HasPrefix(apiErr.ErrorCode(), "BucketAlready") {
		t.Errorf("CreateBucket twice: %v, want BucketAlreadyOwnedByYou/Exists", err)
	}

	// Empty object.
	if etag := srv.Put(t, "data", "empty", nil); etag != md5ETag(nil) {
		t.Errorf("empty object ETag = %s", etag)
	}
	if got := srv.Get(t, "data", "empty"); len(got) != 0 {
		t.Errorf("empty object body %q", got)
	}
}

func TestListPrefixAndPagination(t *testing.T) {
	srv := Start(t)
	srv.Bucket(t, "list")
	var want []string
	for i := range 25 {
		k := fmt.Sprintf("train/part-%03d.csv", i)
		want = append(want, k)
		srv.Put(t, "list", k, []byte(k))
	}
	for i := range 3 {
		srv.Put(t, "list", fmt.Sprintf("test/part-%03d.csv", i), []byte("x"))
	}
	srv.Put(t, "list", "train.manifest", []byte("m"))

	// By hand, 10 keys a page.
	ctx := ctxT(t)
	client := srv.Client(t)
	var got []string
	var pageSizes []int
	in := &s3.ListObjectsV2Input{Bucket: aws.String("list"), Prefix: aws.String("train/"), MaxKeys: aws.Int32(10)}
	for {
		out, err := client.ListObjectsV2(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		pageSizes = append(pageSizes, len(out.Contents))
		for _, o := range out.Contents {
			got = append(got, aws.ToString(o.Key))
			if aws.ToInt64(o.Size) != int64(len(aws.ToString(o.Key))) {
				t.Errorf("%s: size %d", aws.ToString(o.Key), aws.ToInt64(o.Size))
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		if out.NextContinuationToken == nil {
			t.Fatal("IsTruncated without NextContinuationToken")
		}
		in.ContinuationToken = out.NextContinuationToken
	}
	if !slices.Equal(pageSizes, []int{10, 10, 5}) {
		t.Errorf("page sizes %v, want [10 10 5]", pageSizes)
	}
	if !slices.Equal(got, want) {
		t.Errorf("keys:\n%v\nwant\n%v", got, want)
	}

	// The helper pages too.
	if got := srv.List(t, "list", "train/"); !slices.Equal(got, want) {
		t.Errorf("List(train/) = %v", got)
	}
	// A prefix that is not a "directory"; byte order puts '.' before '/'.
	if got := srv.List(t, "list", "train"); len(got) != 26 || got[0] != "train.manifest" {
		t.Errorf("List(train) = %v", got)
	}
	if got := srv.List(t, "list", "nothing/"); len(got) != 0 {
		t.Errorf("List(nothing/) = %v", got)
	}
	if got := srv.List(t, "list", ""); len(got) != 29 {
		t.Errorf("List() has %d keys, want 29", len(got))
	}

	// Delimiter listing.
	out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	var prefixes []string
	for _, p := range out.CommonPrefixes {
		prefixes = append(prefixes, aws.ToString(p.Prefix))
	}
	if !slices.Equal(prefixes, []string{"test/", "train/"}) || len(out.Contents) != 1 {
		t.Errorf("delimiter listing: prefixes %v, %d objects", prefixes, len(out.Contents))
	}
}

func writeRandomFile(t *testing.T, size int) (path string, sum [32]byte) {
	t.Helper()
	b := make([]byte, size)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, sha256.Sum256(b)
}

func TestMultipartUpload20MiB(t *testing.T) {
	srv := Start(t)
	srv.Bucket(t, "big")
	const size = 20 << 20
	path, sum := writeRandomFile(t, size)
	srv.PutFile(t, "big", "model/blob.bin", path)

	ctx := ctxT(t)
	head, err := srv.Client(t).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("big"), Key: aws.String("model/blob.bin")})
	if err != nil {
		t.Fatal(err)
	}
	if n := aws.ToInt64(head.ContentLength); n != size {
		t.Errorf("ContentLength = %d, want %d", n, size)
	}
	// A multipart ETag is "<md5 of the part MD5s>-<parts>": 8+8+4 MiB.
	if etag := aws.ToString(head.ETag); !strings.HasSuffix(etag, `-3"`) {
		t.Errorf("multipart ETag = %s, want a -3 suffix", etag)
	}
	if got := sha256.Sum256(srv.Get(t, "big", "model/blob.bin")); got != sum {
		t.Error("downloaded content differs")
	}
	// No upload left behind.
	uploads, err := srv.Client(t).ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	if len(uploads.Uploads) != 0 {
		t.Errorf("%d multipart uploads still open", len(uploads.Uploads))
	}
	if got := srv.List(t, "big", ""); !slices.Equal(got, []string{"model/blob.bin"}) {
		t.Errorf("List = %v", got)
	}

	// A small file goes up in one PutObject: a plain MD5 ETag.
	small, _ := writeRandomFile(t, 1000)
	srv.PutFile(t, "big", "small.bin", small)
	smallBody, _ := os.ReadFile(small)
	head, err = srv.Client(t).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("big"), Key: aws.String("small.bin")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.ETag) != md5ETag(smallBody) {
		t.Errorf("small file ETag %s, want %s", aws.ToString(head.ETag), md5ETag(smallBody))
	}
}

func TestRangedGet(t *testing.T) {
	srv := Start(t)
	srv.Bucket(t, "ranged")
	body := make([]byte, 1000)
	for i := range body {
		body[i] = byte(i % 251)
	}
	srv.Put(t, "ranged", "k", body)

	ctx := ctxT(t)
	for _, tc := range []struct {
		rng          string
		from, to     int // inclusive
		contentRange string
	}{
		{"bytes=100-199", 100, 199, "bytes 100-199/1000"},
		{"bytes=990-", 990, 999, "bytes 990-999/1000"},
		{"bytes=-10", 990, 999, "bytes 990-999/1000"},
		{"bytes=0-0", 0, 0, "bytes 0-0/1000"},
		{"bytes=900-5000", 900, 999, "bytes 900-999/1000"},
	} {
		out, err := srv.Client(t).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ranged"), Key: aws.String("k"), Range: aws.String(tc.rng)})
		if err != nil {
			t.Errorf("%s: %v", tc.rng, err)
			continue
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			t.Errorf("%s: %v", tc.rng, err)
			continue
		}
		if !bytes.Equal(got, body[tc.from:tc.to+1]) {
			t.Errorf("%s: got %d bytes, want bytes %d-%d", tc.rng, len(got), tc.from, tc.to)
		}
		if cr := aws.ToString(out.ContentRange); cr != tc.contentRange {
			t.Errorf("%s: Content-Range %q, want %q", tc.rng, cr, tc.contentRange)
		}
	}
	_, err := srv.Client(t).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ranged"), Key: aws.String("k"), Range: aws.String("bytes=5000-")})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidRange" {
		t.Errorf("range past the end: %v, want InvalidRange", err)
	}
}

func TestRestartKeepsData(t *testing.T) {
	srv := Start(t)
	srv.Bucket(t, "keep")
	etag := srv.Put(t, "keep", "a/b", []byte("persist me"))
	endpoint, dir := srv.Endpoint, srv.Dir
	client := srv.Client(t) // made before the restart, used after

	srv.Stop()
	if srv.Running() {
		t.Fatal("Running after Stop")
	}
	ctx := ctxT(t)
	_, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("keep")}, func(o *s3.Options) {
		o.RetryMaxAttempts = 1
	})
	if err == nil {
		t.Fatal("request to a stopped server succeeded")
	}
	srv.Stop() // idempotent

	srv.Restart(t)
	if !srv.Running() || srv.Endpoint != endpoint || srv.Dir != dir {
		t.Fatalf("after Restart: running %v, endpoint %s (was %s), dir %s (was %s)", srv.Running(), srv.Endpoint, endpoint, srv.Dir, dir)
	}
	if got := srv.Get(t, "keep", "a/b"); string(got) != "persist me" {
		t.Errorf("after restart: %q", got)
	}
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("keep"), Key: aws.String("a/b")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.ETag) != etag {
		t.Errorf("ETag after restart %s, before %s", aws.ToString(head.ETag), etag)
	}

	// Restart of a running server works too.
	srv.Restart(t)
	if got := srv.List(t, "keep", ""); !slices.Equal(got, []string{"a/b"}) {
		t.Errorf("List after second restart = %v", got)
	}
}

// TestKillMidDownload: a download in flight fails when the server is
// killed, and works again after a restart.
func TestKillMidDownload(t *testing.T) {
	srv := Start(t)
	srv.Bucket(t, "killed")
	path, sum := writeRandomFile(t, 32<<20)
	srv.PutFile(t, "killed", "blob", path)

	ctx := ctxT(t)
	out, err := srv.Client(t).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("killed"), Key: aws.String("blob")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	if _, err := io.ReadFull(out.Body, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	n, err := io.Copy(io.Discard, out.Body)
	t.Logf("after kill: read %d more bytes, err %v", n, err)
	if err == nil {
		// The rest may already sit in socket buffers; it must not be all.
		if n+1<<20 >= 32<<20 {
			t.Logf("note: the whole body (%d bytes) was buffered before the kill", n+1<<20)
		}
	}
	srv.Restart(t)
	if got := sha256.Sum256(srv.Get(t, "killed", "blob")); got != sum {
		t.Error("content differs after restart")
	}
}

// TestKillMidUpload: an upload in flight fails when the server is killed and
// leaves no object; after a restart the same upload succeeds.
func TestKillMidUpload(t *testing.T) {
	srv := Start(t)
	srv.Bucket(t, "upload")
	ctx := ctxT(t)
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		_, err := srv.Client(t).PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String("upload"), Key: aws.String("partial"),
			// Not the bare *io.PipeReader: smithy-go sends one chunked,
			// without the Content-Length it signed, and the server
			// answers SignatureDoesNotMatch.
			Body:          struct{ io.Reader }{pr},
			ContentLength: aws.Int64(8 << 20),
		}, func(o *s3.Options) { o.RetryMaxAttempts = 1 }, s3.WithAPIOptions(
			// Stream the body instead of reading it all to sign its hash.
			v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware,
		))
		errc <- err
	}()
	wrote := make(chan error, 1)
	go func() {
		_, err := pw.Write(make([]byte, 1<<20))
		wrote <- err
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case err := <-errc:
		t.Fatalf("upload ended before sending its body: %v", err)
	}
	srv.Kill()
	pw.CloseWithError(errors.New("server killed"))
	err := <-errc
	if err == nil {
		t.Fatal("upload succeeded although the server was killed")
	}
	t.Logf("upload error (expected): %v", err)
	srv.Restart(t)
	if got := srv.List(t, "upload", ""); len(got) != 0 {
		t.Errorf("after the killed upload: %v", got)
	}
	srv.Put(t, "upload", "partial", []byte("now complete"))
	if got := srv.Get(t, "upload", "partial"); string(got) != "now complete" {
		t.Errorf("got %q", got)
	}
}

func TestEnv(t *testing.T) {
	srv := Start(t)
	env := map[string]string{}
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	want := map[string]string{
		"AWS_ACCESS_KEY_ID":     srv.AccessKey,
		"AWS_SECRET_ACCESS_KEY": srv.SecretKey,
		"AWS_SESSION_TOKEN":     "",
		"AWS_REGION":            "us-east-1",
		"AWS_ENDPOINT_URL_S3":   srv.Endpoint,
	}
	for k, v := range want {
		if got, ok := env[k]; !ok || got != v {
			t.Errorf("Env %s = %q (present %v), want %q", k, got, ok, v)
		}
	}
	srv.SetEnv(t)
	for k, v := range want {
		if got := os.Getenv(k); got != v {
			t.Errorf("after SetEnv %s = %q, want %q", k, got, v)
		}
	}
}

func TestNewBucket(t *testing.T) {
	srv := Start(t)
	a := srv.NewBucket(t)
	b := srv.NewBucket(t)
	if a == b {
		t.Fatalf("same name twice: %s", a)
	}
	t.Run("Sub_Test With.Odd Characters and a very long name that goes past sixty-three", func(t *testing.T) {
		name := srv.NewBucket(t)
		if len(name) > 63 || strings.ContainsAny(name, "_ .ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Errorf("bad bucket name %q", name)
		}
		srv.Put(t, name, "k", []byte("v"))
	})
}

func TestStartMain(t *testing.T) {
	srv, stop, err := StartMain()
	if err != nil {
		t.Fatal(err)
	}
	srv.Bucket(t, "main")
	srv.Put(t, "main", "k", []byte("v"))
	if got := srv.Get(t, "main", "k"); string(got) != "v" {
		t.Errorf("got %q", got)
	}
	dir, logDir := srv.Dir, filepath.Dir(srv.LogFile)
	stop()
	if srv.Running() {
		t.Error("running after stop")
	}
	for _, d := range []string{dir, logDir} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s not removed: %v", d, err)
		}
	}
}

// fatalTB records Fatal instead of failing the real test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fatalTB) Skip(args ...any)                 { f.msg = "SKIPPED"; runtime.Goexit() }
func (f *fatalTB) Skipf(format string, args ...any) { f.msg = "SKIPPED"; runtime.Goexit() }
func (f *fatalTB) SkipNow()                         { f.msg = "SKIPPED"; runtime.Goexit() }

// TestMissingBinaryFails: without versitygw, Start fails (not skips) and
// says how to install it.
func TestMissingBinaryFails(t *testing.T) {
	empty := t.TempDir()
	t.Setenv(BinaryEnv, "")
	t.Setenv("PATH", empty)
	t.Setenv("GOPATH", empty)
	t.Setenv("GOBIN", "")
	t.Setenv("HOME", empty)
	ft := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(ft)
	}()
	<-done
	if ft.msg == "" || ft.msg == "SKIPPED" {
		t.Fatalf("Start without versitygw: %q, want a failure", ft.msg)
	}
	if !strings.Contains(ft.msg, InstallCommand) {
		t.Errorf("message does not give the install command:\n%s", ft.msg)
	}

	t.Setenv(BinaryEnv, filepath.Join(empty, "nope"))
	if _, err := findBinary(); err == nil || !strings.Contains(err.Error(), BinaryEnv) {
		t.Errorf("bad %s: %v", BinaryEnv, err)
	}
}

// TestPosixKeyConflicts pins down where the posix backend differs from AWS:
// a key cannot be both an object and a prefix of other keys.
func TestPosixKeyConflicts(t *testing.T) {
	srv := Start(t)
	srv.Bucket(t, "conflicts")
	srv.Put(t, "conflicts", "a/b/c", []byte("x"))
	ctx := ctxT(t)
	put := func(key string) error {
		_, err := srv.Client(t).PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String("conflicts"), Key: aws.String(key), Body: strings.NewReader("y"),
		})
		return err
	}
	var apiErr smithy.APIError
	if err := put("a/b"); !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ExistingObjectIsDirectory" {
		t.Errorf("PUT a/b over a/b/c: %v, want ExistingObjectIsDirectory", err)
	}
	if err := put("a/b/c/d"); !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ObjectParentIsFile" {
		t.Errorf("PUT a/b/c/d under a/b/c: %v, want ObjectParentIsFile", err)
	}
	// A directory marker is an ordinary (listed) key.
	srv.Put(t, "conflicts", "d/", nil)
	if got := srv.List(t, "conflicts", ""); !slices.Equal(got, []string{"a/b/c", "d/"}) {
		t.Errorf("List = %v", got)
	}
}

// apiErr returns err's S3 error code and message ("" when it has none).
func apiErr(err error) (code, msg string) {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode(), api.ErrorMessage()
	}
	return "", ""
}

func TestNewUserIsDenied(t *testing.T) {
	srv := Start(t)
	srv.Bucket(t, "data")
	srv.Put(t, "data", "k", []byte("v"))
	access, secret := srv.NewUser(t)
	user := s3.New(s3.Options{
		Region:       srv.Region,
		BaseEndpoint: aws.String(srv.Endpoint),
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: access, SecretAccessKey: secret}, nil
		}),
	})
	ctx := ctxT(t)
	_, err := user.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("data")})
	if code, msg := apiErr(err); code != "AccessDenied" {
		t.Errorf("ListObjectsV2 as the new user: %v, want AccessDenied", err)
	} else {
		t.Logf("ListObjectsV2: %s: %s", code, msg)
	}
	_, err = user.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String("k")})
	if code, _ := apiErr(err); code != "AccessDenied" {
		t.Errorf("GetObject as the new user: %v, want AccessDenied", err)
	}
	// The account survives a restart: still denied, not an unknown key
	// (InvalidAccessKeyId).
	srv.Restart(t)
	_, err = user.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("data")})
	if code, _ := apiErr(err); code != "AccessDenied" {
		t.Errorf("ListObjectsV2 as the new user after Restart: %v, want AccessDenied", err)
	}
}

func TestWithRegion(t *testing.T) {
	srv := Start(t, WithRegion("eu-west-1"))
	if srv.Region != "eu-west-1" {
		t.Fatalf("Region = %q", srv.Region)
	}
	srv.Bucket(t, "data") // the root client signs for eu-west-1
	srv.Put(t, "data", "k", []byte("v"))
	if !slices.Contains(srv.Env(), "AWS_REGION=eu-west-1") {
		t.Errorf("Env() = %q, want AWS_REGION=eu-west-1", srv.Env())
	}
	access, secret := srv.NewUser(t) // the admin API checks the region too
	if access == "" || secret == "" {
		t.Fatal("NewUser returned no keys")
	}

	wrong := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.Endpoint),
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey}, nil
		}),
	})
	_, err := wrong.ListObjectsV2(ctxT(t), &s3.ListObjectsV2Input{Bucket: aws.String("data")})
	code, msg := apiErr(err)
	if code != "AuthorizationHeaderMalformed" || !strings.Contains(msg, `expecting "eu-west-1"`) {
		t.Errorf("ListObjectsV2 signed for us-east-1: %v, want AuthorizationHeaderMalformed expecting eu-west-1", err)
	}
	t.Logf("ListObjectsV2 signed for us-east-1: %v", err)
	_, err = wrong.GetObject(ctxT(t), &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String("k")})
	if code, _ := apiErr(err); code != "AuthorizationHeaderMalformed" {
		t.Errorf("GetObject signed for us-east-1: %v, want AuthorizationHeaderMalformed", err)
	}
	_, err = wrong.HeadObject(ctxT(t), &s3.HeadObjectInput{Bucket: aws.String("data"), Key: aws.String("k")})
	t.Logf("HeadObject signed for us-east-1: %v", err)
}
