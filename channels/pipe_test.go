package channels

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memOpener serves objects from memory, keyed by Key.
type memOpener map[string][]byte

func (m memOpener) Open(ctx context.Context, o Object) (io.ReadCloser, error) {
	b, ok := m[o.Key]
	if !ok {
		return nil, fmt.Errorf("%s: no such key", o.Key)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// objectsOf lists m's objects in the order of keys.
func objectsOf(m memOpener, keys ...string) []Object {
	var objs []Object
	for _, k := range keys {
		objs = append(objs, Object{Bucket: "b", Key: k, ETag: "etag-" + k, Size: int64(len(m[k])), Rel: k})
	}
	return objs
}

// servePipe runs p.Serve in the background; the returned function cancels
// it and returns Serve's error.
func servePipe(t *testing.T, p *Pipe) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Serve did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// openEpoch waits for epoch's FIFO to appear, as a SageMaker container
// must, and opens it for reading.
func openEpoch(t *testing.T, dir, channel string, epoch int) *os.File {
	t.Helper()
	path := FIFOPath(dir, channel, epoch)
	deadline := time.Now().Add(5 * time.Second)
	for {
		f, err := os.Open(path)
		if err == nil {
			return f
		}
		if !errors.Is(err, fs.ErrNotExist) || time.Now().After(deadline) {
			t.Fatalf("opening %s: %v", path, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func readEpoch(t *testing.T, dir, channel string, epoch int) []byte {
	t.Helper()
	f := openEpoch(t, dir, channel, epoch)
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gz(t *testing.T, s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestPipeTwoEpochs(t *testing.T) {
	dir := t.TempDir()
	m := memOpener{"a": []byte("first,"), "b": []byte("second,"), "c": []byte("third")}
	p := &Pipe{Dir: dir, Channel: "train", Objects: objectsOf(m, "a", "b", "c"), Open: m}
	if err := p.Prepare(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(FIFOPath(dir, "train", 0))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&fs.ModeNamedPipe == 0 || st.Mode().Perm() != 0o666 {
		t.Fatalf("train_0 mode %v, want a FIFO with mode 0666", st.Mode())
	}
	stop := servePipe(t, p)
	for epoch := range 2 {
		if got := readEpoch(t, dir, "train", epoch); string(got) != "first,second,third" {
			t.Fatalf("epoch %d: %q", epoch, got)
		}
	}
	openEpoch(t, dir, "train", 2).Close() // epoch 2 is offered too
	if _, err := os.Stat(FIFOPath(dir, "train", 0)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("train_0 still there after its epoch: %v", err)
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Serve: %v", err)
	}
}

func TestPipeGzip(t *testing.T) {
	dir := t.TempDir()
	two := append(gz(t, "member one, "), gz(t, "member two")...)
	m := memOpener{"a.gz": gz(t, "alpha\n"), "b.gz": two, "empty.gz": nil}
	p := &Pipe{Dir: dir, Channel: "c", Objects: objectsOf(m, "a.gz", "empty.gz", "b.gz"), Open: m, Gzip: true}
	servePipe(t, p)
	if got := readEpoch(t, dir, "c", 0); string(got) != "alpha\nmember one, member two" {
		t.Fatalf("got %q", got)
	}
}

func TestPipeRecordIO(t *testing.T) {
	m := memOpener{"a": []byte("abc"), "b": []byte(""), "c": bytes.Repeat([]byte("z"), 100_001)}
	for _, gzipped := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gzipped), func(t *testing.T) {
			dir := t.TempDir()
			open := m
			if gzipped {
				open = memOpener{}
				for k, v := range m {
					open[k] = gz(t, string(v))
				}
			}
			// spoolMem below the biggest object sends it through a file.
			p := &Pipe{Dir: dir, Channel: "c", Objects: objectsOf(open, "a", "b", "c"), Open: open,
				RecordIO: true, Gzip: gzipped, SpoolDir: t.TempDir(), spoolMem: 1000}
			servePipe(t, p)
			recs, err := ReadRecordIO(bytes.NewReader(readEpoch(t, dir, "c", 0)))
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 3 || string(recs[0]) != "abc" || len(recs[1]) != 0 || !bytes.Equal(recs[2], m["c"]) {
				t.Fatalf("got %d records", len(recs))
			}
			if left, _ := os.ReadDir(p.SpoolDir); len(left) != 0 {
				t.Errorf("spool files left: %v", left)
			}
		})
	}
}

// The augmented-manifest hook: each selected attribute is one record, a
// -ref attribute's object streamed in its place (SageMaker's
// recordio_formatted(image1.jpg) recordio_formatted("1") ...).
func TestPipeManifestItems(t *testing.T) {
	dir := t.TempDir()
	m := memOpener{"img1.jpg": []byte("JPEG1"), "img2.jpg": []byte("JPEG22")}
	objs := objectsOf(m, "img1.jpg", "img2.jpg")
	objs[1].ETag, objs[1].Size = "", 0 // not pinned: measured while streaming
	lines := func(yield func([]PipeItem) bool) error {
		_ = yield([]PipeItem{{Object: &objs[0]}, {Data: AttributeBytes([]byte(`1`))}}) &&
			yield([]PipeItem{{Object: &objs[1]}, {Data: AttributeBytes([]byte(`"0"`))}})
		return nil
	}
	p := &Pipe{Dir: dir, Channel: "c", Open: m, RecordIO: true, Items: ManifestItems(lines)}
	servePipe(t, p)
	recs, err := ReadRecordIO(bytes.NewReader(readEpoch(t, dir, "c", 0)))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"JPEG1", "1", "JPEG22", "0"}
	if fmt.Sprintf("%q", recs) != fmt.Sprintf("%q", want) {
		t.Fatalf("records %q, want %q", recs, want)
	}
}

// A container that closes the FIFO early ends the epoch; the next epoch
// is offered as usual.
func TestPipeReaderStopsEarly(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789"), 1<<20) // 10 MiB: more than the pipe buffer
	m := memOpener{"big": big}
	p := &Pipe{Dir: dir, Channel: "c", Objects: objectsOf(m, "big"), Open: m}
	stop := servePipe(t, p)
	f := openEpoch(t, dir, "c", 0)
	head := make([]byte, 10)
	if _, err := io.ReadFull(f, head); err != nil || string(head) != "0123456789" {
		t.Fatalf("head %q, %v", head, err)
	}
	f.Close()
	if got := readEpoch(t, dir, "c", 1); !bytes.Equal(got, big) {
		t.Fatalf("epoch 1: %d bytes, want %d", len(got), len(big))
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Serve: %v", err)
	}
}

// Cancelling while no container has opened the FIFO must not leave Serve
// blocked in open(2), nor leave the FIFO behind.
func TestPipeCancelBeforeOpen(t *testing.T) {
	dir := t.TempDir()
	m := memOpener{"a": []byte("x")}
	p := &Pipe{Dir: dir, Channel: "c", Objects: objectsOf(m, "a"), Open: m}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx) }()
	waitFor(t, func() bool { _, err := os.Stat(FIFOPath(dir, "c", 0)); return err == nil })
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Serve still blocked 2s after cancel")
	}
	t.Logf("returned %v after cancel", time.Since(start))
	if _, err := os.Stat(FIFOPath(dir, "c", 0)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("FIFO left behind: %v", err)
	}
}

// Cancelling while the container holds the FIFO open without reading must
// unblock the write.
func TestPipeCancelStalledReader(t *testing.T) {
	dir := t.TempDir()
	m := memOpener{"big": make([]byte, 8<<20)}
	p := &Pipe{Dir: dir, Channel: "c", Objects: objectsOf(m, "big"), Open: m}
	stop := servePipe(t, p)
	f := openEpoch(t, dir, "c", 0)
	defer f.Close()
	time.Sleep(50 * time.Millisecond) // let the writer fill the pipe and block
	start := time.Now()
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Serve: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Serve took %v to return", d)
	}
}

// failingOpener fails every object after the first.
type failingOpener struct{ memOpener }

func (f failingOpener) Open(ctx context.Context, o Object) (io.ReadCloser, error) {
	if o.Key != "a" {
		return nil, errors.New("access denied")
	}
	return f.memOpener.Open(ctx, o)
}

// A failed object ends Serve with the error, and the container must not
// see EOF (a truncated epoch looking complete) until ctx is cancelled.
func TestPipeErrorKeepsFIFOOpen(t *testing.T) {
	dir := t.TempDir()
	m := memOpener{"a": []byte("aaaa"), "b": []byte("bbbb")}
	p := &Pipe{Dir: dir, Channel: "c", Objects: objectsOf(m, "a", "b"), Open: failingOpener{m}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx) }()
	f := openEpoch(t, dir, "c", 0)
	defer f.Close()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not fail")
	}
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("s3://b/b: access denied")) {
		t.Fatalf("Serve: %v", err)
	}
	eof := make(chan struct{})
	go func() { io.ReadAll(f); close(eof) }()
	select {
	case <-eof:
		t.Fatal("reader saw EOF before cancel")
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	select {
	case <-eof:
	case <-time.After(2 * time.Second):
		t.Fatal("reader still blocked after cancel")
	}
}

func TestAttributeBytes(t *testing.T) {
	for raw, want := range map[string]string{
		`"0"`: "0", `"caf\u00e9 \"x\""`: `café "x"`, `1`: "1", `1.5e3`: "1.5e3",
		`{"a": [1, 2]}`: `{"a": [1, 2]}`, `[1,2]`: "[1,2]", `true`: "true", `null`: "null",
	} {
		if got := string(AttributeBytes([]byte(raw))); got != want {
			t.Errorf("%s: got %q, want %q", raw, got, want)
		}
	}
}

// A pinned object whose bytes do not match its listed size is an error.
func TestPipeSizeMismatch(t *testing.T) {
	dir := t.TempDir()
	m := memOpener{"a": []byte("abc")}
	objs := objectsOf(m, "a")
	objs[0].Size = 5
	for _, rio := range []bool{false, true} {
		p := &Pipe{Dir: dir, Channel: fmt.Sprint("c", rio), Objects: objs, Open: m, RecordIO: rio}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Serve(ctx) }()
		f := openEpoch(t, dir, p.Channel, 0)
		if err := <-done; err == nil {
			t.Errorf("recordio=%v: no error", rio)
		}
		cancel()
		f.Close()
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
	}
}

// patternOpener serves objects of any size without holding them: byte i
// of an object is byte(i*7).
type patternOpener struct{}

func (patternOpener) Open(ctx context.Context, o Object) (io.ReadCloser, error) {
	return io.NopCloser(&patternReader{left: o.Size}), nil
}

type patternReader struct{ off, left int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), r.left))
	for i := range n {
		p[i] = byte((r.off + int64(i)) * 7)
	}
	r.off += int64(n)
	r.left -= int64(n)
	return n, nil
}

// heapPeak samples HeapInuse until stop is called and returns the peak.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-quit:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(quit); <-done; return peak.Load() }
}

// A 256 MiB object streams through the FIFO with memory that does not
// grow with its size, wrapped in RecordIO or not.
func TestPipeBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 512 MiB")
	}
	const size = 256 << 20
	for _, rio := range []bool{false, true} {
		t.Run(fmt.Sprintf("recordio=%v", rio), func(t *testing.T) {
			dir := t.TempDir()
			objs := []Object{{Bucket: "b", Key: "huge", ETag: "e", Size: size, Rel: "huge"}}
			p := &Pipe{Dir: dir, Channel: "c", Objects: objs, Open: patternOpener{}, RecordIO: rio}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			base := ms.HeapInuse
			peak := heapPeak()
			servePipe(t, p)
			f := openEpoch(t, dir, "c", 0)
			n, err := io.CopyBuffer(io.Discard, f, make([]byte, 1<<20))
			f.Close()
			grew := int64(peak()) - int64(base)
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(size) + map[bool]int64{true: 8}[rio]; n != want {
				t.Fatalf("read %d bytes, want %d", n, want)
			}
			t.Logf("heap in use grew by %.1f MiB while streaming %d MiB", float64(grew)/(1<<20), size>>20)
			if grew > 32<<20 {
				t.Fatalf("heap grew by %d MiB", grew>>20)
			}
		})
	}
}

// BenchmarkPipe measures FIFO throughput from an in-memory Opener to a
// reader in the same process (MB/s is the figure to read: bytes the
// container reads, decompressed).
func BenchmarkPipe(b *testing.B) {
	data := csvLike(64 << 20)
	compressed := gzipBytes(b, data)
	for _, c := range []struct{ recordio, gzip bool }{{false, false}, {true, false}, {false, true}} {
		b.Run(fmt.Sprintf("recordio=%v,gzip=%v", c.recordio, c.gzip), func(b *testing.B) {
			m := memOpener{}
			var keys []string
			for i := range 4 { // 4 × 64 MiB per epoch
				k := fmt.Sprint(i)
				m[k] = data
				if c.gzip {
					m[k] = compressed
				}
				keys = append(keys, k)
			}
			dir := b.TempDir()
			p := &Pipe{Dir: dir, Channel: "c", Objects: objectsOf(m, keys...), Open: m,
				RecordIO: c.recordio, Gzip: c.gzip}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go p.Serve(ctx)
			buf := make([]byte, 1<<20)
			b.SetBytes(4 * int64(len(data)))
			b.ResetTimer()
			for epoch := range b.N {
				f := openEpochB(b, dir, epoch)
				if _, err := io.CopyBuffer(io.Discard, f, buf); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
}

// csvLike is n bytes of numeric CSV, compressible about 2:1 like real
// training data (a repeating pattern would flatter gzip).
func csvLike(n int) []byte {
	out := make([]byte, 0, n+32)
	x := uint64(1)
	for len(out) < n {
		x = x*6364136223846793005 + 1442695040888963407
		out = strconv.AppendUint(out, x>>40, 10)
		out = append(out, ",\n"[(x>>20)%2])
	}
	return out[:n]
}

func gzipBytes(b *testing.B, data []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(data)
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func openEpochB(b *testing.B, dir string, epoch int) *os.File {
	for {
		f, err := os.Open(FIFOPath(dir, "c", epoch))
		if err == nil {
			return f
		}
		if !errors.Is(err, fs.ErrNotExist) {
			b.Fatal(err)
		}
		time.Sleep(100 * time.Microsecond)
	}
}
