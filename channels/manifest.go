package channels

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/jobrun/jobrun/s3uri"
	"io"
)

// Manifest is a parsed SageMaker ManifestFile: a JSON array whose first
// element is {"prefix": "s3://bucket/some/prefix/"} and whose other
// elements are keys relative to it. SageMaker appends each relative key
// to the prefix as a string (no '/' added), so the objects are
// s3://Bucket/<Prefix><Keys[i]>.
type Manifest struct {
	Bucket string
	Prefix string   // the key prefix, possibly empty
	Keys   []string // relative keys in manifest order, duplicates removed
	Index  []int    // Keys[i]'s position in the JSON array (the prefix is 0)
}

// ManifestError is a problem with a manifest's content. Index is the
// element's position in the JSON array (0 is the prefix element), or -1
// when the problem is not one element's.
type ManifestError struct {
	Index int
	Err   error
}

func (e *ManifestError) Error() string {
	if e.Index < 0 {
		return e.Err.Error()
	}
	return fmt.Sprintf("element %d: %v", e.Index, e.Err)
}

func (e *ManifestError) Unwrap() error { return e.Err }

// ReadManifest parses a ManifestFile from r. It reads the array as a
// stream (only the keys are kept) and rejects: anything but a JSON array,
// a first element other than {"prefix": "<s3 uri>"}, elements that are
// not strings, keys that would escape the channel directory ("../x",
// "/x", "", "a//b"), an array with no keys, and data after the array.
// Each relative key becomes the object's path below the channel
// directory.
func ReadManifest(r io.Reader) (*Manifest, error) {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '['); err != nil {
		return nil, &ManifestError{-1, fmt.Errorf("not a JSON array: %w", err)}
	}
	m, err := readPrefix(dec)
	if err != nil {
		return nil, &ManifestError{0, err}
	}
	if err := readKeys(dec, m); err != nil {
		return nil, err
	}
	if len(m.Keys) == 0 {
		return nil, &ManifestError{-1, errors.New("lists no objects after the prefix")}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &ManifestError{-1, errors.New("unexpected data after the JSON array")}
	}
	return m, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("found %s, want %q", describeToken(tok), string(want))
	}
	return nil
}

// readPrefix reads the first element, exactly {"prefix": "s3://..."}
// (the key is matched case-sensitively, unlike encoding/json's fields).
func readPrefix(dec *json.Decoder) (*Manifest, error) {
	errFirst := errors.New(`the first element must be {"prefix": "s3://bucket/prefix/"}`)
	if !dec.More() {
		return nil, fmt.Errorf("missing: %w", errFirst)
	}
	var first map[string]json.RawMessage
	if err := dec.Decode(&first); err != nil {
		return nil, errFirst
	}
	var uri string
	if raw, ok := first["prefix"]; !ok || len(first) != 1 || json.Unmarshal(raw, &uri) != nil {
		return nil, errFirst
	}
	bucket, key, err := s3uri.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("prefix: %w", err)
	}
	return &Manifest{Bucket: bucket, Prefix: key}, nil
}

// readKeys reads the relative keys up to the closing ']'.
func readKeys(dec *json.Decoder, m *Manifest) error {
	seen := map[string]bool{}
	for i := 1; dec.More(); i++ {
		var rel string
		if err := dec.Decode(&rel); err != nil {
			return &ManifestError{i, fmt.Errorf("want a relative key as a JSON string: %w", err)}
		}
		if err := checkRel(rel); err != nil {
			return &ManifestError{i, err}
		}
		if len(m.Prefix)+len(rel) > s3uri.MaxKeyLen {
			return &ManifestError{i, fmt.Errorf("prefix + %q is longer than %d bytes, S3's key limit", rel, s3uri.MaxKeyLen)}
		}
		if !seen[rel] {
			seen[rel] = true
			m.Keys = append(m.Keys, rel)
			m.Index = append(m.Index, i)
		}
	}
	if err := expectDelim(dec, ']'); err != nil {
		return &ManifestError{-1, err}
	}
	return nil
}

func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return fmt.Sprintf("%q", string(v))
	case string:
		return "a string"
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%T", v)
	}
}
