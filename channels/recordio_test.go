package channels

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// recordIOFrame builds one part by hand, independently of the writer.
func recordIOFrame(flag uint32, data string) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint32(0xced7230a))
	binary.Write(&b, binary.LittleEndian, flag<<29|uint32(len(data)))
	b.WriteString(data)
	b.Write(make([]byte, (4-len(data)%4)%4))
	return b.Bytes()
}

func TestRecordIOWriterBytes(t *testing.T) {
	var got bytes.Buffer
	w := NewRecordIOWriter(&got)
	for _, rec := range []string{"abcde", "", "1234"} {
		if err := w.WriteRecord([]byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	// The exact bytes of the SageMaker SDK's _write_recordio: magic,
	// length, data, zero padding to 4 bytes.
	want := []byte{
		0x0a, 0x23, 0xd7, 0xce, 5, 0, 0, 0, 'a', 'b', 'c', 'd', 'e', 0, 0, 0,
		0x0a, 0x23, 0xd7, 0xce, 0, 0, 0, 0,
		0x0a, 0x23, 0xd7, 0xce, 4, 0, 0, 0, '1', '2', '3', '4',
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("got  % x\nwant % x", got.Bytes(), want)
	}
}

func TestRecordIORoundTrip(t *testing.T) {
	recs := []string{"", "a", "ab", "abc", "abcd", "\x0a\x23\xd7\xce inside", strings.Repeat("x", 70000)}
	var buf bytes.Buffer
	w := NewRecordIOWriter(&buf)
	for _, r := range recs {
		if err := w.WriteRecordFrom(strings.NewReader(r), int64(len(r))); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadRecordIO(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) {
		t.Fatalf("%d records, want %d", len(got), len(recs))
	}
	for i := range recs {
		if string(got[i]) != recs[i] {
			t.Errorf("record %d: got %q, want %q", i, trunc(got[i]), trunc([]byte(recs[i])))
		}
	}
}

func trunc(b []byte) string {
	if len(b) > 20 {
		return string(b[:20]) + "..."
	}
	return string(b)
}

func TestRecordIOWriterSizeMismatch(t *testing.T) {
	w := NewRecordIOWriter(io.Discard)
	if err := w.WriteRecordFrom(strings.NewReader("abc"), 5); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short reader: %v", err)
	}
	if err := w.WriteRecordFrom(strings.NewReader("abcdef"), 5); err == nil {
		t.Error("long reader: no error")
	}
	if err := w.WriteRecordFrom(strings.NewReader(""), -1); err == nil {
		t.Error("negative size: no error")
	}
}

// A record over 2^29-1 bytes is split into parts flagged 1, 2..., 3, which
// SageMaker's PipeModeDataset joins. Checked on a zero stream to stay fast.
func TestRecordIOSplitsHugeRecord(t *testing.T) {
	const size = 2*recordIOSplit + 10
	var hdrs headerLog
	w := NewRecordIOWriter(&hdrs)
	if err := w.WriteRecordFrom(io.LimitReader(zeroReader{}, size), size); err != nil {
		t.Fatal(err)
	}
	want := []uint32{flagFirst<<29 | recordIOSplit, flagMiddle<<29 | recordIOSplit, flagLast<<29 | 10}
	if len(hdrs.lrecs) != len(want) {
		t.Fatalf("headers %x, want %x", hdrs.lrecs, want)
	}
	for i := range want {
		if hdrs.lrecs[i] != want[i] {
			t.Errorf("part %d: lrec %#x, want %#x", i, hdrs.lrecs[i], want[i])
		}
	}
	if hdrs.total != size+3*8+2 {
		t.Errorf("wrote %d bytes, want %d", hdrs.total, size+3*8+2)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// headerLog records the lrec word of each 8-byte write that starts with
// the magic (the writer writes each header in one call).
type headerLog struct {
	lrecs []uint32
	total int64
}

func (h *headerLog) Write(p []byte) (int, error) {
	if len(p) == 8 && binary.LittleEndian.Uint32(p) == recordIOMagic {
		h.lrecs = append(h.lrecs, binary.LittleEndian.Uint32(p[4:]))
	}
	h.total += int64(len(p))
	return len(p), nil
}

func TestRecordIOReaderJoinsParts(t *testing.T) {
	var in []byte
	in = append(in, recordIOFrame(flagFirst, "hello ")...)
	in = append(in, recordIOFrame(flagMiddle, "big ")...)
	in = append(in, recordIOFrame(flagLast, "world")...)
	in = append(in, recordIOFrame(flagWhole, "next")...)
	got, err := ReadRecordIO(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got[0]) != "hello big world" || string(got[1]) != "next" {
		t.Fatalf("got %q", got)
	}
}

func TestRecordIOReaderErrors(t *testing.T) {
	whole := recordIOFrame(flagWhole, "abcde")
	cases := map[string][]byte{
		"bad magic":         append([]byte{1, 2, 3, 4}, whole[4:]...),
		"truncated header":  whole[:6],
		"truncated payload": whole[:10],
		"truncated padding": whole[:14],
		"middle first":      recordIOFrame(flagMiddle, "x"),
		"last first":        recordIOFrame(flagLast, "x"),
		"flag 5":            recordIOFrame(5, "x"),
		"whole inside":      append(recordIOFrame(flagFirst, "x"), whole...),
		"unfinished":        recordIOFrame(flagFirst, "x"),
	}
	for name, in := range cases {
		if _, err := ReadRecordIO(bytes.NewReader(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// FuzzReadRecordIO feeds arbitrary bytes to the reader: it must not panic
// or over-allocate, and whatever it decodes must survive a round trip
// through the writer.
func FuzzReadRecordIO(f *testing.F) {
	f.Add(recordIOFrame(flagWhole, "abcde"))
	f.Add(append(recordIOFrame(flagFirst, "ab"), recordIOFrame(flagLast, "cd")...))
	f.Add([]byte{0x0a, 0x23, 0xd7, 0xce, 0xff, 0xff, 0xff, 0x1f})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		recs, err := ReadRecordIO(bytes.NewReader(in))
		if err == nil && len(in)%4 != 0 {
			t.Fatalf("accepted %d bytes, not a multiple of 4", len(in))
		}
		var buf bytes.Buffer
		w := NewRecordIOWriter(&buf)
		for _, r := range recs {
			if err := w.WriteRecord(r); err != nil {
				t.Fatal(err)
			}
		}
		again, err := ReadRecordIO(&buf)
		if err != nil {
			t.Fatalf("re-reading: %v", err)
		}
		if len(again) != len(recs) {
			t.Fatalf("%d records, then %d", len(recs), len(again))
		}
		for i := range recs {
			if !bytes.Equal(recs[i], again[i]) {
				t.Fatalf("record %d changed", i)
			}
		}
	})
}

// FuzzRecordIOWriter writes arbitrary payloads, split at arbitrary points
// into records, and reads them back.
func FuzzRecordIOWriter(f *testing.F) {
	f.Add([]byte("hello world"), uint8(3))
	f.Add([]byte{0x0a, 0x23, 0xd7, 0xce, 0, 0, 0, 0}, uint8(4))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		var recs [][]byte
		for n := int(step) + 1; len(data) > 0; data = data[min(n, len(data)):] {
			recs = append(recs, data[:min(n, len(data))])
		}
		var buf bytes.Buffer
		w := NewRecordIOWriter(&buf)
		for _, r := range recs {
			if err := w.WriteRecordFrom(bytes.NewReader(r), int64(len(r))); err != nil {
				t.Fatal(err)
			}
		}
		if buf.Len()%4 != 0 {
			t.Fatalf("stream of %d bytes is not 4-aligned", buf.Len())
		}
		got, err := ReadRecordIO(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(recs) {
			t.Fatalf("%d records, want %d", len(got), len(recs))
		}
		for i := range recs {
			if !bytes.Equal(got[i], recs[i]) {
				t.Fatalf("record %d differs", i)
			}
		}
	})
}
