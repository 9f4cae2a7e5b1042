package channels

import (
	"errors"
	"github.com/jobrun/jobrun/s3uri"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadManifest(t *testing.T) {
	m, err := ReadManifest(strings.NewReader(`[{"prefix": "s3://customer-bucket/some/prefix/"},
		"relative/path/to/custdata-1", "relative/path/custdata-2", "relative/path/custdata-2", "x"]`))
	if err != nil {
		t.Fatal(err)
	}
	want := &Manifest{Bucket: "customer-bucket", Prefix: "some/prefix/",
		Keys:  []string{"relative/path/to/custdata-1", "relative/path/custdata-2", "x"},
		Index: []int{1, 2, 4}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("ReadManifest = %+v, want %+v", m, want)
	}

	// The prefix is prepended as a string: no '/' is added.
	m, err = ReadManifest(strings.NewReader(`[{"prefix":"s3://bkt/part-"},"0001","0002"]`))
	if err != nil || m.Prefix != "part-" || m.Keys[1] != "0002" {
		t.Errorf("string prefix: %+v, %v", m, err)
	}
}

func TestReadManifestErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, "not a JSON array"},
		{`{"prefix": "s3://bkt/"}`, "not a JSON array"},
		{`[]`, "element 0: missing"},
		{`["s3://bkt/"]`, `element 0: the first element must be {"prefix"`},
		{`[{"prefix": 1}, "a"]`, `element 0: the first element`},
		{`[{"prefix": "s3://bkt/", "extra": 1}, "a"]`, `element 0: the first element`},
		{`[{"Prefix": "s3://bkt/"}, "a"]`, `element 0: the first element`},
		{`[{"prefix": "https://bkt/"}, "a"]`, "element 0: prefix: "},
		{`[{"prefix": "s3://bkt/"}]`, "lists no objects"},
		{`[{"prefix": "s3://bkt/"}, "a", 3]`, "element 2: want a relative key as a JSON string"},
		{`[{"prefix": "s3://bkt/"}, "a", null]`, "element 2: not a path inside the channel directory: empty path"},
		{`[{"prefix": "s3://bkt/"}, "../etc/passwd"]`, `element 1: not a path inside the channel directory: "../etc/passwd" has a ".." segment`},
		{`[{"prefix": "s3://bkt/"}, "a/./b"]`, `element 1: not a path inside the channel directory: "a/./b" has a "." segment`},
		{`[{"prefix": "s3://bkt/"}, "/abs"]`, "element 1: not a path inside the channel directory: \"/abs\" is absolute"},
		{`[{"prefix": "s3://bkt/"}, ""]`, "element 1: not a path inside the channel directory: empty path"},
		{`[{"prefix": "s3://bkt/"}, "a//b"]`, "empty path segment"},
		{`[{"prefix": "s3://bkt/"}, "dir/"]`, "empty path segment"},
		{`[{"prefix": "s3://bkt/"}, "a"] x`, "unexpected data after the JSON array"},
		{`[{"prefix": "s3://bkt/"}, "a"`, "EOF"},
		{`[{"prefix": "s3://bkt/"}, "` + strings.Repeat("k", 1025) + `"]`, "longer than 1024"},
	}
	for _, tt := range tests {
		_, err := ReadManifest(strings.NewReader(tt.in))
		var merr *ManifestError
		if !errors.As(err, &merr) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ReadManifest(%.60q) = %v, want a *ManifestError containing %q", tt.in, err, tt.want)
		}
	}
}

// FuzzReadManifest checks that the parser never panics and that whatever
// it accepts stays inside the channel directory.
func FuzzReadManifest(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/manifests/*.json")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`[{"prefix":"s3://bkt/p/"},"a","../b"]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadManifest(strings.NewReader(string(data)))
		if err != nil {
			var merr *ManifestError
			if !errors.As(err, &merr) {
				t.Fatalf("error %v (%T) is not a *ManifestError", err, err)
			}
			return
		}
		if len(m.Keys) == 0 || len(m.Keys) != len(m.Index) {
			t.Fatalf("accepted %+v", m)
		}
		if s3uri.CheckBucket(m.Bucket) != nil {
			t.Fatalf("accepted bucket %q", m.Bucket)
		}
		for _, k := range m.Keys {
			if err := checkRel(k); err != nil {
				t.Fatalf("accepted key %q: %v", k, err)
			}
			if p := filepath.Join("/chan", k); !strings.HasPrefix(p, "/chan/") {
				t.Fatalf("key %q escapes to %s", k, p)
			}
		}
	})
}
