package channels

// RecordIO is the framing SageMaker applies in Pipe mode when a channel's
// RecordWrapperType is "RecordIO": every S3 object (or every selected
// attribute of an augmented-manifest line) becomes one record. The format
// is MXNet's (dmlc-core include/dmlc/recordio.h, src/recordio.cc), as read
// by SageMaker's own PipeModeDataset (aws/sagemaker-tensorflow-extensions,
// src/pipemode_op/RecordReader/RecordIOReader.cpp):
//
//	uint32 magic  0xced7230a, little-endian
//	uint32 lrec   length in the low 29 bits, a continuation flag in the top 3
//	data          length bytes
//	pad           zero bytes up to a multiple of 4
//
// Flag 0 is a whole record. A record too long for 29 bits is split into
// parts flagged 1 (first), 2 (middle) and 3 (last), which PipeModeDataset
// concatenates. Note dmlc's reader differs here: it re-inserts the magic
// between parts, because dmlc's writer only splits where the payload
// contains the magic word. jobrun never escapes the magic (the SageMaker
// Python SDK's _write_recordio does not either, and readers go by the
// length, not by scanning), so records under 512 MiB read the same
// everywhere; bigger ones follow SageMaker's reader.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	recordIOMagic uint32 = 0xced7230a
	// recordIOMaxLen is the longest part the 29-bit length field holds.
	recordIOMaxLen = 1<<29 - 1
	// recordIOSplit is the part size of a split record: a multiple of 4,
	// so only the last part carries padding.
	recordIOSplit = 1<<29 - 4

	flagWhole  = 0
	flagFirst  = 1
	flagMiddle = 2
	flagLast   = 3
)

// copyBufSize is the buffer every streaming copy in this file and in
// pipe.go uses: big enough for throughput, small enough to keep memory
// flat whatever the object size.
const copyBufSize = 1 << 20

// RecordIOWriter writes SageMaker RecordIO records to an io.Writer.
type RecordIOWriter struct {
	w   io.Writer
	hdr [8]byte
	buf []byte // grown as streamed records need, up to copyBufSize
}

// NewRecordIOWriter returns a writer of RecordIO records to w.
func NewRecordIOWriter(w io.Writer) *RecordIOWriter {
	return &RecordIOWriter{w: w}
}

// WriteRecord writes p as one record.
func (rw *RecordIOWriter) WriteRecord(p []byte) error {
	if len(p) > recordIOMaxLen {
		return rw.WriteRecordFrom(bytes.NewReader(p), int64(len(p)))
	}
	if err := rw.writeHeader(uint32(len(p)), flagWhole); err != nil {
		return err
	}
	if _, err := rw.w.Write(p); err != nil {
		return err
	}
	return rw.writePad(uint32(len(p)))
}

// WriteRecordFrom writes the next size bytes of r as one record, streaming
// them through a fixed buffer. The record's length goes first, so size
// must be exact: a reader that ends early or has bytes left over is an
// error, and the stream is then corrupt (the caller must abandon it).
func (rw *RecordIOWriter) WriteRecordFrom(r io.Reader, size int64) error {
	if size < 0 {
		return fmt.Errorf("recordio: negative record size %d", size)
	}
	rw.growBuf(size)
	for off := int64(0); ; {
		n := min(size-off, recordIOMaxLen)
		flag := uint32(flagWhole)
		if size > recordIOMaxLen {
			n = min(size-off, recordIOSplit)
			flag = partFlag(off, off+n == size)
		}
		if err := rw.writePart(r, uint32(n), flag); err != nil {
			return err
		}
		off += n
		if off == size {
			break
		}
	}
	return expectEOF(r)
}

// partFlag is the continuation flag of the part of a split record that
// starts at off.
func partFlag(off int64, last bool) uint32 {
	switch {
	case last:
		return flagLast
	case off == 0:
		return flagFirst
	default:
		return flagMiddle
	}
}

// growBuf makes the copy buffer big enough for a record of size bytes,
// up to copyBufSize: small records need no megabyte.
func (rw *RecordIOWriter) growBuf(size int64) {
	want := int(min(max(size, 4096), copyBufSize))
	if len(rw.buf) < want {
		rw.buf = make([]byte, want)
	}
}

// writePart writes one header, n bytes of r and the padding after them.
func (rw *RecordIOWriter) writePart(r io.Reader, n, flag uint32) error {
	if err := rw.writeHeader(n, flag); err != nil {
		return err
	}
	copied, err := io.CopyBuffer(writerOnly{rw.w}, io.LimitReader(r, int64(n)), rw.buf)
	if err != nil {
		return err
	}
	if copied < int64(n) {
		return fmt.Errorf("recordio: record shorter than its declared size: %w", io.ErrUnexpectedEOF)
	}
	return rw.writePad(n)
}

func (rw *RecordIOWriter) writeHeader(n, flag uint32) error {
	binary.LittleEndian.PutUint32(rw.hdr[0:4], recordIOMagic)
	binary.LittleEndian.PutUint32(rw.hdr[4:8], flag<<29|n)
	_, err := rw.w.Write(rw.hdr[:])
	return err
}

// writePad writes the zero bytes that align a part of n bytes to 4.
func (rw *RecordIOWriter) writePad(n uint32) error {
	if pad := padLen(n); pad > 0 {
		var zeros [3]byte
		_, err := rw.w.Write(zeros[:pad])
		return err
	}
	return nil
}

// expectEOF checks that r has nothing left after a record of the declared
// size: more data means the size was wrong.
func expectEOF(r io.Reader) error {
	var one [1]byte
	n, err := io.ReadFull(r, one[:])
	if n > 0 {
		return errors.New("recordio: record longer than its declared size")
	}
	if err == io.EOF {
		return nil
	}
	return err
}

func padLen(n uint32) uint32 { return (4 - n%4) % 4 }

// writerOnly hides a writer's ReadFrom so io.CopyBuffer uses the buffer it
// is given (os.File's fallback ReadFrom allocates its own on every call).
type writerOnly struct{ io.Writer }

// RecordIOReader reads RecordIO records; jobrun uses it in tests and as
// the reference decoder of what its writer produces.
type RecordIOReader struct {
	r   io.Reader
	hdr [8]byte
}

// NewRecordIOReader returns a reader of the RecordIO records in r.
func NewRecordIOReader(r io.Reader) *RecordIOReader {
	return &RecordIOReader{r: r}
}

// Next returns the next whole record (split records joined), or io.EOF at
// a clean end of the stream. A stream that ends inside a record is
// io.ErrUnexpectedEOF.
func (rr *RecordIOReader) Next() ([]byte, error) {
	var rec bytes.Buffer
	for part := 0; ; part++ {
		flag, n, err := rr.header(part == 0)
		if err != nil {
			return nil, err
		}
		if err := checkFlag(flag, part); err != nil {
			return nil, err
		}
		if err := rr.payload(&rec, n); err != nil {
			return nil, err
		}
		if flag == flagWhole || flag == flagLast {
			return rec.Bytes(), nil
		}
	}
}

// header reads one part header. A clean EOF is only allowed before the
// first part of a record.
func (rr *RecordIOReader) header(first bool) (flag, n uint32, err error) {
	if _, err := io.ReadFull(rr.r, rr.hdr[:]); err != nil {
		if err == io.EOF && !first {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, err
	}
	if m := binary.LittleEndian.Uint32(rr.hdr[0:4]); m != recordIOMagic {
		return 0, 0, fmt.Errorf("recordio: bad magic %#08x", m)
	}
	lrec := binary.LittleEndian.Uint32(rr.hdr[4:8])
	return lrec >> 29, lrec & recordIOMaxLen, nil
}

// checkFlag rejects flags out of sequence: a record starts whole (0) or
// first (1); its later parts are middle (2) or last (3).
func checkFlag(flag uint32, part int) error {
	starts := flag == flagWhole || flag == flagFirst
	continues := flag == flagMiddle || flag == flagLast
	if (part == 0 && starts) || (part > 0 && continues) {
		return nil
	}
	return fmt.Errorf("recordio: unexpected flag %d in part %d of a record", flag, part)
}

// payload appends n bytes and skips the padding. It copies as data arrives
// rather than allocating n up front, so a corrupt length cannot make it
// allocate more than the stream holds.
func (rr *RecordIOReader) payload(rec *bytes.Buffer, n uint32) error {
	got, err := io.CopyN(rec, rr.r, int64(n+padLen(n)))
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return err
	}
	rec.Truncate(rec.Len() - int(got-int64(n)))
	return nil
}

// ReadRecordIO reads every record of r.
func ReadRecordIO(r io.Reader) ([][]byte, error) {
	rr := NewRecordIOReader(r)
	var recs [][]byte
	for {
		rec, err := rr.Next()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return recs, err
		}
		recs = append(recs, rec)
	}
}
