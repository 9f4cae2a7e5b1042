package channels

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/jobrun/jobrun/s3uri"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Open implements Opener: it streams o's bytes from the cache when the
// cache holds o, otherwise from S3 with a GET pinned by If-Match (when
// o.ETag is set; o.Size must then be set too), resuming at the offset
// reached when the stream breaks. Nothing is held in memory beyond the
// caller's read buffer, and nothing is written to the cache. Errors are
// *S3Error (ErrObjectChanged when the ETag no longer matches).
func (s *Stager) Open(ctx context.Context, o Object) (io.ReadCloser, error) {
	return s.open(ctx, o, 0, -1)
}

// CachedBlob implements CachedBlobber: the cache's read-only blob of o, when the
// cache holds it.
func (s *Stager) CachedBlob(o Object) (string, bool) {
	if s.Cache == nil {
		return "", false
	}
	return s.Cache.lookup(o)
}

// KeepBlob implements BlobKeeper: a complete download of o at path (a
// FastFile spill file, on the cache's file system) becomes o's cached
// blob by a hard link, read-only like every blob. Failing only costs a
// download next time.
func (s *Stager) KeepBlob(path string, o Object) {
	if s.Cache == nil || !cacheable(o) {
		return
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != o.Size {
		return
	}
	blob := s.Cache.blobPath(o)
	if os.Chmod(path, 0o444) != nil || os.MkdirAll(filepath.Dir(blob), 0o755) != nil {
		return
	}
	_ = os.Link(path, blob) // an existing blob holds the same bytes
}

// OpenRange implements RangeOpener (FastFile's random reads and resumed
// downloads): n bytes of o from offset off, like Open otherwise. A range
// reaching past the end of a pinned object (o.ETag set) stops at its end.
func (s *Stager) OpenRange(ctx context.Context, o Object, off, n int64) (io.ReadCloser, error) {
	if o.ETag != "" {
		n = min(n, o.Size-off)
	}
	if off < 0 || n <= 0 {
		return io.NopCloser(eofReader{}), nil
	}
	return s.open(ctx, o, off, n)
}

// open reads n bytes of o from off; n < 0 means to the end.
func (s *Stager) open(ctx context.Context, o Object, off, n int64) (io.ReadCloser, error) {
	if rc, ok := s.openCached(o, off, n); ok {
		return rc, nil
	}
	if s.S3 == nil {
		return nil, fmt.Errorf("%s: no S3 client", s3uri.Format(o.Bucket, o.Key))
	}
	r := &objectReader{s: s, ctx: ctx, o: o, off: off, end: -1, ranged: n >= 0}
	switch {
	case n >= 0:
		r.end = off + n
	case o.ETag != "":
		r.end = o.Size
	}
	if err := r.get(); err != nil {
		return nil, err
	}
	return r, nil
}

// openCached opens the cache's copy of o, if there is one.
func (s *Stager) openCached(o Object, off, n int64) (io.ReadCloser, bool) {
	if s.Cache == nil {
		return nil, false
	}
	p, ok := s.Cache.lookup(o)
	if !ok {
		return nil, false
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, false // evicted meanwhile
	}
	if off == 0 && n < 0 {
		return f, true
	}
	if n < 0 {
		n = o.Size - off
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, off, n), f}, true
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// objectReader reads one object (or a range of it) from S3, resuming
// after a broken stream.
type objectReader struct {
	s        *Stager
	ctx      context.Context
	o        Object
	body     io.ReadCloser // nil between a break and the resume
	off      int64         // the next byte to deliver
	end      int64         // where to stop; -1 until the first response says
	ranged   bool          // a range was asked for: always send Range
	failures int           // consecutive breaks without progress
}

// get issues the GET for the bytes from r.off on.
func (r *objectReader) get() error {
	in := getInput(r.o, 0, 0, false)
	if r.ranged || r.off > 0 {
		last := ""
		if r.end >= 0 {
			last = strconv.FormatInt(r.end-1, 10)
		}
		in.Range = aws.String("bytes=" + strconv.FormatInt(r.off, 10) + "-" + last)
	}
	out, err := r.s.S3.GetObject(r.ctx, in, r.s.s3Opts, skipResponseChecksum)
	uri := s3uri.Format(r.o.Bucket, r.o.Key)
	if err != nil {
		return explain(err, uri)
	}
	if e := trimETag(aws.ToString(out.ETag)); r.o.ETag != "" && e != "" && e != r.o.ETag {
		out.Body.Close()
		return explain(fmt.Errorf("%w: ETag %s, pinned as %s", ErrObjectChanged, e, r.o.ETag), uri)
	}
	if r.end < 0 {
		r.end = r.off + aws.ToInt64(out.ContentLength)
	}
	if cl := out.ContentLength; r.o.ETag != "" && cl != nil && *cl >= 0 && *cl != r.end-r.off {
		// net/http delivers exactly Content-Length bytes or fails, so this
		// checks the whole stream's length against the pinned size.
		out.Body.Close()
		return explain(fmt.Errorf("%w: %d bytes sent for the %d asked for at offset %d (size pinned as %d)",
			ErrObjectChanged, *cl, r.end-r.off, r.off, r.o.Size), uri)
	}
	r.body = out.Body
	return nil
}

func (r *objectReader) Read(p []byte) (int, error) {
	for {
		if r.off >= r.end {
			return 0, io.EOF
		}
		if r.body == nil {
			if err := r.get(); err != nil {
				return 0, err
			}
		}
		n, err := r.body.Read(p[:min(int64(len(p)), r.end-r.off)])
		r.off += int64(n)
		if err == nil || (err == io.EOF && r.off >= r.end) {
			return n, nil
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		r.body.Close()
		r.body = nil
		if n > 0 {
			r.failures = 0
			return n, nil // resume on the next Read
		}
		if err := r.pause(err); err != nil {
			return 0, err
		}
	}
}

// pause waits before resuming a broken stream, or gives up.
func (r *objectReader) pause(cause error) error {
	r.failures++
	if r.ctx.Err() != nil {
		return context.Cause(r.ctx)
	}
	if r.failures > maxStreamRetries {
		return fmt.Errorf("%s: reading at offset %d: %w", s3uri.Format(r.o.Bucket, r.o.Key), r.off, cause)
	}
	return waitOrDone(r.ctx, resumeBackoff(r.failures))
}

// Close ends the stream. A body read to its last byte is first read to
// EOF, which lets net/http reuse the connection.
func (r *objectReader) Close() error {
	if r.body == nil {
		return nil
	}
	if r.off >= r.end {
		var b [1]byte
		_ = expectBodyEnd(r.body, b[:])
	}
	err := r.body.Close()
	r.body = nil
	return err
}

var _ Opener = (*Stager)(nil)
