package channels

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

func readAll(t *testing.T, in string, attrs []string) ([]AugmentedRecord, error) {
	t.Helper()
	var recs []AugmentedRecord
	for rec, err := range ReadAugmentedManifest(strings.NewReader(in), attrs) {
		if err != nil {
			return recs, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

func TestReadAugmentedManifest(t *testing.T) {
	in := `{"source-ref": "s3://bkt/foo/image1.jpg", "is-a-cat": 1, "other": "x"}` + "\r\n" +
		"\n" +
		`{"is-a-cat": 0, "source-ref": "s3://bkt/bar/image2.jpg", "meta": {"a": [1, 2]}}` + "\n" +
		`  {"source-ref":"s3://other-bkt/baz.jpg","is-a-cat":{"p": 0.5}}` // no final newline
	recs, err := readAll(t, in, []string{"source-ref", "is-a-cat"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	if r := recs[1]; r.Line != 3 || r.Index != 1 {
		t.Errorf("record 1 at line %d index %d, want line 3 index 1", r.Line, r.Index)
	}
	v := recs[0].Values
	if v[0].Name != "source-ref" || v[0].Ref == nil || v[0].Ref.Bucket != "bkt" || v[0].Ref.Key != "foo/image1.jpg" ||
		v[0].Ref.Rel != "bkt/foo/image1.jpg" || v[1].Ref != nil || string(v[1].Raw) != "1" {
		t.Errorf("record 0 values %+v", v)
	}
	wantJSON := []string{
		`{"source-ref":"s3://bkt/foo/image1.jpg","is-a-cat":1}`,
		`{"source-ref":"s3://bkt/bar/image2.jpg","is-a-cat":0}`,
		`{"source-ref":"s3://other-bkt/baz.jpg","is-a-cat":{"p":0.5}}`,
	}
	for i, r := range recs {
		if got := string(r.JSON()); got != wantJSON[i] {
			t.Errorf("record %d JSON %s, want %s", i, got, wantJSON[i])
		}
	}
}

func TestReadAugmentedManifestErrors(t *testing.T) {
	attrs := []string{"source-ref", "label"}
	tests := []struct{ in, want string }{
		{`{"source-ref":"s3://bkt/a","label":1}` + "\n[1]\n", "line 2: want a JSON object"},
		{`{"source-ref":"s3://bkt/a","label":1}` + "\n{\"x\":}\n", "line 2: not a JSON object"},
		{`{"source-ref":"s3://bkt/a"}`, `line 1: no attribute "label"`},
		{`{"source-ref":3,"label":1}`, `line 1: attribute "source-ref": want an s3:// URI string`},
		{`{"source-ref":"https://x/y","label":1}`, `line 1: attribute "source-ref": "https://x/y" is not an S3 URI`},
		{`{"source-ref":"s3://bkt/../x","label":1}`, `".." segment`},
		{`{"source-ref":"s3://bkt/","label":1}`, `empty path`},
		{`{"source-ref":"s3://bkt/a","label":1} {"x":1}`, "line 1: not a JSON object"},
		{"\n\n" + strings.Repeat(" ", MaxAugmentedLine+1), "line 3: longer than"},
	}
	for _, tt := range tests {
		_, err := readAll(t, tt.in, attrs)
		var aerr *AugmentedError
		if !errors.As(err, &aerr) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%.50q: %v, want an *AugmentedError containing %q", tt.in, err, tt.want)
		}
	}
	// A reader's own failure is passed on as it is.
	for _, err := range ReadAugmentedManifest(iotest.ErrReader(errors.New("disk on fire")), attrs) {
		var aerr *AugmentedError
		if err == nil || errors.As(err, &aerr) || err.Error() != "disk on fire" {
			t.Errorf("read error yielded as %v", err)
		}
	}
}

// TestReadAugmentedManifestStops checks that breaking out of the loop
// stops reading.
func TestReadAugmentedManifestStops(t *testing.T) {
	in := strings.Repeat(`{"a":1}`+"\n", 100)
	n := 0
	for range ReadAugmentedManifest(strings.NewReader(in), []string{"a"}) {
		n++
		if n == 3 {
			break
		}
	}
	if n != 3 {
		t.Errorf("%d records", n)
	}
}

// FuzzReadAugmentedManifest checks that the parser never panics, that
// every record has every attribute, that "-ref" objects stay inside the
// channel directory, and that a record's JSON parses back to its values.
func FuzzReadAugmentedManifest(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/augmented/*.jsonl")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "source-ref,class")
	}
	f.Add([]byte(`{"a-ref":"s3://bkt/x","b":[1,2]}`), "a-ref,b")
	f.Fuzz(func(t *testing.T, data []byte, names string) {
		attrs := strings.Split(names, ",")
		for rec, err := range ReadAugmentedManifest(bytes.NewReader(data), attrs) {
			if err != nil {
				var aerr *AugmentedError
				if !errors.As(err, &aerr) {
					t.Fatalf("error %v is not an *AugmentedError", err)
				}
				return
			}
			checkFuzzedRecord(t, rec, attrs)
		}
	})
}

func checkFuzzedRecord(t *testing.T, rec AugmentedRecord, attrs []string) {
	if len(rec.Values) != len(attrs) {
		t.Fatalf("record has %d values for %d attributes", len(rec.Values), len(attrs))
	}
	var back map[string]json.RawMessage
	if err := json.Unmarshal(rec.JSON(), &back); err != nil {
		t.Fatalf("record JSON %s does not parse: %v", rec.JSON(), err)
	}
	for _, v := range rec.Values {
		if v.Ref == nil {
			continue
		}
		if err := checkRel(v.Ref.Rel); err != nil {
			t.Fatalf("accepted ref %q: %v", v.Ref.Rel, err)
		}
	}
}
