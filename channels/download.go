package channels

import (
	"context"
	"errors"
	"fmt"
	"github.com/jobrun/jobrun/s3uri"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Download tuning defaults.
const (
	// DefaultConcurrency is the number of GETs of whole objects in flight.
	// Many small objects need many at once to hide each request's
	// latency; 64 matches s5cmd's best setting for them here.
	DefaultConcurrency = 64
	// DefaultPartConcurrency is the number of ranged GETs of big objects'
	// parts in flight, beside those. A few streams already fill the link;
	// more only cost CPU: with 64 instead of 16 (in parts of 16 MiB),
	// staging 2 × 1 GiB from a local server took 1.4 instead of 1.3
	// CPU-seconds (scheduling, and the writers queueing on the file's
	// lock).
	DefaultPartConcurrency = 16
	// PartsPerObject is how many ranged GETs a big object is cut into by
	// default, and DefaultPartSize their least size. Each GET costs more
	// than its headers: staging 2 × 1 GiB from a local server took 1.05
	// CPU-seconds in parts of 16 MiB, 0.97 in parts of 128 MiB (8 per
	// object), 0.88 in parts of 256 MiB; 8 per object keeps 8 streams on
	// one object, which a link where each stream is slow (AWS) needs.
	PartsPerObject        = 8
	DefaultPartSize int64 = 16 << 20
	// DefaultMultipartThreshold is the size from which an object is
	// fetched as parallel ranged GETs.
	DefaultMultipartThreshold int64 = 64 << 20

	// dlBufSize is each whole-object worker's copy buffer, partBufSize
	// each part worker's (bigger: fewer, larger reads and writes): memory
	// is bounded by Concurrency × dlBufSize + PartConcurrency ×
	// partBufSize, whatever the objects' sizes.
	dlBufSize   = 256 << 10
	partBufSize = 1 << 20
	// maxStreamRetries bounds how often one ranged read is resumed after
	// its stream broke without progress in between (the SDK's retryer
	// only covers the request, not the body).
	maxStreamRetries = 5
)

// fetchObj is one object being downloaded.
type fetchObj struct {
	o    Object
	dst  string   // the path in the staging directory; "" to fill the cache only
	tmp  string   // the file being written
	f    *os.File // shared by the parts of a big object; nil for whole-object jobs
	left atomic.Int32
	bad  atomic.Bool
}

// fetchJob is one GET: a whole object, or the range [off, end) of a big
// one (part).
type fetchJob struct {
	obj      *fetchObj
	off, end int64
	part     bool
}

// transfer downloads one channel's objects with a pool of workers.
type transfer struct {
	s      *Stager
	ctx    context.Context
	cancel context.CancelCauseFunc
	prog   *progress
	dirs   dirMaker

	mu  sync.Mutex
	err error
}

// fetchAll brings every object src yields to its Rel below dir (or into
// the cache only when dir is ""), with cache hits hard-linked. It
// creates the directories the objects need. On error no temp file is
// left behind; complete cache blobs stay.
func (s *Stager) fetchAll(ctx context.Context, src objectSource, dir string, prog *progress) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	t := &transfer{s: s, ctx: ctx, cancel: cancel, prog: prog, dirs: dirMaker{root: dir, modes: &s.dirModes}}
	jobs := make(chan fetchJob, s.concurrency())
	parts := make(chan fetchJob, s.partConcurrency())
	var wg sync.WaitGroup
	t.start(&wg, jobs, s.concurrency(), dlBufSize)
	t.start(&wg, parts, s.partConcurrency(), partBufSize)
	err := src(func(o Object) bool { return t.dispatch(o, jobs, parts) })
	if err != nil {
		t.fail(Object{}, err)
	}
	close(jobs)
	close(parts)
	wg.Wait()
	if t.err != nil {
		return t.err
	}
	return context.Cause(ctx) // the caller's cancellation, if any
}

// start runs n workers taking jobs, each with a copy buffer of bufSize
// made on its first download: a channel without big objects never
// allocates the part workers' buffers, and a warm rerun none at all.
func (t *transfer) start(wg *sync.WaitGroup, jobs <-chan fetchJob, n, bufSize int) {
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.work(jobs, bufSize)
		}()
	}
}

// dispatch turns an object into jobs: a big object not in the cache
// becomes one job per part, sharing a preallocated file, queued for the
// part workers. It returns false to stop the source once the transfer has
// failed or was cancelled.
func (t *transfer) dispatch(o Object, jobs, parts chan<- fetchJob) bool {
	if t.ctx.Err() != nil {
		return false
	}
	t.prog.listed(o.Size)
	obj := &fetchObj{o: o}
	if t.dirs.root != "" {
		var err error
		if obj.dst, err = t.dirs.path(o.Rel); err != nil {
			t.fail(o, err)
			return false
		}
	}
	if o.Size < t.s.multipartThreshold() || t.s.inCache(o) {
		jobs <- fetchJob{obj: obj, off: 0, end: o.Size}
		return true
	}
	if err := t.openTarget(obj); err != nil {
		t.fail(o, err)
		return false
	}
	t.sendParts(obj, parts)
	return true
}

// dirMaker creates the directories below root that objects need, each
// once (only the dispatching goroutine uses it).
type dirMaker struct {
	root  string
	made  map[string]bool
	modes *modeCheck
}

// path returns rel's path below root, creating its parent directories.
func (d *dirMaker) path(rel string) (string, error) {
	if err := d.mkdirs(parentDir(rel)); err != nil {
		return "", err
	}
	return filepath.Join(d.root, filepath.FromSlash(rel)), nil
}

func (d *dirMaker) mkdirs(dir string) error {
	if dir == "" || d.made[dir] {
		return nil
	}
	if err := d.mkdirs(parentDir(dir)); err != nil {
		return err
	}
	p := filepath.Join(d.root, filepath.FromSlash(dir))
	if err := os.Mkdir(p, 0o755); err != nil {
		return err
	}
	if d.made == nil {
		d.made = map[string]bool{}
	}
	d.made[dir] = true
	return d.modes.fix(nil, p, 0o755)
}

// sendParts queues every part of a big object. All of them are sent even
// after a failure (workers skip them), so that the last one to finish
// always closes and removes the file.
func (t *transfer) sendParts(obj *fetchObj, jobs chan<- fetchJob) {
	part := t.s.partSize(obj.o.Size)
	n := (obj.o.Size + part - 1) / part
	obj.left.Store(int32(n))
	for off := int64(0); off < obj.o.Size; off += part {
		jobs <- fetchJob{obj: obj, off: off, end: min(off+part, obj.o.Size), part: true}
	}
}

func (t *transfer) work(jobs <-chan fetchJob, bufSize int) {
	buf := &lazyBuf{size: bufSize}
	for j := range jobs {
		if j.part {
			t.doPart(j, buf)
			continue
		}
		if t.ctx.Err() != nil {
			continue // drain: the transfer has failed or was cancelled
		}
		if err := t.doWhole(j.obj, buf); err != nil {
			t.fail(j.obj.o, err)
		}
	}
}

// lazyBuf is a worker's copy buffer, made when first needed.
type lazyBuf struct {
	size int
	b    []byte
}

func (l *lazyBuf) get() []byte {
	if l.b == nil {
		l.b = make([]byte, l.size)
	}
	return l.b
}

// fail records the first error and stops the transfer.
func (t *transfer) fail(o Object, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil || t.ctx.Err() != nil {
		return // a consequence of an earlier failure or of the caller's cancel
	}
	var s3e *S3Error
	if !errors.As(err, &s3e) && o.Key != "" {
		err = fmt.Errorf("%s: %w", s3uri.Format(o.Bucket, o.Key), err)
	}
	t.err = err
	t.cancel(err)
}

// doWhole fetches a whole object with one GET (resumed if it breaks), or
// links it from the cache.
func (t *transfer) doWhole(obj *fetchObj, buf *lazyBuf) error {
	if done, err := t.fromCache(obj); done || err != nil {
		return err
	}
	if err := t.openTarget(obj); err != nil {
		return err
	}
	err := t.s.getRange(t.ctx, obj.o, obj.f, 0, obj.o.Size, false, buf.get(), t.prog)
	return t.finish(obj, err)
}

// doPart fetches one part of a big object; the last part to end finishes
// the object.
func (t *transfer) doPart(j fetchJob, buf *lazyBuf) {
	var err error
	if t.ctx.Err() != nil || j.obj.bad.Load() {
		err = context.Canceled
	} else {
		err = t.s.getRange(t.ctx, j.obj.o, j.obj.f, j.off, j.end, true, buf.get(), t.prog)
	}
	if err != nil {
		j.obj.bad.Store(true)
		t.fail(j.obj.o, err)
	}
	if j.obj.left.Add(-1) > 0 {
		return
	}
	if j.obj.bad.Load() {
		err = errors.New("a part failed")
	}
	if err := t.finish(j.obj, err); err != nil && !j.obj.bad.Load() {
		t.fail(j.obj.o, err)
	}
}

// fromCache links a cached object into place. done is false on a miss.
func (t *transfer) fromCache(obj *fetchObj) (done bool, err error) {
	c := t.s.Cache
	if c == nil {
		return false, nil
	}
	blob, ok := c.lookup(obj.o)
	if !ok {
		return false, nil
	}
	if obj.dst != "" {
		if err := linkOrCopy(blob, obj.dst); errors.Is(err, errBlobGone) {
			return false, nil // evicted by another process just now
		} else if err != nil {
			return false, err
		}
	}
	t.prog.cached(obj.o.Size)
	return true, nil
}

// openTarget creates the file an object is downloaded into, read-only
// from the start: a cache temp file, or (without a cache) the final path
// itself. Big objects get their space reserved; small ones are written
// in one go and need no extra syscall.
func (t *transfer) openTarget(obj *fetchObj) error {
	var err error
	if t.s.Cache != nil {
		obj.f, obj.tmp, err = t.s.Cache.newTemp(obj.o)
	} else {
		obj.f, err = os.OpenFile(obj.dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o444)
		obj.tmp = obj.dst
	}
	if err != nil {
		return err
	}
	err = t.s.fileModes.fix(obj.f, "", 0o444)
	if err == nil && obj.o.Size >= t.s.multipartThreshold() {
		if err = preallocate(obj.f, obj.o.Size); err != nil {
			err = fmt.Errorf("reserving %d bytes for %s: %w", obj.o.Size, s3uri.Format(obj.o.Bucket, obj.o.Key), err)
		}
	}
	if err != nil {
		discard(obj.f, obj.tmp)
	}
	return err
}

// discard closes and removes a file being written ("" for an unnamed
// one, which vanishes on close).
func discard(f *os.File, name string) {
	f.Close()
	if name != "" {
		os.Remove(name)
	}
}

// finish puts a downloaded file in place — into the cache and linked to
// dst, or (no cache) left where it was written — and closes it. With
// err != nil it discards the file instead.
func (t *transfer) finish(obj *fetchObj, err error) error {
	if err == nil && t.s.Cache != nil {
		err = t.commit(obj) // before Close: an unnamed file is linked through its descriptor
	}
	if cerr := obj.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if obj.tmp != "" {
			os.Remove(obj.tmp)
		}
		return err
	}
	t.prog.object()
	t.s.downloaded.Add(obj.o.Size)
	return nil
}

// commit links the downloaded file into the staging directory and then
// into the cache: in that order the blob never has a single link while
// this run needs it, so a concurrent eviction cannot take it.
func (t *transfer) commit(obj *fetchObj) error {
	if obj.dst != "" {
		if err := linkTemp(obj.f, obj.tmp, obj.o.Size, obj.dst); err != nil {
			return err
		}
	}
	return t.s.Cache.commit(obj.f, obj.tmp, obj.o)
}

// linkTemp links a file being written (named tmp, or unnamed when tmp is
// "") to dst, copying it where a link is not possible.
func linkTemp(f *os.File, tmp string, size int64, dst string) error {
	if tmp != "" {
		return linkOrCopy(tmp, dst)
	}
	err := linkUnnamed(f, dst)
	if err == nil || errors.Is(err, fs.ErrExist) || errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return copyFrom(io.NewSectionReader(f, 0, size), dst)
}

// getRange writes the object's bytes [off, end) into f at their offsets
// with a GET that sends If-Match, so a changed object fails with
// ErrObjectChanged instead of mixing versions. A stream that breaks is
// resumed where it stopped. ranged false (the whole object from 0) sends
// no Range header until a resume needs one.
func (s *Stager) getRange(ctx context.Context, o Object, f io.WriterAt, off, end int64, ranged bool, buf []byte, prog *progress) error {
	if off >= end {
		return nil
	}
	for failures := 0; ; {
		n, err := s.getOnce(ctx, o, f, off, end, ranged || off > 0, buf, prog)
		off += n
		if err == nil {
			return nil
		}
		if n > 0 {
			failures = 0
		}
		failures++
		if !isStreamError(err) || ctx.Err() != nil || failures > maxStreamRetries {
			return errors.Join(err, context.Cause(ctx))
		}
		if err := waitOrDone(ctx, resumeBackoff(failures)); err != nil {
			return err
		}
	}
}

// streamError is a failure reading a response body: worth resuming.
type streamError struct{ err error }

func (e *streamError) Error() string { return fmt.Sprintf("reading the response: %v", e.err) }
func (e *streamError) Unwrap() error { return e.err }

func isStreamError(err error) bool {
	var se *streamError
	return errors.As(err, &se)
}

// getOnce issues one GET for [off, end) and copies its body into f. It
// returns the bytes written; err is a *streamError when the body broke.
func (s *Stager) getOnce(ctx context.Context, o Object, f io.WriterAt, off, end int64, ranged bool, buf []byte, prog *progress) (int64, error) {
	out, err := s.S3.GetObject(ctx, getInput(o, off, end, ranged), s.s3Opts)
	if err != nil {
		return 0, explain(err, s3uri.Format(o.Bucket, o.Key)) // the SDK has retried what can be retried
	}
	defer out.Body.Close()
	if e := trimETag(aws.ToString(out.ETag)); o.ETag != "" && e != "" && e != o.ETag {
		err := fmt.Errorf("%w: ETag %s, listed as %s", ErrObjectChanged, e, o.ETag)
		return 0, explain(err, s3uri.Format(o.Bucket, o.Key))
	}
	var n int64
	for n < end-off {
		m, rerr := out.Body.Read(buf[:min(int64(len(buf)), end-off-n)])
		if m > 0 {
			if _, werr := f.WriteAt(buf[:m], off+n); werr != nil {
				return n, werr
			}
			n += int64(m)
			prog.add(int64(m))
		}
		if rerr == io.EOF && n < end-off {
			return n, &streamError{io.ErrUnexpectedEOF}
		}
		if rerr != nil && rerr != io.EOF {
			return n, &streamError{rerr}
		}
	}
	return n, expectBodyEnd(out.Body, buf)
}

// expectBodyEnd reads the end of a body whose bytes have all arrived:
// net/http reuses a connection only when its body was read to EOF, and
// without this every GET would dial a new one. More bytes than asked for
// mean the object is not the one listed.
func expectBodyEnd(body io.Reader, buf []byte) error {
	for {
		m, err := body.Read(buf[:1])
		if m > 0 {
			return fmt.Errorf("%w: the response is longer than the object's listed size", ErrObjectChanged)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return nil // the bytes are all here; only the connection is lost
		}
	}
}

// getInput is a GetObject request for [off, end), pinned to o's ETag (and
// version, when o has one).
func getInput(o Object, off, end int64, ranged bool) *s3.GetObjectInput {
	in := &s3.GetObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(o.Key)}
	if o.ETag != "" {
		in.IfMatch = aws.String(`"` + o.ETag + `"`)
	}
	if o.VersionID != "" {
		in.VersionId = aws.String(o.VersionID)
	}
	if ranged {
		in.Range = aws.String("bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(end-1, 10))
	}
	return in
}

// resumeBackoff is the pause before resuming a broken stream for the n-th time.
func resumeBackoff(n int) time.Duration {
	return min(100*time.Millisecond<<(n-1), 5*time.Second)
}

func waitOrDone(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// errBlobGone means a blob was removed between lookup and link.
var errBlobGone = errors.New("cache blob removed meanwhile")

// linkOrCopy hard-links blob to dst, copying it where a link is not
// possible (another file system, too many links).
func linkOrCopy(blob, dst string) error {
	err := os.Link(blob, dst)
	if err == nil {
		return nil
	}
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(blob); errors.Is(serr, os.ErrNotExist) {
			return errBlobGone
		}
		return err // dst's directory is missing: a bug, not a cache miss
	}
	return copyFile(blob, dst)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return errBlobGone
		}
		return err
	}
	defer in.Close()
	return copyFrom(in, dst)
}

// copyFrom writes r to the new read-only file dst.
func copyFrom(r io.Reader, dst string) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, r) // copy_file_range: a reflink where the file system can
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
	}
	return err
}
