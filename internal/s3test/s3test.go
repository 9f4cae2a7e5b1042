// Package s3test runs a real S3 server, the Versity S3 Gateway (versitygw)
// with its posix backend, for tests that need one.
//
// One server per test:
//
//	func TestUpload(t *testing.T) {
//		srv := s3test.Start(t) // stopped in t.Cleanup
//		srv.Bucket(t, "data")
//		srv.SetEnv(t) // AWS_* variables for code under test that uses the default chain
//		...
//	}
//
// One server per test package (cheaper; give each test its own bucket, e.g.
// with NewBucket):
//
//	var srv *s3test.Server
//
//	func TestMain(m *testing.M) {
//		s, stop, err := s3test.StartMain()
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		srv = s
//		code := m.Run()
//		stop()
//		os.Exit(code)
//	}
//
// versitygw must be installed: on PATH, in $(go env GOPATH)/bin, or named by
// $JOBRUN_VERSITYGW. Without it Start fails the test (it does not skip);
// install it with the command in InstallCommand, or run
// .ci/install-test-servers.sh.
//
// The server listens on a free 127.0.0.1 port, keeps its objects as plain
// files under Dir (Dir/<bucket>/<key>) and its own log in LogFile. Stop,
// Kill and Restart let tests cut the server off mid-transfer and bring it
// back on the same port with the same data.
//
// What versitygw v1.8.0 (posix backend) does, as far as tests here show:
//   - ETags are quoted hex MD5s; a multipart object's is the MD5 of the
//     parts' binary MD5s, "-N" appended, as on AWS. Parts other than the
//     last must be at least 5 MiB (EntityTooSmall otherwise).
//   - Listing is in byte order ("train.manifest" before "train/x"),
//     MaxKeys and continuation tokens work, CommonPrefixes with a delimiter.
//   - Unlike AWS, a key cannot be both an object and a "directory" of other
//     keys: with a/b/c stored, PUT a/b fails with 409
//     ExistingObjectIsDirectory; with a/b stored, PUT a/b/c fails with 409
//     ObjectParentIsFile. "d/" (empty) works as a directory marker.
//   - Bucket names follow AWS's rules (3-63 characters, lower case, ...).
//   - Besides the buckets, Dir holds .vgwlocks/ and, per bucket,
//     .sgwtmp/multipart/ for parts of unfinished multipart uploads; neither
//     shows in listings.
//   - Checksums: over plain HTTP this SDK version sends none by default, and
//     then HeadObject (ChecksumMode enabled) returns none; with
//     ChecksumAlgorithm set (x-amz-checksum-crc32 sent) it stores and
//     returns it.
//   - On SIGTERM it waits for requests in flight (see Stop).
//   - Errors a test can provoke: 404 NoSuchBucket and NoSuchKey; 403
//     AccessDenied for a NewUser account on the root's buckets; 403
//     InvalidAccessKeyId for unknown keys, SignatureDoesNotMatch for a
//     wrong secret; 400 AuthorizationHeaderMalformed (the expected region
//     in its message and <Region>) when a client signs for another region
//     than WithRegion's. HEAD answers carry no body, so the SDK reports
//     only their status there.
//   - A bare *io.PipeReader as a PutObject/UploadPart body fails with
//     SignatureDoesNotMatch: smithy-go sends pipe bodies chunked, without
//     the Content-Length it signed. Wrap it (struct{ io.Reader }{pr}) and,
//     over plain HTTP, sign it as UNSIGNED-PAYLOAD
//     (v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware): otherwise
//     the SDK reads the whole stream to hash it and then fails ("request
//     stream is not seekable").
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jobrun/jobrun/internal/testproc"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// InstallCommand installs the versitygw version this package is tested with.
const InstallCommand = "GOFLAGS= go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// BinaryEnv, when set, names the versitygw binary to run.
const BinaryEnv = "JOBRUN_VERSITYGW"

// Region is the region the server runs in and clients sign for, unless
// WithRegion says otherwise.
const Region = "us-east-1"

const (
	readyTimeout = 10 * time.Second // from exec to answering
	stopTimeout  = 5 * time.Second  // SIGTERM, then SIGKILL
	opTimeout    = 5 * time.Minute  // for one helper call (Put, Get, ...)

	// PartSize is the part size PutFile uses; files larger than it are
	// uploaded with a multipart upload.
	PartSize = 8 << 20
)

// Server is a running (or stopped) versitygw.
type Server struct {
	// Endpoint is the server's URL, http://127.0.0.1:PORT.
	Endpoint string
	// AccessKey and SecretKey are the root account's credentials, random
	// per server.
	AccessKey string
	SecretKey string
	// Region is the server's region: "us-east-1" unless WithRegion.
	Region string
	// Dir is the posix backend's root: Dir/<bucket>/<key> are the objects.
	Dir string
	// LogFile receives versitygw's stdout and stderr (appended to on
	// Restart).
	LogFile string

	addr       string // 127.0.0.1:PORT
	bin        string
	iamDir     string // versitygw --iam-dir: users made by NewUser
	healthPath string

	mu   sync.Mutex
	proc *testproc.Process // nil when stopped

	clientOnce sync.Once
	client     *s3.Client
}

// Option changes how Start and StartMain run the server.
type Option func(*Server)

// WithRegion runs the server in region (versitygw --region) instead of
// us-east-1. Server.Region, Client and Env then use it too; a client that
// signs for another region gets 400 AuthorizationHeaderMalformed, whose
// message reads `...; the region "us-east-1" is wrong; expecting
// "eu-west-1"` and whose body has <Region>eu-west-1</Region> (versitygw
// sends no x-amz-bucket-region header). Only ListBuckets (GET /) also
// accepts us-east-1.
func WithRegion(region string) Option {
	return func(s *Server) { s.Region = region }
}

// Start starts a server for the test and stops it in t.Cleanup. It fails the
// test (t.Fatal) if versitygw is not installed or does not come up.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := newServer(t.TempDir(), t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.startFresh(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("s3test: versitygw log %s ends with:\n%s", s.LogFile, s.logTail())
		}
	})
	return s
}

// StartMain starts a server outside any test, for TestMain. The returned
// function stops it and removes its data and log directories; call it
// after m.Run.
func StartMain(opts ...Option) (*Server, func(), error) {
	data, err := os.MkdirTemp("", "s3test-data-")
	if err != nil {
		return nil, nil, err
	}
	logs, err := os.MkdirTemp("", "s3test-log-")
	if err != nil {
		os.RemoveAll(data)
		return nil, nil, err
	}
	cleanup := func() {
		os.RemoveAll(data)
		os.RemoveAll(logs)
	}
	s, err := newServer(data, logs, opts)
	if err == nil {
		err = s.startFresh()
	}
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return s, func() { s.Stop(); cleanup() }, nil
}

func newServer(dataDir, logDir string, opts []Option) (*Server, error) {
	bin, err := findBinary()
	if err != nil {
		return nil, err
	}
	iamDir := filepath.Join(logDir, "iam")
	if err := os.Mkdir(iamDir, 0o700); err != nil {
		return nil, fmt.Errorf("s3test: %w", err)
	}
	s := &Server{
		AccessKey:  "s3test" + randHex(7),
		SecretKey:  randHex(20),
		Region:     Region,
		Dir:        dataDir,
		LogFile:    filepath.Join(logDir, "versitygw.log"),
		bin:        bin,
		iamDir:     iamDir,
		healthPath: "/_s3test_health_" + randHex(8), // an impossible bucket name
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// findBinary looks for versitygw in $JOBRUN_VERSITYGW, on PATH, then in
// GOPATH/bin.
func findBinary() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("s3test: %s=%s: %w", BinaryEnv, p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	var tried []string
	for _, dir := range gopathBins() {
		p := filepath.Join(dir, "versitygw")
		tried = append(tried, p)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("s3test: versitygw not found on PATH nor as %s; install it with:\n\t%s\n(or run .ci/install-test-servers.sh)",
		strings.Join(tried, ", "), InstallCommand)
}

// gopathBins lists GOBIN and every GOPATH entry's bin directory.
func gopathBins() []string {
	var dirs []string
	gobin, gopath := os.Getenv("GOBIN"), os.Getenv("GOPATH")
	if gobin == "" && gopath == "" {
		// The go command knows GOPATH and GOBIN from go env -w too.
		if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
			lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
			if len(lines) == 2 {
				gobin, gopath = lines[0], lines[1]
			}
		}
	}
	if gobin != "" {
		dirs = append(dirs, gobin)
	}
	for _, p := range filepath.SplitList(gopath) {
		if p != "" {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	return dirs
}

// startFresh picks a free port and starts the server there, trying again on
// another port if the one picked was taken in between.
func (s *Server) startFresh() error {
	var err error
	for range 5 {
		var port int
		port, err = freePort()
		if err != nil {
			return err
		}
		s.addr = fmt.Sprintf("127.0.0.1:%d", port)
		s.Endpoint = "http://" + s.addr
		if err = s.launch(); err == nil {
			return nil
		}
		if !errors.Is(err, testproc.ErrExited) {
			return err
		}
	}
	return err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("s3test: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// launch starts versitygw on s.addr and waits until it answers.
func (s *Server) launch() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return errors.New("s3test: server already running")
	}
	logf, err := os.OpenFile(s.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("s3test: %w", err)
	}
	defer logf.Close() // the child has its own copy
	fmt.Fprintf(logf, "=== s3test: starting versitygw on %s at %s\n", s.addr, time.Now().Format(time.RFC3339Nano))

	cmd := exec.Command(s.bin,
		"--port", s.addr,
		"--region", s.Region,
		"--health", s.healthPath,
		"--iam-dir", s.iamDir, // internal IAM, for NewUser; the root account works as without it
		"--quiet",      // no per-request lines
		"--keep-alive", // without it every response closes the connection: 2-3x slower
		"posix", s.Dir)
	// Credentials go in the environment, not on the command line (ps).
	cmd.Env = append(cleanEnv(),
		"ROOT_ACCESS_KEY_ID="+s.AccessKey,
		"ROOT_SECRET_ACCESS_KEY="+s.SecretKey,
	)
	cmd.Stdout = logf
	cmd.Stderr = logf
	p, err := testproc.Start(cmd)
	if err != nil {
		return fmt.Errorf("s3test: starting %s: %w", s.bin, err)
	}

	if err := s.waitReady(p); err != nil {
		p.Terminate(0)
		return fmt.Errorf("s3test: versitygw on %s: %w\nlog %s:\n%s", s.addr, err, s.LogFile, s.logTail())
	}
	s.proc = p
	return nil
}

// cleanEnv is the test process's environment without the variables
// versitygw reads as settings (VGW_*, ROOT_*, LOGFILE, WEBHOOK).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "VGW_"), strings.HasPrefix(k, "ROOT_"),
			k == "LOGFILE", k == "WEBHOOK":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// waitReady polls the (per-server, random) health path until it answers
// 200, the process exits, or readyTimeout passes. The random path makes
// sure it is this process that answers, not another server that got the
// port.
func (s *Server) waitReady(p *testproc.Process) error {
	client := &http.Client{Timeout: time.Second}
	url := s.Endpoint + s.healthPath
	deadline := time.Now().Add(readyTimeout)
	for {
		if err := p.Exited(); err != nil {
			return err
		}
		resp, err := client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("health check answered %s", resp.Status)
			}
			return fmt.Errorf("not ready after %v: %v", readyTimeout, err)
		}
		select {
		case <-p.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop stops the server: SIGTERM, then SIGKILL after 5 s. versitygw's
// graceful shutdown waits for requests in flight, so a Stop during a
// transfer takes the full 5 s and then cuts it; use Kill to cut a transfer
// at once. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.stop(stopTimeout)
}

// Kill stops the server with SIGKILL at once, as a crash would.
func (s *Server) Kill() {
	s.stop(0)
}

func (s *Server) stop(grace time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	s.proc.Terminate(grace)
	s.proc = nil
}

// Restart stops the server if it runs, then starts it again on the same
// port with the same data directory and credentials.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	// The port is normally free again at once; retry briefly in case
	// something else grabbed it while the server was down.
	if err := testproc.Retry(s.launch, readyTimeout); err != nil {
		t.Fatalf("s3test: restart: %v", err)
	}
}

// Running reports whether the server process is up (as far as Stop, Kill
// and Restart know).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return false
	}
	return s.proc.Exited() == nil
}

func (s *Server) logTail() string { return testproc.Tail(s.LogFile) }

// Client returns an S3 client for the server: path-style addressing,
// static root credentials, the server's region, the SDK's default retryer. It
// ignores AWS_* variables and ~/.aws entirely. The client is shared (it is
// safe for concurrent use) and keeps working across Restart.
func (s *Server) Client(t testing.TB) *s3.Client {
	t.Helper()
	s.clientOnce.Do(func() {
		s.client = s3.New(s3.Options{
			Region:       s.Region,
			BaseEndpoint: aws.String(s.Endpoint),
			UsePathStyle: true,
			Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		})
	})
	return s.client
}

// Env returns the variables that point aws-sdk-go-v2's default chain (and so
// a jobrun subprocess) at the server: credentials, region and
// AWS_ENDPOINT_URL_S3. AWS_SESSION_TOKEN is set empty so that a token in the
// caller's environment is not sent along with these keys. Append it to
// os.Environ() for exec.Cmd.Env.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_SESSION_TOKEN=",
		"AWS_REGION=" + s.Region,
		"AWS_ENDPOINT_URL_S3=" + s.Endpoint,
	}
}

// SetEnv sets Env's variables for the test (t.Setenv: not in parallel
// tests).
func (s *Server) SetEnv(t testing.TB) {
	t.Helper()
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// NewUser creates an account in the server's internal IAM (versitygw admin
// create-user, role "user": it may not create buckets) and returns its
// keys. The account owns nothing and no bucket policy or ACL names it, so
// every request it makes to another account's bucket (ListObjectsV2,
// GetObject, HeadObject, ...) fails with 403 AccessDenied. It survives
// Restart.
func (s *Server) NewUser(t testing.TB) (accessKey, secretKey string) {
	t.Helper()
	accessKey, secretKey = "s3testuser"+randHex(6), randHex(20)
	ctx, cancel := opContext()
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin,
		"admin", "--endpoint-url", s.Endpoint, "--region", s.Region,
		"create-user", "--access", accessKey, "--secret", secretKey, "--role", "user")
	// The admin's keys go in the environment, not on the command line (ps);
	// the new user's are throwaway.
	cmd.Env = append(cleanEnv(),
		"ADMIN_ACCESS_KEY_ID="+s.AccessKey,
		"ADMIN_SECRET_ACCESS_KEY="+s.SecretKey,
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("s3test: versitygw admin create-user: %v\n%s", err, out)
	}
	return accessKey, secretKey
}

func opContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), opTimeout)
}

// Bucket creates a bucket.
func (s *Server) Bucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := opContext()
	defer cancel()
	if _, err := s.Client(t).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("s3test: create bucket %q: %v", name, err)
	}
}

var bucketSeq atomic.Uint64

// NewBucket creates a bucket with a fresh name derived from the test's name
// and returns the name: for tests sharing one server.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	base := strings.Trim(b.String(), "-")
	suffix := fmt.Sprintf("-%d", bucketSeq.Add(1))
	if max := 63 - len(suffix); len(base) > max {
		base = strings.TrimRight(base[:max], "-")
	}
	if base == "" {
		base = "bucket"
	}
	name := base + suffix
	if len(name) < 3 {
		name = "b-" + name
	}
	s.Bucket(t, name)
	return name
}

// Put uploads body with one PutObject and returns the ETag as the server
// sent it (quoted, e.g. "\"9e107d9d372bb6826bd81d3542a419d6\"").
func (s *Server) Put(t testing.TB, bucket, key string, body []byte) (etag string) {
	t.Helper()
	ctx, cancel := opContext()
	defer cancel()
	out, err := s.Client(t).PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String(key),
		Body:   bytes.NewReader(body),
	})
	if err != nil {
		t.Fatalf("s3test: put s3://%s/%s: %v", bucket, key, err)
	}
	return aws.ToString(out.ETag)
}

// PutFile uploads a local file: with one streaming PutObject up to PartSize,
// as a multipart upload of PartSize parts above.
func (s *Server) PutFile(t testing.TB, bucket, key, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("s3test: %v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatalf("s3test: %v", err)
	}
	ctx, cancel := opContext()
	defer cancel()
	client := s.Client(t)
	if fi.Size() <= PartSize {
		_, err := client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        aws.String(bucket),
			Key:           aws.String(key),
			Body:          f,
			ContentLength: aws.Int64(fi.Size()),
		})
		if err != nil {
			t.Fatalf("s3test: put %s to s3://%s/%s: %v", path, bucket, key, err)
		}
		return
	}
	if err := multipartUpload(ctx, client, bucket, key, f, fi.Size()); err != nil {
		t.Fatalf("s3test: multipart upload of %s to s3://%s/%s: %v", path, bucket, key, err)
	}
}

func multipartUpload(ctx context.Context, client *s3.Client, bucket, key string, f io.ReaderAt, size int64) (err error) {
	created, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(bucket),
		Key:    aws.String(key),
	})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, _ = client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(bucket), Key: aws.String(key), UploadId: created.UploadId,
			})
		}
	}()
	var parts []types.CompletedPart
	for off, n := int64(0), int32(1); off < size; off, n = off+PartSize, n+1 {
		length := min(PartSize, size-off)
		out, err := client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:        aws.String(bucket),
			Key:           aws.String(key),
			UploadId:      created.UploadId,
			PartNumber:    aws.Int32(n),
			Body:          io.NewSectionReader(f, off, length),
			ContentLength: aws.Int64(length),
		})
		if err != nil {
			return fmt.Errorf("part %d: %w", n, err)
		}
		parts = append(parts, types.CompletedPart{
			ETag:              out.ETag,
			PartNumber:        aws.Int32(n),
			ChecksumCRC32:     out.ChecksumCRC32,
			ChecksumCRC32C:    out.ChecksumCRC32C,
			ChecksumCRC64NVME: out.ChecksumCRC64NVME,
			ChecksumSHA1:      out.ChecksumSHA1,
			ChecksumSHA256:    out.ChecksumSHA256,
		})
	}
	_, err = client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(bucket),
		Key:             aws.String(key),
		UploadId:        created.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	return err
}

// Get downloads an object.
func (s *Server) Get(t testing.TB, bucket, key string) []byte {
	t.Helper()
	ctx, cancel := opContext()
	defer cancel()
	out, err := s.Client(t).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("s3test: get s3://%s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("s3test: get s3://%s/%s: reading body: %v", bucket, key, err)
	}
	return b
}

// List returns every key under prefix (ListObjectsV2, all pages), in the
// server's order (lexicographic by UTF-8 bytes).
func (s *Server) List(t testing.TB, bucket, prefix string) []string {
	t.Helper()
	ctx, cancel := opContext()
	defer cancel()
	keys := []string{}
	p := s3.NewListObjectsV2Paginator(s.Client(t), &s3.ListObjectsV2Input{
		Bucket: aws.String(bucket),
		Prefix: aws.String(prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("s3test: list s3://%s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
