package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3 defaults, chosen for a 1 GiB model in 100 files on a few cores: 16
// requests in flight keep a link busy, and 8 MiB parts streamed from disk
// keep memory small (parts are read twice from the page cache, never
// buffered, except for PutStream's bounded buffers).
const (
	DefaultConcurrency = 16
	DefaultPartSize    = 8 << 20
	DefaultAttempts    = 3
	maxParts           = 10000
	minPartSize        = 5 << 20 // S3's smallest part but the last
)

// S3Options tune an S3Store; zero values take the defaults.
type S3Options struct {
	// Concurrency bounds the uploads (whole files and parts together) in
	// flight at once.
	Concurrency int
	// PartSize is the part size of multipart uploads, and the size above
	// which a file is uploaded in parts. It grows for files that would
	// otherwise need more than 10,000 parts.
	PartSize int64
	// Attempts is how many times one part or file is tried, each try going
	// through the SDK's own retryer. The SDK retries transient errors of a
	// single request; this outer loop also covers what it gives up on
	// under load, such as an exhausted retry quota when many parts fail at
	// once.
	Attempts int
	// Log receives warnings; nil means slog.Default().
	Log *slog.Logger
}

// S3Store keeps objects below s3://bucket/prefix.
type S3Store struct {
	client *s3.Client
	bucket string
	prefix string
	o      S3Options
	slots  chan struct{} // one per upload request in flight
}

// NewS3Store opens s3://bucket/prefix through client.
func NewS3Store(client *s3.Client, uri string, o S3Options) (*S3Store, error) {
	bucket, prefix, err := ParseS3URI(uri)
	if err != nil {
		return nil, err
	}
	o = o.withDefaults()
	return &S3Store{
		client: withConnections(client, o.Concurrency),
		bucket: bucket, prefix: prefix, o: o,
		slots: make(chan struct{}, o.Concurrency),
	}, nil
}

func (o S3Options) withDefaults() S3Options {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.PartSize < minPartSize {
		o.PartSize = DefaultPartSize
	}
	if o.Attempts <= 0 {
		o.Attempts = DefaultAttempts
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// withConnections lets the SDK's HTTP client keep as many idle
// connections as there are uploads in flight (its default keeps 10 per
// host and would close and reopen the rest all the time). Any other HTTP
// client is the user's choice and is kept.
func withConnections(c *s3.Client, n int) *s3.Client {
	o := c.Options()
	bc, ok := o.HTTPClient.(*awshttp.BuildableClient)
	if !ok {
		return c
	}
	o.HTTPClient = bc.WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = max(t.MaxIdleConnsPerHost, n)
	})
	return s3.New(o)
}

func (s *S3Store) key(key string) string { return joinKey(s.prefix, key) }

// rel turns a full object key back into a store key.
func (s *S3Store) rel(full string) string {
	if s.prefix == "" {
		return full
	}
	return strings.TrimPrefix(full, s.prefix+"/")
}

// URI is s3://bucket/prefix/key.
func (s *S3Store) URI(key string) string {
	k := s.key(key)
	if strings.HasSuffix(key, "/") && k != "" {
		k += "/"
	}
	return "s3://" + joinKey(s.bucket, k)
}

func (s *S3Store) folder(prefix string) *string {
	p := s.key(prefix)
	if p != "" {
		p += "/"
	}
	return aws.String(p)
}

// List lists every object below prefix (all pages).
func (s *S3Store) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket), Prefix: s.folder(prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", s.URI(prefix), err)
		}
		for _, o := range page.Contents {
			out = append(out, Object{
				Key: s.rel(aws.ToString(o.Key)), Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified),
			})
		}
	}
	return out, nil
}

// Folders lists the common prefixes directly below prefix.
func (s *S3Store) Folders(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	base := aws.ToString(s.folder(prefix))
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket), Prefix: aws.String(base), Delimiter: aws.String("/"),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", s.URI(prefix), err)
		}
		for _, cp := range page.CommonPrefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), base), "/")
			if name != "" {
				out = append(out, name)
			}
		}
	}
	return out, nil
}

// Stat heads an object, asking for its checksum.
func (s *S3Store) Stat(ctx context.Context, key string) (Object, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.key(key)), ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return Object{}, fmt.Errorf("%s: %w", s.URI(key), notFound(err))
	}
	return Object{
		Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified),
		Checksum: wholeChecksum(aws.ToString(out.ChecksumCRC32C)), Meta: out.Metadata,
	}, nil
}

// wholeChecksum drops a composite checksum ("abc=-12", a checksum of the
// parts' checksums, written by other tools): it cannot be compared with a
// file's.
func wholeChecksum(c string) string {
	if strings.Contains(c, "-") {
		return ""
	}
	return c
}

// Open gets an object from offset. The SDK checks the object's checksum
// when it reads a whole object that has one.
func (s *S3Store) Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(key))}
	if offset > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	} else {
		in.ChecksumMode = types.ChecksumModeEnabled
	}
	out, err := s.client.GetObject(ctx, in)
	if offset > 0 && httpStatus(err) == http.StatusRequestedRangeNotSatisfiable {
		return io.NopCloser(strings.NewReader("")), nil // at or past the end: nothing new yet
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.URI(key), notFound(err))
	}
	return out.Body, nil
}

// Delete deletes an object.
func (s *S3Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(key))})
	if err != nil && !errors.Is(notFound(err), fs.ErrNotExist) {
		return fmt.Errorf("deleting %s: %w", s.URI(key), err)
	}
	return nil
}

// abortUploads aborts the multipart uploads left below prefix by earlier
// attempts that could not abort their own (the server was gone), so that
// no orphaned parts stay billed. It returns how many there were.
func (s *S3Store) abortUploads(ctx context.Context, prefix string) (int, error) {
	n := 0
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket), Prefix: s.folder(prefix)}
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return n, fmt.Errorf("listing unfinished uploads below %s: %w", s.URI(prefix), err)
		}
		for _, u := range out.Uploads {
			if err := s.abort(ctx, aws.ToString(u.Key), u.UploadId); err != nil {
				return n, err
			}
			n++
		}
		if !aws.ToBool(out.IsTruncated) {
			return n, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

func (s *S3Store) abort(ctx context.Context, fullKey string, id *string) error {
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(fullKey), UploadId: id,
	})
	if err != nil && !errors.Is(notFound(err), fs.ErrNotExist) {
		return fmt.Errorf("aborting the upload of s3://%s/%s: %w", s.bucket, fullKey, err)
	}
	return nil
}

// notFound makes a 404 match fs.ErrNotExist, keeping the SDK's error and
// its message.
func notFound(err error) error {
	if httpStatus(err) == http.StatusNotFound {
		return notFoundError{err}
	}
	return err
}

type notFoundError struct{ err error }

func (e notFoundError) Error() string   { return e.err.Error() }
func (e notFoundError) Unwrap() []error { return []error{fs.ErrNotExist, e.err} }

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
