package artifacts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

const (
	// streamBuffers bounds PutStream's memory: parts being filled or sent.
	// One archive is one stream, so this is also its upload concurrency:
	// 8 parts of 8 MiB keep about 7 requests in flight for 64 MiB.
	streamBuffers = 8
	// requestTimeout bounds one part or single upload, so that a link that
	// goes silent fails the request (and it is tried again) instead of
	// hanging the upload.
	requestTimeout = 10 * time.Minute
	abortTimeout   = 30 * time.Second
)

// unsignedPayload: the body is protected by its CRC-32C header, which is
// signed and which S3 checks, so the SDK need not hash every byte with
// SHA-256 for the signature as well (it does on plain-http endpoints, a
// third read of the data and the biggest CPU cost of an upload).
var unsignedPayload = s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)

// Put uploads an open regular file: one PutObject up to the part size, a
// multipart upload above it. The data is streamed from the file, never
// held in memory; S3 checks each request's CRC-32C, and a HEAD afterwards
// checks the object's size and whole-object checksum.
func (s *S3Store) Put(ctx context.Context, key string, f *os.File) (Object, error) {
	info, err := f.Stat()
	if err != nil {
		return Object{}, err
	}
	size := info.Size()
	var crc uint32
	if size <= s.o.PartSize {
		crc, err = s.putSingle(ctx, key, io.NewSectionReader(f, 0, size), nil)
	} else {
		crc, err = s.putFileParts(ctx, key, f, size)
	}
	if err != nil {
		return Object{}, fmt.Errorf("uploading %s: %w", s.URI(key), err)
	}
	return s.verify(ctx, key, size, crc)
}

// verify checks what S3 holds against what was sent. A server that keeps
// no checksum gets the size checked only; each request's body was checked
// on arrival all the same.
func (s *S3Store) verify(ctx context.Context, key string, size int64, crc uint32) (Object, error) {
	obj, err := s.Stat(ctx, key)
	if err != nil {
		return Object{}, fmt.Errorf("verifying the upload: %w", err)
	}
	if obj.Size != size {
		return obj, fmt.Errorf("verifying %s: %d bytes stored, %d sent", s.URI(key), obj.Size, size)
	}
	if want := encodeCRC(crc); obj.Checksum != "" && obj.Checksum != want {
		return obj, fmt.Errorf("verifying %s: CRC-32C %s stored, %s sent", s.URI(key), obj.Checksum, want)
	}
	return obj, nil
}

// putSingle sends body with one PutObject and returns its CRC-32C.
func (s *S3Store) putSingle(ctx context.Context, key string, body *io.SectionReader, meta map[string]string) (uint32, error) {
	release, err := s.slot(ctx)
	if err != nil {
		return 0, err
	}
	defer release()
	crc, err := sectionCRC(ctx, body, 0, body.Size())
	if err != nil {
		return 0, err
	}
	err = s.retry(ctx, func(ctx context.Context) error {
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(s.bucket), Key: aws.String(s.key(key)), Metadata: meta,
			Body: io.NewSectionReader(body, 0, body.Size()), ContentLength: aws.Int64(body.Size()),
			ChecksumCRC32C: aws.String(encodeCRC(crc)),
		}, unsignedPayload)
		return err
	})
	return crc, err
}

// slot waits for room among the uploads in flight.
func (s *S3Store) slot(ctx context.Context) (release func(), err error) {
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// partSizeFor keeps a size within S3's 10,000 parts, in whole MiB.
func (s *S3Store) partSizeFor(size int64) int64 {
	const mib = 1 << 20
	need := (size + maxParts - 1) / maxParts
	need = (need + mib - 1) / mib * mib
	return max(s.o.PartSize, need)
}

// multipart is one multipart upload in progress.
type multipart struct {
	s     *S3Store
	key   string
	id    *string
	mu    sync.Mutex // guards the slices below, filled as parts finish
	parts []types.CompletedPart
	crcs  []uint32
	sizes []int64
}

// create starts a multipart upload. The request is not cut off by ctx: a
// create that reached the server but whose answer was dropped would leave
// an upload nobody knows the ID of, so it runs to its end (it is short) and
// a cancellation is honoured right after, by aborting it.
func (s *S3Store) create(ctx context.Context, key string, meta map[string]string) (m *multipart, err error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	out, err := s.client.CreateMultipartUpload(cctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.key(key)), Metadata: meta,
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c, ChecksumType: types.ChecksumTypeFullObject,
	})
	if err != nil {
		return nil, err
	}
	m = &multipart{s: s, key: key, id: out.UploadId}
	if err := context.Cause(ctx); err != nil {
		m.abortOnError(ctx, &err)
		return nil, err
	}
	return m, nil
}

// putFileParts uploads a file in parts read straight from it, in
// parallel, and returns the whole file's CRC-32C.
func (s *S3Store) putFileParts(ctx context.Context, key string, f io.ReaderAt, size int64) (crc uint32, err error) {
	m, err := s.create(ctx, key, nil)
	if err != nil {
		return 0, err
	}
	defer m.abortOnError(ctx, &err)
	partSize := s.partSizeFor(size)
	g, gctx := newGroup(ctx)
	for num, off := int32(1), int64(0); off < size; num, off = num+1, off+partSize {
		release, err := s.slot(gctx)
		if err != nil {
			break // the group failed or ctx ended; Wait says why
		}
		g.Go(func() error {
			defer release()
			return m.upload(gctx, num, io.NewSectionReader(f, off, min(partSize, size-off)))
		})
	}
	if err := errors.Join(g.Wait(), ctx.Err()); err != nil {
		return 0, err
	}
	return m.complete(ctx)
}

// upload sends one part, its CRC-32C in the header for S3 to check.
func (m *multipart) upload(ctx context.Context, num int32, body *io.SectionReader) error {
	crc, err := sectionCRC(ctx, body, 0, body.Size())
	if err != nil {
		return err
	}
	var etag *string
	err = m.s.retry(ctx, func(ctx context.Context) error {
		out, err := m.s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String(m.s.bucket), Key: aws.String(m.s.key(m.key)), UploadId: m.id,
			PartNumber: aws.Int32(num), Body: io.NewSectionReader(body, 0, body.Size()),
			ContentLength: aws.Int64(body.Size()), ChecksumCRC32C: aws.String(encodeCRC(crc)),
		}, unsignedPayload)
		if err == nil {
			etag = out.ETag
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("part %d: %w", num, err)
	}
	m.add(types.CompletedPart{PartNumber: aws.Int32(num), ETag: etag, ChecksumCRC32C: aws.String(encodeCRC(crc))}, crc, body.Size())
	return nil
}

func (m *multipart) add(p types.CompletedPart, crc uint32, size int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := int(*p.PartNumber) - 1
	for len(m.parts) <= i {
		m.parts, m.crcs, m.sizes = append(m.parts, types.CompletedPart{}), append(m.crcs, 0), append(m.sizes, 0)
	}
	m.parts[i], m.crcs[i], m.sizes[i] = p, crc, size
}

// complete finishes the upload, giving S3 the whole object's CRC-32C to
// check against what it assembled.
func (m *multipart) complete(ctx context.Context) (uint32, error) {
	crc := partCRCs(m.crcs, m.sizes)
	_, err := m.s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(m.s.bucket), Key: aws.String(m.s.key(m.key)), UploadId: m.id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: m.parts},
		ChecksumCRC32C:  aws.String(encodeCRC(crc)), ChecksumType: types.ChecksumTypeFullObject,
	})
	if err != nil {
		return 0, fmt.Errorf("completing the multipart upload: %w", err)
	}
	return crc, nil
}

// abortOnError aborts the upload when *err is set, under a fresh context:
// a cancelled upload must still not leave its parts behind. If the server
// is gone the parts stay until the next Push removes them.
func (m *multipart) abortOnError(ctx context.Context, err *error) {
	if *err == nil {
		return
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	if aerr := m.s.abort(actx, m.s.key(m.key), m.id); aerr != nil {
		m.s.o.Log.Warn("could not abort a multipart upload; the next push of this run removes it", "err", aerr)
	}
}

// PutStream uploads a stream of unknown length: parts are filled from r
// into a few buffers and sent while the next ones fill, so memory stays at
// streamBuffers parts whatever the length. A stream that fits in one part
// goes up with a single PutObject.
func (s *S3Store) PutStream(ctx context.Context, key string, r io.Reader, o StreamOptions) (Object, error) {
	partSize := s.partSizeFor(o.SizeHint + o.SizeHint/100 + DefaultPartSize)
	first := make([]byte, partSize)
	n, err := io.ReadFull(r, first)
	var crc uint32
	var size int64
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		size = int64(n)
		crc, err = s.putSingle(ctx, key, io.NewSectionReader(bytes.NewReader(first[:n]), 0, size), o.Meta)
	case err == nil:
		crc, size, err = s.putStreamParts(ctx, key, first, r, o.Meta)
	}
	if err != nil {
		return Object{}, fmt.Errorf("uploading %s: %w", s.URI(key), err)
	}
	return s.verify(ctx, key, size, crc)
}

// putStreamParts uploads first and the rest of r as parts of first's size.
func (s *S3Store) putStreamParts(ctx context.Context, key string, first []byte, r io.Reader, meta map[string]string) (crc uint32, size int64, err error) {
	m, err := s.create(ctx, key, meta)
	if err != nil {
		return 0, 0, err
	}
	defer m.abortOnError(ctx, &err)
	bufs := make(chan []byte, streamBuffers)
	bufs <- first
	for range streamBuffers - 1 {
		bufs <- nil // allocated when first needed
	}
	g, gctx := newGroup(ctx)
	size, err = m.sendStream(gctx, g, r, bufs, len(first))
	if err := errors.Join(err, g.Wait(), ctx.Err()); err != nil {
		return 0, 0, err
	}
	crc, err = m.complete(ctx)
	return crc, size, err
}

// sendStream reads r into buffers and starts a part upload for each.
func (m *multipart) sendStream(ctx context.Context, g *group, r io.Reader, bufs chan []byte, partSize int) (int64, error) {
	var size int64
	for num := int32(1); ; num++ {
		if num > maxParts {
			return size, fmt.Errorf("the stream is longer than %d parts of %d bytes", maxParts, partSize)
		}
		buf, err := nextBuffer(ctx, bufs, partSize)
		if err != nil {
			return size, err
		}
		n := len(buf)
		if num > 1 { // the first buffer was filled by PutStream
			n, err = io.ReadFull(r, buf)
		}
		if n == 0 {
			return size, ignoreEOF(err)
		}
		size += int64(n)
		release, serr := m.s.slot(ctx)
		if serr != nil {
			return size, serr
		}
		g.Go(func() error {
			defer func() { release(); bufs <- buf }()
			return m.upload(ctx, num, io.NewSectionReader(bytes.NewReader(buf[:n]), 0, int64(n)))
		})
		if err != nil {
			return size, ignoreEOF(err)
		}
	}
}

// nextBuffer waits for a free buffer: at most streamBuffers exist.
func nextBuffer(ctx context.Context, bufs chan []byte, size int) ([]byte, error) {
	select {
	case buf := <-bufs:
		if buf == nil {
			buf = make([]byte, size)
		}
		return buf, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func ignoreEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}

// retry calls f up to Attempts times while its errors are transient,
// backing off 1 s, 2 s, 4 s... between tries. Each try has its own time
// limit.
func (s *S3Store) retry(ctx context.Context, f func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		err := f(rctx)
		cancel()
		if err == nil || attempt >= s.o.Attempts || !transient(ctx, err) {
			return err
		}
		select {
		case <-time.After(min(time.Second<<(attempt-1), 15*time.Second)):
		case <-ctx.Done():
			return err
		}
	}
}

// storeFailing reports whether an error (after the retries) says the
// store is unreachable or failing, as opposed to one file's problem.
func storeFailing(err error) bool {
	var oe *smithy.OperationError
	if !errors.As(err, &oe) || errors.Is(err, context.Canceled) {
		return false
	}
	code := httpStatus(err)
	return code == 0 || code >= 500
}

// transient: network errors, 5xx, throttling and timeouts are worth
// another try; other 4xx answers (a bad checksum because the file changed,
// access denied, no such bucket) are not, and neither is a cancelled
// upload.
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	switch code := httpStatus(err); {
	case code == 0, code >= 500:
		return true
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return true
	}
	return false
}
