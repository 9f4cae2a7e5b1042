package channels

// Pipe mode, as SageMaker documents it ("How Amazon SageMaker AI Provides
// Training Information", section Training Data): the channel's data comes
// through a named pipe /opt/ml/input/data/<channel>_<epoch>; the container
// reads <channel>_0 to EOF (or closes it early), then looks for
// <channel>_1, retrying until it exists, and so on. jobrun makes epoch N+1's
// FIFO only once epoch N's writer is done, so a reader that skips an epoch
// blocks, as on SageMaker (aws/sagemaker-tensorflow-extensions PR #19).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Pipe serves one Pipe-mode channel: a FIFO per epoch in Dir, each
// carrying every item of the channel in order.
type Pipe struct {
	// Dir is the host directory the container sees as /opt/ml/input/data.
	Dir     string
	Channel string
	// Objects are streamed in order, each read through Open.
	Objects []Object
	Open    Opener
	// Gzip decompresses each object on the fly: every object is its own
	// gzip stream (SageMaker's CompressionType "Gzip"). Inline item data
	// (manifest attribute values) is never decompressed.
	Gzip bool
	// RecordIO wraps each item in one RecordIO record (RecordWrapperType
	// "RecordIO").
	RecordIO bool
	// Items, when set, replaces Objects: it is called once per epoch and
	// yields the items in order. It is the hook for augmented manifests
	// (see ManifestItems); an error it returns ends Serve.
	Items func(yield func(PipeItem) bool) error
	// SpoolDir holds the temporary file a gzip object is decompressed to
	// when it is RecordIO-wrapped and larger than spoolMem: its
	// decompressed length must be known before its record starts. Empty
	// means os.TempDir(). The file is unlinked as soon as it is created.
	SpoolDir string
	// Log receives one line per epoch; nil discards.
	Log *slog.Logger

	spoolMem int // in-memory spool limit; 0 means defaultSpoolMem (tests lower it)
}

// PipeItem is one unit of a Pipe's stream, and one record when the
// channel is RecordIO-wrapped: the bytes of an object (Object set), or
// inline bytes (Data), such as an augmented-manifest attribute value.
type PipeItem struct {
	Object *Object
	Data   []byte
}

// ManifestItems adapts augmented-manifest lines to Pipe.Items. lines
// yields, for each JSON line in order, that line's selected attributes in
// AttributeNames order: for a "-ref" attribute, the Object its s3:// URI
// names; for any other, Data = AttributeBytes(the attribute's JSON). An
// Object that is not pinned (ETag "") may leave Size unset: it is measured
// while streaming (spooled when RecordIO-wrapped). lines is called once
// per epoch, so it must re-read the manifest each time:
//
//	p.Items = ManifestItems(func(yield func([]PipeItem) bool) error {
//		for rec, err := range parse(openManifest(), attributeNames) {
//			if err != nil {
//				return err
//			}
//			items := make([]PipeItem, len(rec.Values))
//			for i, v := range rec.Values {
//				if v.Ref != nil {
//					items[i].Object = v.Ref
//				} else {
//					items[i].Data = AttributeBytes(v.Raw)
//				}
//			}
//			if !yield(items) {
//				return nil
//			}
//		}
//		return nil
//	})
func ManifestItems(lines func(yield func([]PipeItem) bool) error) func(yield func(PipeItem) bool) error {
	return func(yield func(PipeItem) bool) error {
		return lines(func(attrs []PipeItem) bool {
			for _, it := range attrs {
				if !yield(it) {
					return false
				}
			}
			return true
		})
	}
}

// AttributeBytes is what Pipe mode streams for a non-ref attribute of an
// augmented manifest, given its JSON value: a string's text without the
// quotes (SageMaker's label "0" must reach an algorithm as 0), any other
// value's JSON text as written (numbers, objects such as Ground Truth
// annotations, arrays).
func AttributeBytes(raw []byte) []byte {
	var s string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return []byte(s)
	}
	return raw
}

const (
	defaultSpoolMem = 4 << 20
)

// FIFOPath is where epoch's FIFO of the channel lives under dir.
func FIFOPath(dir, channel string, epoch int) string {
	return filepath.Join(dir, fmt.Sprintf("%s_%d", channel, epoch))
}

// Prepare creates epoch 0's FIFO, so that it exists before the container
// starts. Serve calls it too; calling it first is optional.
func (p *Pipe) Prepare() error {
	return mkfifo(FIFOPath(p.Dir, p.Channel, 0))
}

// Serve streams the channel into <Dir>/<Channel>_0, then _1, and so on,
// until ctx is done, when it returns ctx.Err(). Each epoch it creates the
// FIFO (mode 0666: the container may run as another user), waits for the
// container to open it, streams every item, closes it (the container
// reads EOF), removes it and moves on to the next epoch. A container
// that closes its end early ends that epoch; that is not an error.
//
// Any other failure (an object that cannot be read, a corrupt gzip
// stream) ends Serve with the error. The FIFO's write end is then left
// open until ctx is done, so the container never mistakes a truncated
// epoch for a complete one; the caller should fail the job and cancel
// ctx.
func (p *Pipe) Serve(ctx context.Context) error {
	if p.Dir == "" || p.Channel == "" {
		return errors.New("pipe: Dir and Channel must be set")
	}
	for epoch := 0; ; epoch++ {
		if err := p.serveEpoch(ctx, epoch); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("pipe channel %q epoch %d: %w", p.Channel, epoch, err)
		}
	}
}

// serveEpoch runs one epoch: create, open, stream, close, remove.
func (p *Pipe) serveEpoch(ctx context.Context, epoch int) error {
	path := FIFOPath(p.Dir, p.Channel, epoch)
	if err := mkfifo(path); err != nil {
		return err
	}
	f, err := openFIFOWriter(ctx, path)
	if err != nil {
		os.Remove(path)
		return err
	}
	start := time.Now()
	n, err := p.streamTo(ctx, f)
	if errors.Is(err, syscall.EPIPE) {
		err = nil // the container closed its end: the epoch is over
	}
	if err != nil && ctx.Err() == nil {
		context.AfterFunc(ctx, func() { f.Close() })
		return err
	}
	f.Close()
	// The container holds its own descriptor; the name is no longer needed,
	// and removing it keeps a stale epoch from being opened by mistake.
	os.Remove(path)
	if err == nil {
		p.logEpoch(epoch, n, time.Since(start))
	}
	return err
}

func (p *Pipe) logEpoch(epoch int, n int64, d time.Duration) {
	if p.Log == nil {
		return
	}
	p.Log.Info("pipe epoch done", "channel", p.Channel, "epoch", epoch,
		"bytes", n, "seconds", d.Seconds())
}

// mkfifo creates a FIFO readable and writable by anyone, whatever the
// umask. An existing FIFO (from Prepare) is kept.
func mkfifo(path string) error {
	err := syscall.Mkfifo(path, 0o666)
	if errors.Is(err, fs.ErrExist) {
		if st, serr := os.Lstat(path); serr == nil && st.Mode()&fs.ModeNamedPipe != 0 {
			return os.Chmod(path, 0o666)
		}
	}
	if err != nil {
		return &fs.PathError{Op: "mkfifo", Path: path, Err: err}
	}
	return os.Chmod(path, 0o666)
}

// openFIFOWriter opens path for writing, which blocks until a reader opens
// it. On cancellation it opens the read end itself, which completes the
// pending open(2) so that no goroutine is left blocked in it.
func openFIFOWriter(ctx context.Context, path string) (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		done <- result{f, err}
	}()
	select {
	case r := <-done:
		if r.err == nil {
			growPipe(r.f)
		}
		return r.f, r.err
	case <-ctx.Done():
		if rf, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			defer rf.Close()
		}
		if r := <-done; r.f != nil {
			r.f.Close()
		}
		return nil, ctx.Err()
	}
}

// streamTo writes one epoch to the FIFO and returns the bytes written.
// Cancellation sets a past write deadline, which unblocks a write stuck on
// a container that stopped reading without closing.
func (p *Pipe) streamTo(ctx context.Context, f *os.File) (int64, error) {
	stop := context.AfterFunc(ctx, func() { f.SetWriteDeadline(time.Now()) })
	defer stop()
	cw := &countWriter{w: f}
	bw := bufio.NewWriterSize(cw, copyBufSize)
	s := p.newStreamer(bw)
	err := p.items(func(it PipeItem) error { return s.item(ctx, it) })
	if err == nil {
		err = bw.Flush()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil {
		err = ctx.Err()
	}
	return cw.n, err
}

// items calls fn for every item of the epoch, stopping at the first error.
func (p *Pipe) items(fn func(PipeItem) error) error {
	var err error
	yield := func(it PipeItem) bool {
		err = fn(it)
		return err == nil
	}
	if p.Items != nil {
		if ierr := p.Items(yield); err == nil {
			err = ierr
		}
		return err
	}
	for i := range p.Objects {
		if !yield(PipeItem{Object: &p.Objects[i]}) {
			break
		}
	}
	return err
}

// streamer writes items to one epoch's stream, reusing its buffers and
// gzip reader from item to item.
type streamer struct {
	p     *Pipe
	w     io.Writer
	rio   *RecordIOWriter
	buf   []byte
	gz    *gzip.Reader
	spool bytes.Buffer
}

func (p *Pipe) newStreamer(w io.Writer) *streamer {
	return &streamer{p: p, w: w, rio: NewRecordIOWriter(w), buf: make([]byte, copyBufSize)}
}

// item writes one item: inline bytes, or an object's.
func (s *streamer) item(ctx context.Context, it PipeItem) error {
	if it.Object == nil {
		if s.p.RecordIO {
			return s.rio.WriteRecord(it.Data)
		}
		_, err := s.w.Write(it.Data)
		return err
	}
	if err := s.object(ctx, *it.Object); err != nil {
		return fmt.Errorf("s3://%s/%s: %w", it.Object.Bucket, it.Object.Key, err)
	}
	return nil
}

// object streams one object, decompressed and wrapped as configured.
func (s *streamer) object(ctx context.Context, o Object) error {
	if s.p.Open == nil {
		return errors.New("pipe: no Opener")
	}
	rc, err := s.p.Open.Open(ctx, o)
	if err != nil {
		return err
	}
	defer rc.Close()
	r, size := io.Reader(rc), knownSize(o)
	if s.p.Gzip {
		if r, err = s.gunzip(rc); err != nil {
			return err
		}
		size = -1 // the decompressed length is unknown until the end
	}
	switch {
	case !s.p.RecordIO:
		return s.copyAll(r, size)
	case size >= 0:
		return s.rio.WriteRecordFrom(r, size)
	default:
		return s.recordUnsized(r)
	}
}

// knownSize is o's size when it can be trusted, -1 otherwise: like the
// Opener, jobrun trusts Size only on a pinned object (ETag set).
func knownSize(o Object) int64 {
	if o.ETag == "" || o.Size < 0 {
		return -1
	}
	return o.Size
}

// gunzip returns a reader of r's decompressed bytes (klauspost's gzip:
// about 1.6x the standard library's speed here). Concatenated gzip
// members decompress as one stream, like gunzip(1); an empty object is
// taken as empty content rather than as a broken stream.
func (s *streamer) gunzip(r io.Reader) (io.Reader, error) {
	if s.gz == nil {
		s.gz = new(gzip.Reader)
	}
	err := s.gz.Reset(r)
	if err == io.EOF {
		return bytes.NewReader(nil), nil
	}
	return s.gz, err
}

// copyAll copies r through the fixed buffer; when size is known, a
// different length is an error (the object changed or was cut short).
func (s *streamer) copyAll(r io.Reader, size int64) error {
	n, err := io.CopyBuffer(writerOnly{s.w}, r, s.buf)
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("read %d bytes, expected %d", n, size)
	}
	return err
}

// recordUnsized writes r as one record when its length is unknown until
// its end: up to spoolMem bytes stay in memory, anything longer goes
// through an unlinked temporary file, so memory stays bounded.
func (s *streamer) recordUnsized(r io.Reader) error {
	limit := int64(s.p.spoolMem)
	if limit <= 0 {
		limit = defaultSpoolMem
	}
	s.spool.Reset()
	n, err := io.CopyN(&s.spool, r, limit+1)
	if err == io.EOF {
		return s.rio.WriteRecordFrom(bytes.NewReader(s.spool.Bytes()), n)
	}
	if err != nil {
		return err
	}
	f, size, err := s.spoolToFile(r)
	if err != nil {
		return err
	}
	defer f.Close()
	return s.rio.WriteRecordFrom(f, size)
}

// spoolToFile writes the in-memory spool and the rest of r to a temporary
// file, unlinked at once so nothing is left behind, and rewinds it.
func (s *streamer) spoolToFile(r io.Reader) (*os.File, int64, error) {
	f, err := os.CreateTemp(s.p.SpoolDir, "jobrun-spool-*")
	if err != nil {
		return nil, 0, err
	}
	os.Remove(f.Name())
	n, err := s.spool.WriteTo(f)
	if err == nil {
		var m int64
		m, err = io.CopyBuffer(writerOnly{f}, r, s.buf)
		n += m
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, n, nil
}

// countWriter counts the bytes that reach the FIFO.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
