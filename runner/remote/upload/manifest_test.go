package upload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestCheckPath(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"a", true},
		{"a/b/c.csv", true},
		{"with space/ü\nnewline", true},
		{"..a/b..", true},
		{`back\slash`, true},
		{"", false},
		{".", false},
		{"/etc/passwd", false},
		{"/", false},
		{"..", false},
		{"../x", false},
		{"a/../../x", false},
		{"a/..", false},
		{"a/../b", false},
		{"./a", false},
		{"a/./b", false},
		{"a//b", false},
		{"a/", false},
		{"a\x00b", false},
	} {
		if err := checkPath(tc.path); (err == nil) != tc.ok {
			t.Errorf("checkPath(%q) = %v, want ok=%v", tc.path, err, tc.ok)
		}
	}
}

const h1 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" // sha256("hello")

func TestParseManifest(t *testing.T) {
	good := "jobrun-upload-manifest 1\nd 755 \"sub\"\nf 644 " + h1 + " \"sub/a b\\n.csv\"\nf 755 " + h1 + " \"run.sh\"\nend\n"
	m, err := parseManifest(strings.NewReader(good))
	want := manifest{
		{Path: "sub", Mode: 0o755, Dir: true},
		{Path: "sub/a b\n.csv", Mode: 0o644, Hash: h1},
		{Path: "run.sh", Mode: 0o755, Hash: h1},
	}
	if err != nil || !reflect.DeepEqual(m, want) {
		t.Fatalf("parseManifest(good) = %+v, %v", m, err)
	}
	var buf bytes.Buffer
	if err := want.write(&buf); err != nil || buf.String() != good {
		t.Errorf("write = %q, %v; want %q", buf.String(), err, good)
	}

	rec := func(lines ...string) string {
		return "jobrun-upload-manifest 1\n" + strings.Join(lines, "\n") + "\nend\n"
	}
	for name, tc := range map[string]struct{ in, err string }{
		"absolute":       {rec(`f 644 ` + h1 + ` "/etc/cron.d/x"`), "absolute"},
		"dotdot":         {rec(`f 644 ` + h1 + ` "../x"`), "leaves the destination"},
		"inner dotdot":   {rec(`d 755 "a/../../x"`), "not clean"},
		"dot":            {rec(`d 755 "."`), "empty path"},
		"empty":          {rec(`d 755 ""`), "empty path"},
		"NUL":            {rec(`f 644 ` + h1 + ` "a\x00b"`), "NUL"},
		"symlink record": {rec(`l 777 "x" "/etc"`), "unknown record type"},
		"unquoted":       {rec(`f 644 ` + h1 + ` a.csv`), "not quoted"},
		"bad quote":      {rec(`f 644 ` + h1 + ` "a.csv`), "bad quoted path"},
		"short hash":     {rec(`f 644 abc "a"`), "bad hash"},
		"upper hash":     {rec(`f 644 ` + strings.ToUpper(h1) + ` "a"`), "bad hash"},
		"bad mode":       {rec(`f 999 ` + h1 + ` "a"`), "bad mode"},
		"setuid mode":    {rec(`f 4755 ` + h1 + ` "a"`), "bad mode"},
		"duplicate":      {rec(`f 644 `+h1+` "a"`, `d 755 "a"`), "listed twice"},
		"below a file":   {rec(`f 644 `+h1+` "a"`, `f 644 `+h1+` "a/b"`), "below the file"},
		"below, reverse": {rec(`f 644 `+h1+` "a/b/c"`, `f 644 `+h1+` "a"`), "below the file"},
		"no header":      {"d 755 \"a\"\nend\n", "expected"},
		"other version":  {"jobrun-upload-manifest 2\nend\n", "versions differ"},
		"no end":         {"jobrun-upload-manifest 1\nd 755 \"a\"\n", "ends before"},
		"no newline":     {"jobrun-upload-manifest 1\nend", "ends before"},
		"after end":      {"jobrun-upload-manifest 1\nend\nd 755 \"a\"\n", "data after"},
		"long line":      {rec(`d 755 "` + strings.Repeat("a", maxLine) + `"`), "longer than"},
		"empty input":    {"", "ends before"},
	} {
		if m, err := parseManifest(strings.NewReader(tc.in)); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: parseManifest = %v, %v; want an error containing %q", name, m, err, tc.err)
		}
	}
}

func TestParseBlobHeader(t *testing.T) {
	if h, n, err := parseBlobHeader("blob " + h1 + " 5"); h != h1 || n != 5 || err != nil {
		t.Errorf("parseBlobHeader = %q, %d, %v", h, n, err)
	}
	for _, bad := range []string{"", "blob", "blob " + h1, "blob " + h1 + " -1", "blob " + h1 + " +5",
		"blob " + h1 + " 05", "blob " + h1 + " 5 x", "blob " + h1[1:] + " 5", "blob " + h1 + " 99999999999999999999",
		"blob " + h1 + " 1125899906842625", "blob  " + h1 + " 5", "file " + h1 + " 5"} {
		if _, _, err := parseBlobHeader(bad); err == nil {
			t.Errorf("parseBlobHeader(%q) accepted", bad)
		}
	}
}

// blobStream encodes contents as a blob stream.
func blobStream(contents ...string) string {
	var b strings.Builder
	b.WriteString(blobsHeader + "\n")
	for _, c := range contents {
		b.WriteString("blob " + sha(c) + " " + strconv.Itoa(len(c)) + "\n" + c)
	}
	b.WriteString("end\n")
	return b.String()
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestReceive(t *testing.T) {
	st, err := openStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out bytes.Buffer
	if err := st.receive(ctx, strings.NewReader(blobStream("hello", "", "world")), &out); err != nil || out.String() != "received 3\n" {
		t.Fatalf("receive = %v, %q", err, out.String())
	}
	for _, c := range []string{"hello", "", "world"} {
		b, err := os.ReadFile(st.blob(sha(c)))
		if err != nil || string(b) != c {
			t.Errorf("blob of %q: %q, %v", c, b, err)
		}
		if fi, _ := os.Stat(st.blob(sha(c))); fi == nil || fi.Mode().Perm() != 0o444 {
			t.Errorf("blob of %q: mode %v, want 0444", c, fi.Mode())
		}
	}

	// A blob whose content does not match its hash, and a stream cut in
	// the middle of a blob: the verified blobs before them are kept,
	// nothing else, and no temp file is left.
	bad := strings.Replace(blobStream("first", "tampered"), "tampered", "tamperex", 1)
	cut := blobStream("second", "truncated")
	cut = cut[:strings.Index(cut, "truncated")+4]
	for _, tc := range []struct{ in, kept, lost, err string }{
		{bad, "first", "tampered", "content hashes to " + sha("tamperex")},
		{cut, "second", "truncated", "stream ended after 4 of 9 bytes"},
		{blobsHeader + "\nblob " + sha("x") + " 1\nx", "x", "", "ends before"},
	} {
		err := st.receive(ctx, strings.NewReader(tc.in), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("receive: %v, want an error containing %q", err, tc.err)
		}
		if _, err := os.Stat(st.blob(sha(tc.kept))); err != nil {
			t.Errorf("verified blob %q not kept: %v", tc.kept, err)
		}
		if _, err := os.Stat(st.blob(sha(tc.lost))); tc.lost != "" && err == nil {
			t.Errorf("blob %q stored", tc.lost)
		}
		if ents, _ := os.ReadDir(st.tmpDir()); len(ents) != 0 {
			t.Errorf("temp files left: %v", ents)
		}
	}
}

func TestServeUsage(t *testing.T) {
	store := t.TempDir()
	for _, args := range [][]string{
		nil,
		{"frobnicate", "--store", store},
		{"receive"},
		{"receive", "--store", store, "extra"},
		{"receive", "--store"},
		{"link", "--store", store},
		{"receive", "--bogus", "x", "--store", store},
	} {
		var stderr bytes.Buffer
		err := Serve(context.Background(), args, strings.NewReader(""), io.Discard, &stderr)
		if err == nil || !strings.Contains(stderr.String(), err.Error()) {
			t.Errorf("Serve(%q) = %v, stderr %q; want an error, also on stderr", args, err, stderr.String())
		}
	}
}

// TestLinkRefusesEscapes feeds link manifests that try to write outside
// the destination: nothing is created anywhere.
func TestLinkRefusesEscapes(t *testing.T) {
	root := t.TempDir()
	store := filepath.Join(root, "store")
	if err := Serve(context.Background(), []string{"receive", "--store", store}, strings.NewReader(blobStream("hello")), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(root, "x", "dest")
	for _, p := range []string{"../escaped", "/" + filepath.Join(root, "escaped"), "a/../../escaped", "a/../../../escaped"} {
		in := "jobrun-upload-manifest 1\nf 644 " + h1 + " \"" + p + "\"\nend\n"
		err := Serve(context.Background(), []string{"link", "--store", store, "--dest", dest}, strings.NewReader(in), io.Discard, io.Discard)
		if err == nil {
			t.Errorf("link accepted %q", p)
		}
	}
	var found []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if !strings.HasPrefix(p, store) && p != root {
			found = append(found, p)
		}
		return nil
	})
	if len(found) != 0 {
		t.Errorf("link created %v", found)
	}
}

func FuzzManifest(f *testing.F) {
	f.Add([]byte("jobrun-upload-manifest 1\nd 755 \"sub\"\nf 644 " + h1 + " \"sub/a.csv\"\nend\n"))
	f.Add([]byte("jobrun-upload-manifest 1\nf 755 " + h1 + " \"../x\"\nend\n"))
	f.Add([]byte("jobrun-upload-manifest 1\nf 644 " + h1 + " \"a\\x00\\xff/..\"\nend\n"))
	f.Add([]byte("jobrun-upload-manifest 1\nl 777 \"x\"\nend\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseManifest(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, e := range m {
			if checkPath(e.Path) != nil {
				t.Fatalf("accepted path %q", e.Path)
			}
			if j := filepath.Join("/dest", filepath.FromSlash(e.Path)); !strings.HasPrefix(j, "/dest/") {
				t.Fatalf("path %q joins to %q, outside /dest", e.Path, j)
			}
			if !e.Dir && !isHash(e.Hash) {
				t.Fatalf("accepted hash %q", e.Hash)
			}
		}
		var buf bytes.Buffer
		if err := m.write(&buf); err != nil {
			t.Fatal(err)
		}
		again, err := parseManifest(&buf)
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, m)
		}
	})
}

// FuzzReceive feeds the blob stream parser arbitrary input: whatever it
// is, every blob in the store holds the content its name says, and no
// temp file is left behind.
func FuzzReceive(f *testing.F) {
	f.Add([]byte(blobStream("hello", "")))
	f.Add([]byte(blobStream("a")[:40]))
	f.Add([]byte(strings.Replace(blobStream("abc"), "abc", "abd", 1)))
	f.Add([]byte(blobsHeader + "\nblob " + h1 + " 1125899906842624\nhello"))
	st, err := openStore(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = st.receive(context.Background(), bytes.NewReader(data), io.Discard)
		if ents, _ := os.ReadDir(st.tmpDir()); len(ents) != 0 {
			t.Fatalf("temp files left: %v", ents)
		}
		ents, _ := os.ReadDir(st.blobsDir())
		for _, e := range ents {
			b, err := os.ReadFile(st.blob(e.Name()))
			if err != nil || sha(string(b)) != e.Name() {
				t.Fatalf("blob %s holds %q (%v)", e.Name(), b, err)
			}
		}
	})
}
