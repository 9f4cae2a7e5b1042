package channels

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// gatedOpener serves memOpener objects, but an object whose key is in
// held blocks until the test ends (its ctx is cancelled): a slow S3.
type gatedOpener struct {
	memOpener
	held map[string]bool

	mu     sync.Mutex
	opened []string
}

func (g *gatedOpener) Open(ctx context.Context, o Object) (io.ReadCloser, error) {
	g.mu.Lock()
	g.opened = append(g.opened, o.Key)
	g.mu.Unlock()
	if g.held[o.Key] {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return g.memOpener.Open(ctx, o)
}

// rangedOpener adds OpenRange to a gatedOpener and counts ranged reads.
type rangedOpener struct {
	*gatedOpener
	mu     sync.Mutex
	ranges int
}

func (r *rangedOpener) OpenRange(ctx context.Context, o Object, off, n int64) (io.ReadCloser, error) {
	r.mu.Lock()
	r.ranges++
	r.mu.Unlock()
	b := r.memOpener[o.Key]
	return io.NopCloser(bytes.NewReader(b[off : off+n])), nil
}

// mountTest mounts objs and unmounts at the end of the test. FUSE is
// required: without it the test fails (it is skipped with -short only).
func mountTest(t *testing.T, objs []Object, open Opener) (*FastFile, string) {
	t.Helper()
	mnt := filepath.Join(worldDir(t), "mnt")
	ff, err := MountFastFile(context.Background(), mnt, t.TempDir(), objs, open)
	if errors.Is(err, ErrNoFUSE) && testing.Short() {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ff.Close(); err != nil {
			t.Error(err)
		}
	})
	return ff, mnt
}

// worldDir is a temporary directory every user can traverse, so that
// other users can reach a mount inside it.
func worldDir(t *testing.T) string {
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func channelFixture() (memOpener, []Object) {
	m := memOpener{
		"p/a.csv":          []byte("1,2,3\n"),
		"p/sub/b.csv":      bytes.Repeat([]byte("b"), 300_000),
		"p/sub/deep/c.bin": []byte{0, 1, 2},
		"p/empty":          nil,
		"p/z.txt":          []byte("last"),
	}
	var objs []Object
	for _, k := range []string{"p/a.csv", "p/sub/b.csv", "p/sub/deep/c.bin", "p/empty", "p/z.txt"} {
		objs = append(objs, Object{Bucket: "b", Key: k, Size: int64(len(m[k])), Rel: strings.TrimPrefix(k, "p/")})
	}
	return m, objs
}

func TestFastFileReadsAndLists(t *testing.T) {
	m, objs := channelFixture()
	ff, mnt := mountTest(t, objs, &gatedOpener{memOpener: m})
	for _, o := range objs {
		got, err := os.ReadFile(filepath.Join(mnt, o.Rel))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, m[o.Key]) {
			t.Errorf("%s: %d bytes differ from the object's %d", o.Rel, len(got), len(m[o.Key]))
		}
	}
	var listed []string
	err := filepath.WalkDir(mnt, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(mnt, p)
		info, _ := d.Info()
		listed = append(listed, fmt.Sprintf("%s %v %d", rel, info.Mode(), sizeIfFile(info)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		". drwxr-xr-x 0", "a.csv -r--r--r-- 6", "empty -r--r--r-- 0", "sub drwxr-xr-x 0",
		"sub/b.csv -r--r--r-- 300000", "sub/deep drwxr-xr-x 0", "sub/deep/c.bin -r--r--r-- 3", "z.txt -r--r--r-- 4",
	}
	if !slices.Equal(listed, want) {
		t.Errorf("tree:\n%s\nwant:\n%s", strings.Join(listed, "\n"), strings.Join(want, "\n"))
	}
	if err := ff.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if done, total := ff.Progress(); done != total || total != 300_013 {
		t.Errorf("progress %d/%d", done, total)
	}
}

func sizeIfFile(info fs.FileInfo) int64 {
	if info.IsDir() {
		return 0
	}
	return info.Size()
}

// Sizes are right before any byte is downloaded, and a file in the middle
// of the listing is readable while every object before it is stuck.
func TestFastFileMiddleFileFirst(t *testing.T) {
	m, objs := channelFixture()
	held := map[string]bool{}
	for _, o := range objs {
		held[o.Key] = o.Key != "p/sub/deep/c.bin"
	}
	open := &gatedOpener{memOpener: m, held: held}
	_, mnt := mountTest(t, objs, open)
	st, err := os.Stat(filepath.Join(mnt, "sub/b.csv"))
	if err != nil || st.Size() != 300_000 {
		t.Fatalf("stat before download: %v, %v", st, err)
	}
	done := make(chan []byte, 1)
	go func() {
		b, _ := os.ReadFile(filepath.Join(mnt, "sub/deep/c.bin"))
		done <- b
	}()
	select {
	case b := <-done:
		if !bytes.Equal(b, []byte{0, 1, 2}) {
			t.Fatalf("read %v", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reading the middle file waited for the objects before it")
	}
}

// A read far ahead of an object's download is served by a ranged read.
func TestFastFileRangedRead(t *testing.T) {
	big := make([]byte, 16<<20)
	for i := range big {
		big[i] = byte(i * 13)
	}
	m := memOpener{"big": big}
	objs := []Object{{Bucket: "b", Key: "big", Size: int64(len(big)), Rel: "big"}}
	open := &rangedOpener{gatedOpener: &gatedOpener{memOpener: m, held: map[string]bool{"big": true}}}
	_, mnt := mountTest(t, objs, open)
	f, err := os.Open(filepath.Join(mnt, "big"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := make([]byte, 1000)
	if _, err := f.ReadAt(got, 10<<20); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, big[10<<20:10<<20+1000]) {
		t.Fatal("ranged read returned the wrong bytes")
	}
	open.mu.Lock()
	defer open.mu.Unlock()
	if open.ranges == 0 {
		t.Error("no ranged read was made")
	}
}

func TestFastFileReadOnly(t *testing.T) {
	m, objs := channelFixture()
	_, mnt := mountTest(t, objs, &gatedOpener{memOpener: m})
	attempts := map[string]error{
		"write":  os.WriteFile(filepath.Join(mnt, "a.csv"), []byte("x"), 0o644),
		"create": os.WriteFile(filepath.Join(mnt, "new"), []byte("x"), 0o644),
		"mkdir":  os.Mkdir(filepath.Join(mnt, "d"), 0o755),
		"remove": os.Remove(filepath.Join(mnt, "z.txt")),
		"rename": os.Rename(filepath.Join(mnt, "z.txt"), filepath.Join(mnt, "y.txt")),
		"chmod":  os.Chmod(filepath.Join(mnt, "z.txt"), 0o777),
	}
	for op, err := range attempts {
		if !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s: %v, want EROFS", op, err)
		}
	}
}

// Another process (as a container would) reads the files.
func TestFastFileOtherProcess(t *testing.T) {
	m, objs := channelFixture()
	_, mnt := mountTest(t, objs, &gatedOpener{memOpener: m})
	out, err := exec.Command("cat", filepath.Join(mnt, "a.csv"), filepath.Join(mnt, "z.txt")).CombinedOutput()
	if err != nil || string(out) != "1,2,3\nlast" {
		t.Fatalf("cat: %q, %v", out, err)
	}
	// As another user too: the mount is allow_other and world-readable.
	cmd := exec.Command("cat", filepath.Join(mnt, "sub/deep/c.bin"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err = cmd.CombinedOutput()
	if os.Geteuid() == 0 && (err != nil || !bytes.Equal(out, []byte{0, 1, 2})) {
		t.Fatalf("cat as nobody: %q, %v", out, err)
	}
}

// failOpener fails every Open.
type failOpener struct{}

func (failOpener) Open(ctx context.Context, o Object) (io.ReadCloser, error) {
	return nil, errors.New("access denied")
}

func TestFastFileDownloadError(t *testing.T) {
	objs := []Object{{Bucket: "b", Key: "k", Size: 10, Rel: "k"}}
	ff, mnt := mountTest(t, objs, failOpener{})
	if _, err := os.ReadFile(filepath.Join(mnt, "k")); !errors.Is(err, syscall.EIO) {
		t.Errorf("read: %v, want EIO", err)
	}
	if err := ff.Wait(context.Background()); err == nil || !strings.Contains(err.Error(), "s3://b/k: access denied") {
		t.Errorf("Wait: %v", err)
	}
}

func mounted(t *testing.T, dir string) bool {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), " "+dir+" ")
}

// Close unmounts, also while a file is held open (lazily then), and
// removes the spill files.
func TestFastFileCloseUnmounts(t *testing.T) {
	m, objs := channelFixture()
	for _, holdOpen := range []bool{false, true} {
		t.Run(fmt.Sprintf("open=%v", holdOpen), func(t *testing.T) {
			mnt, spill := filepath.Join(t.TempDir(), "mnt"), t.TempDir()
			ff, err := MountFastFile(context.Background(), mnt, spill, objs, &gatedOpener{memOpener: m})
			if errors.Is(err, ErrNoFUSE) && testing.Short() {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if !mounted(t, mnt) {
				t.Fatal("not in /proc/self/mounts after mount")
			}
			if holdOpen {
				f, err := os.Open(filepath.Join(mnt, "a.csv"))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
			}
			if err := ff.Close(); err != nil {
				t.Fatal(err)
			}
			if mounted(t, mnt) {
				t.Fatal("still mounted after Close")
			}
			if left, _ := os.ReadDir(spill); len(left) != 0 {
				t.Errorf("spill files left: %v", left)
			}
			if err := ff.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func TestFastFileRejectsBadPaths(t *testing.T) {
	for _, rels := range [][]string{{"../x"}, {"/abs"}, {"a//b"}, {"a", "a"}, {"a", "a/b"}, {"a/b", "a"}, {""}} {
		var objs []Object
		for _, r := range rels {
			objs = append(objs, Object{Bucket: "b", Key: r, Size: 1, Rel: r})
		}
		if err := checkTree(objs); err == nil {
			t.Errorf("%q accepted", rels)
		}
	}
	ok := dropDirMarkers([]Object{{Rel: "d/", Size: 0}, {Rel: "d/f", Size: 1}})
	if err := checkTree(ok); err != nil || len(ok) != 1 {
		t.Errorf("directory marker: %v, %v", ok, err)
	}
}

// Without the right to mount (here: an unprivileged user, and a
// fusermount that is not setuid or refuses allow_other), MountFastFile
// reports ErrNoFUSE so the runner can fall back to File mode. Run as
// root, the test re-runs itself as nobody.
func TestFastFileNoFUSE(t *testing.T) {
	if os.Getenv("JOBRUN_NOFUSE_CHILD") != "" {
		ff, err := MountFastFile(context.Background(), filepath.Join(os.TempDir(), "mnt"), os.TempDir(), nil, memOpener{})
		if err == nil {
			ff.Close()
			t.Skip("nobody may mount FUSE here")
		}
		if !errors.Is(err, ErrNoFUSE) {
			t.Fatalf("got %v, want ErrNoFUSE", err)
		}
		t.Log(err)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to re-run as nobody")
	}
	bin := copyTestBinary(t)
	tmp := worldDir(t)
	os.Chmod(tmp, 0o777)
	cmd := exec.Command(bin, "-test.run", "^TestFastFileNoFUSE$", "-test.v")
	cmd.Env = append(os.Environ(), "JOBRUN_NOFUSE_CHILD=1", "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	t.Logf("as nobody:\n%s", out)
}

// copyTestBinary copies the running test binary where nobody can run it.
func copyTestBinary(t *testing.T) string {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(worldDir(t), "channels.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// BenchmarkFastFileRead reads a 256 MiB object through a fresh mount each
// time: cold (downloading while read, from an in-memory Opener) and warm
// (fully downloaded first, then read through FUSE from the spill file).
func BenchmarkFastFileRead(b *testing.B) {
	const size = 256 << 20
	objs := []Object{{Bucket: "b", Key: "big", Size: size, Rel: "big"}}
	for _, warm := range []bool{false, true} {
		b.Run(fmt.Sprintf("warm=%v", warm), func(b *testing.B) {
			buf := make([]byte, 1<<20)
			b.SetBytes(size)
			for range b.N {
				b.StopTimer()
				mnt := filepath.Join(b.TempDir(), "mnt")
				ff, err := MountFastFile(context.Background(), mnt, b.TempDir(), objs, patternOpener{})
				if err != nil {
					b.Fatal(err)
				}
				if warm {
					ff.Wait(context.Background())
				}
				b.StartTimer()
				f, err := os.Open(filepath.Join(mnt, "big"))
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.CopyBuffer(io.Discard, f, buf)
				f.Close()
				if err != nil || n != size {
					b.Fatalf("read %d bytes: %v", n, err)
				}
				b.StopTimer()
				ff.Close()
				b.StartTimer()
			}
		})
	}
}

// cachedOpener is a gatedOpener whose cache holds some objects as files.
type cachedOpener struct {
	*gatedOpener
	blobs map[string]string // key -> file
}

func (c cachedOpener) CachedBlob(o Object) (string, bool) {
	p, ok := c.blobs[o.Key]
	return p, ok
}

// TestFastFileServesCachedBlobsInPlace: an object the cache holds is
// served from the cached blob through a hard link (no copy, no download,
// even while every download is stuck), and stays readable if the cache
// evicts the blob meanwhile.
func TestFastFileServesCachedBlobsInPlace(t *testing.T) {
	m, objs := channelFixture()
	blob := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(blob, m["p/sub/b.csv"], 0o444); err != nil {
		t.Fatal(err)
	}
	g := &gatedOpener{memOpener: m, held: map[string]bool{}}
	for k := range m {
		g.held[k] = true // every download waits
	}
	_, mnt := mountTest(t, objs, cachedOpener{g, map[string]string{"p/sub/b.csv": blob}})
	if fi, err := os.Stat(blob); err != nil || fi.Sys().(*syscall.Stat_t).Nlink != 2 {
		t.Fatalf("the cached blob is not linked into the spill: %v", err)
	}
	if err := os.Remove(blob); err != nil { // evicted
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(mnt, "sub/b.csv"))
	if err != nil || !bytes.Equal(got, m["p/sub/b.csv"]) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if slices.Contains(g.opened, "p/sub/b.csv") {
		t.Errorf("the cached object was downloaded: %v", g.opened)
	}
}

// keepingOpener records the downloads FastFile hands over for keeping.
type keepingOpener struct {
	*gatedOpener
	mu   sync.Mutex
	kept map[string]string // key -> content at the time
}

func (k *keepingOpener) KeepBlob(path string, o Object) {
	b, _ := os.ReadFile(path)
	k.mu.Lock()
	k.kept[o.Key] = string(b)
	k.mu.Unlock()
}

// TestFastFileKeepsDownloads: every complete download is handed to the
// Opener's cache, and the Stager's cache then serves it (in place) to the
// next mount.
func TestFastFileKeepsDownloads(t *testing.T) {
	m, objs := channelFixture()
	k := &keepingOpener{gatedOpener: &gatedOpener{memOpener: m}, kept: map[string]string{}}
	ff, _ := mountTest(t, objs, k)
	if err := ff.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	k.mu.Lock()
	for _, o := range objs {
		if got, ok := k.kept[o.Key]; o.Size > 0 && (!ok || got != string(m[o.Key])) {
			t.Errorf("%s: kept %v (%d bytes)", o.Key, ok, len(got))
		}
	}
	k.mu.Unlock()

	cache, err := OpenCache(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	s := &Stager{Cache: cache}
	o := Object{Bucket: "b", Key: "k", ETag: "e1", Size: 5}
	spill := filepath.Join(cache.Dir(), "spill")
	os.WriteFile(spill, []byte("hello"), 0o600)
	s.KeepBlob(spill, o)
	if p, ok := s.CachedBlob(o); !ok {
		t.Fatal("the kept download is not in the cache")
	} else if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o444 {
		t.Errorf("cached blob mode %v", fi.Mode().Perm())
	}
	if _, ok := s.CachedBlob(Object{Bucket: "b", Key: "k", ETag: "e2", Size: 5}); ok {
		t.Error("another version of the object hit the cache")
	}
}

// releasedOpener serves memOpener objects; the one under key waits until
// release is closed.
type releasedOpener struct {
	memOpener
	key     string
	release chan struct{}
}

func (r *releasedOpener) Open(ctx context.Context, o Object) (io.ReadCloser, error) {
	if o.Key == r.key {
		select {
		case <-r.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return r.memOpener.Open(ctx, o)
}

// TestFastFilePassthrough: where FUSE passthrough is available (root,
// Linux 6.9+) the kernel reads a completely downloaded object straight
// from its spill file, and no read reaches jobrun; elsewhere reads go
// through jobrun. A file opened while it downloads and opened again once
// complete stays readable through both handles (the kernel refuses a
// passthrough open beside a normal one, which would fail the open).
func TestFastFilePassthrough(t *testing.T) {
	m, objs := channelFixture()
	open := &releasedOpener{memOpener: m, key: "p/sub/b.csv", release: make(chan struct{})}
	ff, mnt := mountTest(t, objs, open)
	b := filepath.Join(mnt, "sub/b.csv")
	h1, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer h1.Close()
	close(open.release)
	if err := ff.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	h2, err := os.Open(b)
	if err != nil {
		t.Fatalf("opening a complete file that is already open: %v", err)
	}
	defer h2.Close()
	for i, h := range []*os.File{h2, h1} {
		if got, err := io.ReadAll(h); err != nil || !bytes.Equal(got, m["p/sub/b.csv"]) {
			t.Errorf("handle %d: %d bytes, %v", i+2, len(got), err)
		}
	}

	// z.txt was never read: no page of it is cached, so a read that
	// reaches jobrun shows in served.
	passthrough := os.Geteuid() == 0 && ff.server.KernelSettings().Flags64()&fuse.CAP_PASSTHROUGH != 0
	before := ff.served.Load()
	got, err := os.ReadFile(filepath.Join(mnt, "z.txt"))
	if err != nil || string(got) != "last" {
		t.Fatalf("z.txt: %q, %v", got, err)
	}
	if reached := ff.served.Load() - before; passthrough && reached != 0 {
		t.Errorf("passthrough is available, but %d read(s) of a complete file reached jobrun", reached)
	} else if !passthrough && reached == 0 {
		t.Error("no passthrough here, yet the read did not reach jobrun")
	}
	t.Logf("passthrough available: %v", passthrough)
}
