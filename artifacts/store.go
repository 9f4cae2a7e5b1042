package artifacts

import (
	"context"
	"fmt"
	"github.com/jobrun/jobrun/s3uri"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jobrun/jobrun/awsconfig"
)

// Store is one place runs or checkpoints are kept: a local folder or an S3
// prefix. Keys are slash-separated paths below that place ("job/model/w.bin").
//
// Every method honours ctx. Writes are all-or-nothing: a reader sees the old
// object or the new one, never part of one (a temporary file renamed into
// place; a single PUT or a completed multipart upload, aborted on failure).
type Store interface {
	// URI is key's full address: "s3://bucket/prefix/key" or "/dir/key".
	// The empty key gives the store's own address.
	URI(key string) string
	// List returns every object below a folder prefix ("" or ending in
	// "/"), with sizes and modification times; nothing when there is none.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Folders returns the names of the folders directly below a folder
	// prefix ("" or ending in "/").
	Folders(ctx context.Context, prefix string) ([]string, error)
	// Stat describes one object, with its checksum where the store keeps
	// one. A missing object is an error matching fs.ErrNotExist.
	Stat(ctx context.Context, key string) (Object, error)
	// Open reads an object from a byte offset; an offset at or past the end
	// reads nothing. A missing object matches fs.ErrNotExist.
	Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error)
	// Put copies an open regular file to key and verifies the copy.
	Put(ctx context.Context, key string, f *os.File) (Object, error)
	// PutStream copies a stream of unknown length to key.
	PutStream(ctx context.Context, key string, r io.Reader, o StreamOptions) (Object, error)
	// Delete removes an object; a missing one is not an error.
	Delete(ctx context.Context, key string) error
}

// Object is what a Store holds under one key.
type Object struct {
	Key     string
	Size    int64
	ModTime time.Time
	// Checksum is the CRC-32C of the whole object, base64 as S3 writes it
	// (x-amz-checksum-crc32c); "" when unknown. Only Stat fills it.
	Checksum string
	// Meta is the user metadata stored with the object (S3 only).
	Meta map[string]string
}

// StreamOptions describe a PutStream.
type StreamOptions struct {
	// SizeHint is an upper bound of the stream's length, used to choose a
	// part size that stays within S3's 10,000 parts; 0 means small.
	SizeHint int64
	// Meta is stored with the object (S3 user metadata).
	Meta map[string]string
}

// OpenStore opens the place a URI names: s3://bucket/prefix through the AWS
// configuration aws selects, or a local folder (a path, or file:///path).
func OpenStore(ctx context.Context, uri string, aws awsconfig.Options) (Store, error) {
	if !strings.HasPrefix(uri, "s3://") {
		return NewLocalStore(strings.TrimPrefix(uri, "file://"))
	}
	client, _, err := awsconfig.S3Client(ctx, aws)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", uri, err)
	}
	return NewS3Store(client, uri, S3Options{})
}

// IsS3 reports whether an output or checkpoint URI is an S3 one.
func IsS3(uri string) bool { return strings.HasPrefix(uri, "s3://") }

// ParseS3URI splits s3://bucket/prefix into the bucket and the prefix
// without slashes at either end.
func ParseS3URI(uri string) (bucket, prefix string, err error) {
	bucket, prefix, err = s3uri.Parse(uri)
	return bucket, strings.Trim(prefix, "/"), err
}

// joinKey joins slash paths, ignoring empty ones.
func joinKey(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.Trim(p, "/"); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "/")
}

// localKey checks that a key can name a file below a local folder: no
// "..", no absolute path, no empty elements.
func localKey(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return "", fmt.Errorf("key %q cannot name a local file", key)
	}
	for _, el := range strings.Split(key, "/") {
		if el == "" || el == "." || el == ".." {
			return "", fmt.Errorf("key %q cannot name a local file", key)
		}
	}
	return filepath.FromSlash(key), nil
}
