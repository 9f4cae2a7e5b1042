package channels

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jobrun/jobrun/exitcode"
	"github.com/jobrun/jobrun/spec"
)

func manifestInput(name, uri string) spec.Input {
	in := input(name, uri)
	in.Type = "manifest"
	return in
}

func augmentedInput(name, uri string, attrs ...string) spec.Input {
	in := input(name, uri)
	in.Type, in.AttributeNames = "augmented_manifest", attrs
	return in
}

func TestStageManifest(t *testing.T) {
	e := newEnv(t)
	for _, k := range []string{"ds/a/1.csv", "ds/a/2.csv", "ds/b/3.csv", "ds/unlisted.csv"} {
		e.put(t, k, []byte(k))
	}
	e.put(t, "m/train.manifest", []byte(`[{"prefix": "s3://data/ds/"}, "a/1.csv", "b/3.csv", "a/1.csv"]`))
	st := stageOK(t, e.stager(), e.workDir(t), manifestInput("train", "s3://data/m/train.manifest"))
	want := map[string]string{"a/1.csv": "ds/a/1.csv", "b/3.csv": "ds/b/3.csv"}
	if got := tree(t, st[0].Dir); !reflect.DeepEqual(got, want) {
		t.Errorf("channel holds %v, want %v", got, want)
	}
	if m := st[0].Manifest; m == nil || m.Key != "m/train.manifest" || m.ETag == "" || m.Size == 0 {
		t.Errorf("Manifest = %+v", m)
	}
	if len(st[0].Objects) != 2 || st[0].Objects[1].Key != "ds/b/3.csv" || st[0].Objects[1].ETag == "" {
		t.Errorf("Objects = %+v", st[0].Objects)
	}
}

func TestStageManifestErrors(t *testing.T) {
	e := newEnv(t)
	e.put(t, "ds/ok", []byte("ok"))
	tests := []struct {
		name, manifest string
		code           int
		want           []string
	}{
		{"escape", `[{"prefix":"s3://data/ds/"},"ok","../../etc/passwd"]`, exitcode.Usage,
			[]string{`channel "train"`, "manifest s3://data/m/escape", "element 2", `"../../etc/passwd" has a ".." segment`}},
		{"malformed", `{"prefix":"s3://data/ds/"}`, exitcode.Usage,
			[]string{"manifest s3://data/m/malformed", "not a JSON array"}},
		{"missing", `[{"prefix":"s3://data/ds/"},"ok","nope"]`, exitcode.Failure,
			[]string{`channel "train"`, "manifest s3://data/m/missing element 2", "s3://data/ds/nope", "no such object"}},
		{"other bucket", `[{"prefix":"s3://no-such-bucket/ds/"},"ok"]`, exitcode.Failure,
			[]string{"s3://no-such-bucket/ds/ok", `bucket "no-such-bucket" does not exist`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.put(t, "m/"+tt.name, []byte(tt.manifest))
			work := e.workDir(t)
			_, err := e.stager().Stage(context.Background(), []spec.Input{manifestInput("train", "s3://data/m/"+tt.name)}, work)
			if err == nil {
				t.Fatal("Stage succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if got := exitcode.Code(err); got != tt.code {
				t.Errorf("exit code %d, want %d", got, tt.code)
			}
			if got := entries(t, work); len(got) != 0 {
				t.Errorf("work dir keeps %v", got)
			}
		})
	}
	// The manifest itself missing.
	_, err := e.stager().Stage(context.Background(), []spec.Input{manifestInput("train", "s3://data/m/absent")}, e.workDir(t))
	if err == nil || !strings.Contains(err.Error(), "s3://data/m/absent: no such object") {
		t.Errorf("missing manifest: %v", err)
	}
}

// TestStageAugmentedFile stages an augmented manifest in File mode (the
// jobrun extension): referenced objects at <bucket>/<key>, plus the
// selected attributes' lines.
func TestStageAugmentedFile(t *testing.T) {
	e := newEnv(t)
	e.srv.Bucket(t, "images")
	e.srv.Put(t, "images", "cats/1.jpg", []byte("cat one"))
	e.srv.Put(t, "images", "dogs/2.jpg", []byte("dog two"))
	e.put(t, "aug/train.jsonl", []byte(
		`{"source-ref":"s3://images/cats/1.jpg","class":"1","extra":"dropped"}`+"\n"+
			`{"source-ref":"s3://images/dogs/2.jpg","class":"0"}`+"\n\n"+
			`{"source-ref":"s3://images/cats/1.jpg","class":"1"}`+"\n"))
	st := stageOK(t, e.stager(), e.workDir(t), augmentedInput("train", "s3://data/aug/train.jsonl", "source-ref", "class"))
	want := map[string]string{
		"images/cats/1.jpg": "cat one",
		"images/dogs/2.jpg": "dog two",
		AugmentedManifestFile: `{"source-ref":"s3://images/cats/1.jpg","class":"1"}` + "\n" +
			`{"source-ref":"s3://images/dogs/2.jpg","class":"0"}` + "\n" +
			`{"source-ref":"s3://images/cats/1.jpg","class":"1"}` + "\n",
	}
	if got := tree(t, st[0].Dir); !reflect.DeepEqual(got, want) {
		t.Errorf("channel holds %q\nwant %q", got, want)
	}
	if len(st[0].Objects) != 2 || st[0].Manifest == nil {
		t.Errorf("Objects %+v, Manifest %+v", st[0].Objects, st[0].Manifest)
	}

	// Sharded over 2 hosts, host 1 gets the second record only.
	s := e.stager()
	s.Host, s.Hosts = 1, 2
	in := augmentedInput("train", "s3://data/aug/train.jsonl", "source-ref", "class")
	in.Distribution = "sharded_by_s3_key"
	st = stageOK(t, s, e.workDir(t), in)
	got := tree(t, st[0].Dir)
	if len(got) != 2 || got[AugmentedManifestFile] != `{"source-ref":"s3://images/dogs/2.jpg","class":"0"}`+"\n" {
		t.Errorf("host 1 of 2 holds %q", got)
	}
}

func TestStageAugmentedErrors(t *testing.T) {
	e := newEnv(t)
	e.put(t, "aug/bad.jsonl", []byte(`{"source-ref":"s3://data/x","class":1}`+"\n"+`{"class":1}`+"\n"))
	_, err := e.stager().Stage(context.Background(), []spec.Input{augmentedInput("train", "s3://data/aug/bad.jsonl", "source-ref", "class")}, e.workDir(t))
	if exitcode.Code(err) != exitcode.Usage || !strings.Contains(fmt.Sprint(err), `augmented manifest s3://data/aug/bad.jsonl: line 2: no attribute "source-ref"`) {
		t.Errorf("missing attribute: %v", err)
	}
	e.put(t, "aug/missing.jsonl", []byte(`{"source-ref":"s3://data/absent.jpg","class":1}`+"\n"))
	_, err = e.stager().Stage(context.Background(), []spec.Input{augmentedInput("train", "s3://data/aug/missing.jsonl", "source-ref", "class")}, e.workDir(t))
	if exitcode.Code(err) != exitcode.Failure || !strings.Contains(fmt.Sprint(err), "line 1: s3://data/absent.jpg: no such object") {
		t.Errorf("missing object: %v", err)
	}
}

// TestStagePipeAndFastFileOnlyList checks that Pipe and FastFile channels
// are listed and pinned but not downloaded, and that Open streams their
// objects.
func TestStagePipeAndFastFileOnlyList(t *testing.T) {
	e := newEnv(t)
	e.put(t, "p/a", []byte("alpha"))
	e.put(t, "p/b", []byte("beta"))
	e.put(t, "aug/m.jsonl", []byte(`{"source-ref":"s3://data/p/a","n":1}`+"\n"))
	pipe, ff := input("pipe", "s3://data/p/"), input("ff", "s3://data/p/")
	pipe.Mode, ff.Mode = "pipe", "fastfile"
	aug := augmentedInput("aug", "s3://data/aug/m.jsonl", "source-ref", "n")
	aug.Mode = "pipe"
	work := e.workDir(t)
	st := stageOK(t, e.stager(), work, pipe, ff, aug)
	if g := e.s3.gets.Load(); g != 1 { // the augmented manifest, read once
		t.Errorf("%d GETs", g)
	}
	if got := entries(t, work); len(got) != 0 {
		t.Errorf("work dir holds %v", got)
	}
	for _, c := range st[:2] {
		if c.Dir != "" || len(c.Mounts) != 0 || len(c.Objects) != 2 || c.Objects[1].Rel != "b" {
			t.Errorf("%s: %+v", c.Input.Name, c)
		}
	}
	if o, ok := st[2].ObjectsByURI()["s3://data/p/a"]; !ok || o.ETag == "" || st[2].Manifest == nil {
		t.Errorf("augmented pipe channel: %+v", st[2])
	}
	rc, err := e.stager().Open(context.Background(), st[0].Objects[1])
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, err := io.ReadAll(rc); err != nil || string(b) != "beta" {
		t.Errorf("Open read %q, %v", b, err)
	}
}

func TestOpenAndFetch(t *testing.T) {
	e := newEnv(t)
	data := e.putBig(t, "o/big", 20<<20)
	st := stageOK(t, e.stager(), "", func() spec.Input { in := input("p", "s3://data/o/"); in.Mode = "pipe"; return in }())
	o := st[0].Objects[0]

	s := e.stager()
	s.MultipartThreshold, s.PartSize = 8<<20, 4<<20
	blob, err := s.Fetch(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, blob, data)
	gets := e.s3.gets.Load()
	rc, err := s.Open(context.Background(), o) // from the cache now
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if len(b) != len(data) || e.s3.gets.Load() != gets {
		t.Errorf("Open after Fetch: %d bytes, %d GETs", len(b), e.s3.gets.Load()-gets)
	}

	// The ETag matches but the pinned size does not (what a stream that
	// is longer or shorter than the pinned object looks like): Open fails
	// before delivering a byte, rather than relying on a checksum.
	for _, size := range []int64{o.Size - 1, o.Size + 1} {
		bad := o
		bad.Size = size
		_, err = (&Stager{S3: e.s3}).Open(context.Background(), bad)
		if !errors.Is(err, ErrObjectChanged) {
			t.Errorf("Open with size %d pinned for %d bytes: %v", size, o.Size, err)
		}
	}

	// A changed object: Open fails with ErrObjectChanged.
	e.put(t, "o/big", []byte("changed"))
	_, err = (&Stager{S3: e.s3}).Open(context.Background(), o)
	if !errors.Is(err, ErrObjectChanged) && !strings.Contains(fmt.Sprint(err), "changed on S3") {
		t.Errorf("Open of a changed object: %v", err)
	}
	// Unpinned: the current version.
	rc, err = (&Stager{S3: e.s3}).Open(context.Background(), Object{Bucket: "data", Key: "o/big"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(rc)
	rc.Close()
	if string(b) != "changed" {
		t.Errorf("unpinned Open read %q", b)
	}
}

func TestStageNoCache(t *testing.T) {
	e := newEnv(t)
	e.put(t, "n/sub/a", []byte("a"))
	big := e.putBig(t, "n/big", 12<<20)
	s := &Stager{S3: e.s3, MultipartThreshold: 8 << 20, PartSize: 4 << 20}
	work := t.TempDir()
	st := stageOK(t, s, work, input("train", "s3://data/n/"))
	sameFile(t, filepath.Join(st[0].Dir, "big"), big)
	if got := tree(t, st[0].Dir)["sub/a"]; got != "a" {
		t.Errorf("sub/a = %q", got)
	}
	fi, _ := os.Stat(filepath.Join(st[0].Dir, "big"))
	if fi.Mode().Perm() != 0o444 {
		t.Errorf("mode %v", fi.Mode())
	}
}

// The Stager is the Opener Pipe and FastFile read through, with ranges.
var _ RangeOpener = (*Stager)(nil)

func TestOpenRange(t *testing.T) {
	e := newEnv(t)
	data := e.putBig(t, "r/obj", 1<<20)
	st := stageOK(t, e.stager(), "", func() spec.Input { in := input("p", "s3://data/r/"); in.Mode = "pipe"; return in }())
	o := st[0].Objects[0]
	read := func(s *Stager, off, n int64) []byte {
		t.Helper()
		rc, err := s.OpenRange(context.Background(), o, off, n)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, s := range []*Stager{{S3: e.s3}, e.stager()} { // from S3, then from the cache
		for _, r := range [][2]int64{{0, 10}, {1000, 5000}, {1<<20 - 3, 100}, {1 << 20, 1}} {
			want := data[min(r[0], int64(len(data))):min(r[0]+r[1], int64(len(data)))]
			if got := read(s, r[0], r[1]); string(got) != string(want) {
				t.Errorf("cache %v: range %v: %d bytes, want %d", s.Cache != nil, r, len(got), len(want))
			}
		}
		if s.Cache != nil {
			continue
		}
		if _, err := e.stager().Fetch(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEachRecord streams an augmented manifest's records as Pipe mode
// does, with "-ref" values pointing at the pinned objects.
func TestEachRecord(t *testing.T) {
	e := newEnv(t)
	e.put(t, "img/a", []byte("A"))
	e.put(t, "aug/m.jsonl", []byte(`{"source-ref":"s3://data/img/a","n":1}`+"\n"+`{"source-ref":"s3://data/img/a","n":2}`+"\n"+`{"source-ref":"s3://data/img/a","n":3}`+"\n"))
	in := augmentedInput("aug", "s3://data/aug/m.jsonl", "source-ref", "n")
	in.Mode = "pipe"
	s := e.stager()
	st := stageOK(t, s, "", in)
	var ns []string
	for range 2 { // two epochs
		err := s.EachRecord(context.Background(), &st[0], func(rec AugmentedRecord) bool {
			if ref := rec.Values[0].Ref; ref == nil || ref.ETag == "" || ref.Size != 1 {
				t.Errorf("ref not pinned: %+v", ref)
			}
			ns = append(ns, string(rec.Values[1].Raw))
			return len(ns) != 5 // stop in the second epoch
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(ns, ",") != "1,2,3,1,2" {
		t.Errorf("records %v", ns)
	}
}
