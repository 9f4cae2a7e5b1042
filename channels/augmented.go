package channels

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/jobrun/jobrun/s3uri"
	"io"
	"iter"
	"strings"
)

// MaxAugmentedLine bounds one line of an augmented manifest, so that a
// file without newlines cannot make jobrun read it whole into memory.
const MaxAugmentedLine = 16 << 20

// AugmentedManifestFile is the name of the file that File mode writes
// into an augmented manifest channel: the manifest's lines reduced to the
// selected attributes. Bucket names cannot contain '_', so it cannot
// collide with the <bucket>/<key> paths of the referenced objects.
const AugmentedManifestFile = "augmented_manifest.jsonl"

// AugmentedRecord is one line of an augmented manifest, reduced to the
// selected attributes.
type AugmentedRecord struct {
	Line   int              // 1-based line number in the manifest
	Index  int              // 0-based position among the records (non-blank lines): the sharding position
	Values []AugmentedValue // one per attribute name, in the order of the names asked for
}

// AugmentedValue is one attribute of a record.
type AugmentedValue struct {
	Name string
	Raw  json.RawMessage // the attribute's JSON value as written in the manifest
	// Ref is set for attributes whose name ends in "-ref": the object the
	// value's s3:// URI names, with Rel = "<bucket>/<key>" (the File mode
	// layout). ETag and Size are empty: it is not pinned yet.
	Ref *Object
}

// JSON is the record as one JSON object line (no newline) holding only
// the selected attributes, in the order asked for.
func (r AugmentedRecord) JSON() []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, v := range r.Values {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(v.Name)
		b.Write(name)
		b.WriteByte(':')
		_ = json.Compact(&b, v.Raw) // Raw was validated when the line was parsed
	}
	b.WriteByte('}')
	return b.Bytes()
}

// AugmentedError is a problem with one line of an augmented manifest.
type AugmentedError struct {
	Line int
	Err  error
}

func (e *AugmentedError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *AugmentedError) Unwrap() error { return e.Err }

// ReadAugmentedManifest streams the records of an augmented manifest (JSON
// Lines: one JSON object per line; blank lines are skipped) with the
// attributes attrs. Memory stays bounded by the longest line
// (MaxAugmentedLine at most): records are yielded one at a time and the
// Values of one record do not alias the next one's.
//
// Every record must have every attribute (SageMaker's Pipe mode streams
// each selected attribute of each line, in order; a missing one would
// shift the stream). An attribute named "*-ref" must hold an s3:// URI
// string. The first problem is yielded as an *AugmentedError and ends the
// sequence; a read error is yielded as it is.
func ReadAugmentedManifest(r io.Reader, attrs []string) iter.Seq2[AugmentedRecord, error] {
	return func(yield func(AugmentedRecord, error) bool) {
		br := bufio.NewReaderSize(r, 64<<10)
		index := 0
		for line := 1; ; line++ {
			text, err := readLine(br)
			if err == io.EOF && len(text) == 0 {
				return
			}
			if err != nil && err != io.EOF {
				yield(AugmentedRecord{}, lineError(line, err))
				return
			}
			if len(bytes.TrimSpace(text)) == 0 {
				continue
			}
			rec, perr := parseAugmentedLine(text, attrs)
			if perr != nil {
				yield(AugmentedRecord{}, &AugmentedError{line, perr})
				return
			}
			rec.Line, rec.Index = line, index
			index++
			if !yield(rec, nil) {
				return
			}
		}
	}
}

var errLineTooLong = fmt.Errorf("longer than %d bytes", MaxAugmentedLine)

// lineError makes a too-long line an *AugmentedError; other read errors
// stay as they are (the reader's, not the manifest's, fault).
func lineError(line int, err error) error {
	if errors.Is(err, errLineTooLong) {
		return &AugmentedError{line, err}
	}
	return err
}

// readLine returns the next line without its "\n" (or "\r\n"), and
// io.EOF with the last line when the input does not end with a newline.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > MaxAugmentedLine {
			return nil, errLineTooLong
		}
		line = append(line, chunk...)
		switch err {
		case bufio.ErrBufferFull:
			continue
		case nil:
			line = bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'})
			return line, nil
		default:
			return line, err
		}
	}
}

// parseAugmentedLine picks attrs out of one JSON object line.
func parseAugmentedLine(text []byte, attrs []string) (AugmentedRecord, error) {
	if t := bytes.TrimSpace(text); t[0] != '{' {
		return AugmentedRecord{}, errors.New("want a JSON object")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(text, &obj); err != nil {
		return AugmentedRecord{}, fmt.Errorf("not a JSON object: %w", err)
	}
	rec := AugmentedRecord{Values: make([]AugmentedValue, 0, len(attrs))}
	for _, name := range attrs {
		raw, ok := obj[name]
		if !ok {
			return AugmentedRecord{}, fmt.Errorf("no attribute %q", name)
		}
		v := AugmentedValue{Name: name, Raw: raw}
		if strings.HasSuffix(name, "-ref") {
			ref, err := parseRef(raw)
			if err != nil {
				return AugmentedRecord{}, fmt.Errorf("attribute %q: %w", name, err)
			}
			v.Ref = ref
		}
		rec.Values = append(rec.Values, v)
	}
	return rec, nil
}

// parseRef reads a "-ref" attribute: a JSON string holding s3://bucket/key.
func parseRef(raw json.RawMessage) (*Object, error) {
	var uri string
	if err := json.Unmarshal(raw, &uri); err != nil {
		return nil, errors.New("want an s3:// URI string")
	}
	bucket, key, err := s3uri.Parse(uri)
	if err != nil {
		return nil, err
	}
	if err := checkRel(key); err != nil {
		return nil, fmt.Errorf("%s: key %w", uri, err)
	}
	return &Object{Bucket: bucket, Key: key, Rel: bucket + "/" + key}, nil
}
