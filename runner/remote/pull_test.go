package remote

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func tarOf(t *testing.T, entries ...*tar.Header) *bytes.Buffer {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range entries {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(h.Name))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(h.Name))
		}
	}
	tw.Close()
	return &b
}

func TestUntarRefusesEscapes(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(outside, []byte("safe"), 0o644)
	for name, entries := range map[string][]*tar.Header{
		"dotdot":              {{Name: "../x", Typeflag: tar.TypeReg, Mode: 0o644}},
		"absolute":            {{Name: "/tmp/x", Typeflag: tar.TypeReg, Mode: 0o644}},
		"below a link":        {{Name: "model/l", Typeflag: tar.TypeSymlink, Linkname: filepath.Dir(outside)}, {Name: "model/l/victim", Typeflag: tar.TypeReg, Mode: 0o644}},
		"through a link":      {{Name: "model/a", Typeflag: tar.TypeSymlink, Linkname: outside}, {Name: "model/a", Typeflag: tar.TypeReg, Mode: 0o644}},
		"the same file twice": {{Name: "a", Typeflag: tar.TypeReg, Mode: 0o644}, {Name: "a", Typeflag: tar.TypeReg, Mode: 0o644}},
	} {
		t.Run(name, func(t *testing.T) {
			if err := untar(tarOf(t, entries...), t.TempDir()); err == nil {
				t.Error("accepted")
			}
			if b, _ := os.ReadFile(outside); string(b) != "safe" {
				t.Fatalf("wrote outside the folder: %q", b)
			}
		})
	}
	dir := t.TempDir()
	err := untar(tarOf(t, &tar.Header{Name: "model/", Typeflag: tar.TypeDir, Mode: 0o755},
		&tar.Header{Name: "model/m.bin", Typeflag: tar.TypeReg, Mode: 0o644},
		&tar.Header{Name: "model/link", Typeflag: tar.TypeSymlink, Linkname: "m.bin"}), dir)
	if b, _ := os.ReadFile(filepath.Join(dir, "model", "link")); err != nil || !strings.Contains(string(b), "model/m.bin") {
		t.Errorf("a run directory: %v, %q", err, b)
	}
}
