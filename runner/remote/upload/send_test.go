//go:build unix

package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeHost is a Runner that runs Serve in-process, from the command line
// Send built: it splits the line as a POSIX shell would (enough of it for
// what Command and sshconn.Quote produce) and checks the agent prefix.
type fakeHost struct {
	agent []string // the words Options.Agent must split into
	mu    sync.Mutex
	cmds  [][]string // the Serve arguments of every command run
	// before, if set, runs before each command; it may replace stdin.
	before func(args []string, stdin io.Reader) io.Reader
}

const fakeAgent = `'/opt/jobrun bin/jobrun' agent upload`

func newFakeHost() *fakeHost {
	return &fakeHost{agent: []string{"/opt/jobrun bin/jobrun", "agent", "upload"}}
}

func (h *fakeHost) Run(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	words, err := shellWords(cmd)
	if err != nil {
		return 2, err
	}
	if len(words) < len(h.agent) || !reflect.DeepEqual(words[:len(h.agent)], h.agent) {
		fmt.Fprintf(stderr, "sh: %s: not found\n", words[0])
		return 127, nil
	}
	args := words[len(h.agent):]
	h.mu.Lock()
	h.cmds = append(h.cmds, args)
	h.mu.Unlock()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	if h.before != nil {
		stdin = h.before(args, stdin)
	}
	if err := Serve(ctx, args, stdin, stdout, stderr); err != nil {
		return 1, nil
	}
	return 0, nil
}

// ops returns the operations run since the last call.
func (h *fakeHost) ops() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ops []string
	for _, c := range h.cmds {
		ops = append(ops, c[0])
	}
	h.cmds = nil
	return ops
}

// shellWords splits a command line made of plain words, single-quoted
// strings and backslash escapes.
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated quote in %q", s)
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '\\' && i+1 < len(s):
			w.WriteByte(s[i+1])
			i++
			inWord = true
		case strings.IndexByte("\"$`;&|<>()*?[]{}~#\t\n", c) >= 0:
			return nil, fmt.Errorf("unquoted shell character %q in %q", c, s)
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

func TestCommand(t *testing.T) {
	args := []string{"link", "--store", "/s t/o're", "--dest", "d\n$(rm -rf /)`x`"}
	words, err := shellWords(Command(fakeAgent, args...))
	want := append([]string{"/opt/jobrun bin/jobrun", "agent", "upload"}, args...)
	if err != nil || !reflect.DeepEqual(words, want) {
		t.Errorf("Command split into %q, %v; want %q", words, err, want)
	}
	if got := Prefix("/opt/jobrun bin/jobrun"); got != fakeAgent {
		t.Errorf("Prefix = %s, want %s", got, fakeAgent)
	}
}

// want is what a materialized tree holds: file contents ("x:" prefix for
// an executable file) and directories ("/").
type want map[string]string

// writeTree creates the files of w below dir (0755 for "x:" ones).
func writeTree(t testing.TB, dir string, w want) {
	t.Helper()
	for p, c := range w {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if c == "/" {
			must(t, os.MkdirAll(full, 0o755))
			continue
		}
		must(t, os.MkdirAll(filepath.Dir(full), 0o755))
		mode := fs.FileMode(0o644)
		if rest, ok := strings.CutPrefix(c, "x:"); ok {
			c, mode = rest, 0o755
		}
		must(t, os.WriteFile(full, []byte(c), mode))
		must(t, os.Chmod(full, mode))
	}
}

// readTree describes the tree at dir the way want does.
func readTree(t testing.TB, dir string) want {
	t.Helper()
	got := want{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			got[rel] = "/"
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s: %v, not a regular file", p, fi.Mode())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		got[rel] = string(b)
		if fi.Mode()&0o111 != 0 {
			got[rel] = "x:" + got[rel]
		}
		return nil
	})
	must(t, err)
	return got
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// sample is a source tree with what trips uploads up: nested and empty
// directories, empty and duplicate files, an executable, a file bigger
// than the copy buffers, odd names.
func sample() want {
	big := make([]byte, 700<<10)
	rand.NewChaCha8([32]byte{1}).Read(big)
	return want{
		"a.csv":              "1,2,3\n",
		"dup.csv":            "1,2,3\n",
		"empty":              "",
		"run.sh":             "x:#!/bin/sh\necho hi\n",
		"sub/deep/big.bin":   string(big),
		"sub/deep":           "/",
		"sub":                "/",
		"emptydir":           "/",
		"sub/emptier":        "/",
		"odd name 'ü'\n\\$x": "odd",
	}
}

type env struct {
	host *fakeHost
	opts Options
	log  *bytes.Buffer
}

func newEnv(t *testing.T, src want) *env {
	root := t.TempDir()
	e := &env{host: newFakeHost(), log: &bytes.Buffer{}}
	e.opts = Options{
		Agent:     fakeAgent,
		Store:     filepath.Join(root, "host", "store"),
		Dest:      filepath.Join(root, "host", "jobs", "j1", "inputs", "train"),
		Source:    filepath.Join(root, "laptop", "data"),
		Name:      "train",
		HashCache: filepath.Join(root, "laptop", "cache"),
		Log:       e.log,
	}
	must(t, os.MkdirAll(e.opts.Source, 0o755))
	writeTree(t, e.opts.Source, src)
	settle()
	return e
}

// settle waits until files just written are old enough for the hash
// cache to trust them (see racyWindow).
func settle() { time.Sleep(2 * racyWindow) }

func (e *env) send(t *testing.T) Stats {
	t.Helper()
	st, err := Send(context.Background(), e.host, e.opts)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	return st
}

func TestSend(t *testing.T) {
	src := sample()
	e := newEnv(t, src)
	var progress []int64
	var total int64
	e.opts.Progress = func(done, t int64) { progress, total = append(progress, done), t }
	st := e.send(t)
	e.opts.Progress = nil
	if got := readTree(t, e.opts.Dest); !reflect.DeepEqual(got, src) {
		t.Errorf("Dest holds\n%q\nwant\n%q", got, src)
	}
	if ops := e.host.ops(); !reflect.DeepEqual(ops, []string{"link", "receive", "link"}) {
		t.Errorf("first send ran %v", ops)
	}
	// 6 files, 5 distinct contents (dup.csv is a.csv).
	if st.Files != 6 || st.SentBlobs != 5 || st.SentBytes != st.Bytes-6 || st.HashedBytes != st.Bytes {
		t.Errorf("first send: %+v", st)
	}
	if len(progress) == 0 || progress[len(progress)-1] != st.SentBytes || total != st.SentBytes {
		t.Errorf("progress %v of %d, want it to end at %d", progress, total, st.SentBytes)
	}
	if want := "uploading train: 700.0 KiB in 6 files, 700.0 KiB new\n"; e.log.String() != want {
		t.Errorf("log %q, want %q", e.log.String(), want)
	}

	// Unchanged: one command, nothing hashed, nothing sent.
	e.log.Reset()
	st = e.send(t)
	if ops := e.host.ops(); !reflect.DeepEqual(ops, []string{"link"}) {
		t.Errorf("resend ran %v", ops)
	}
	if st.SentBlobs != 0 || st.HashedBytes != 0 || st.Files != 6 {
		t.Errorf("resend: %+v", st)
	}
	if want := "uploading train: 700.0 KiB in 6 files, 0 B new\n"; e.log.String() != want {
		t.Errorf("log %q, want %q", e.log.String(), want)
	}

	// Changed: a new file, a removed one, one rewritten.
	must(t, os.Remove(filepath.Join(e.opts.Source, "dup.csv")))
	must(t, os.WriteFile(filepath.Join(e.opts.Source, "a.csv"), []byte("4,5,6\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(e.opts.Source, "sub", "new.csv"), []byte("7\n"), 0o644))
	delete(src, "dup.csv")
	src["a.csv"], src["sub/new.csv"] = "4,5,6\n", "7\n"
	st = e.send(t)
	if got := readTree(t, e.opts.Dest); !reflect.DeepEqual(got, src) {
		t.Errorf("after changes Dest holds\n%q\nwant\n%q", got, src)
	}
	if st.SentBlobs != 2 || st.SentBytes != 8 || st.HashedBytes != 8 {
		t.Errorf("send after changes: %+v", st)
	}
	assertNoLeftovers(t, e.opts)
}

// assertNoLeftovers checks that no temp file or tree is left on the host.
func assertNoLeftovers(t *testing.T, o Options) {
	t.Helper()
	if ents, _ := os.ReadDir(filepath.Join(o.Store, "tmp")); len(ents) != 0 {
		t.Errorf("temp blobs left: %v", ents)
	}
	ents, _ := os.ReadDir(filepath.Dir(o.Dest))
	for _, e := range ents {
		if e.Name() != filepath.Base(o.Dest) {
			t.Errorf("left beside Dest: %s", e.Name())
		}
	}
}

func TestSendHardLinksReadOnly(t *testing.T) {
	e := newEnv(t, want{"a": "same", "b": "same", "x": "x:same"})
	e.send(t)
	var ino []uint64
	for _, p := range []string{"a", "b", "x"} {
		fi, err := os.Stat(filepath.Join(e.opts.Dest, p))
		must(t, err)
		ino = append(ino, fi.Sys().(*syscall.Stat_t).Ino)
		if want := map[string]fs.FileMode{"a": 0o444, "b": 0o444, "x": 0o555}[p]; fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	if ino[0] != ino[1] || ino[0] == ino[2] {
		t.Errorf("inodes %v: a and b should be one blob, x its executable copy", ino)
	}
}

func TestSendSingleFile(t *testing.T) {
	e := newEnv(t, want{"model.tar.gz": "tgz"})
	e.opts.Source = filepath.Join(e.opts.Source, "model.tar.gz")
	e.opts.Name = ""
	e.send(t)
	if got := readTree(t, e.opts.Dest); !reflect.DeepEqual(got, want{"model.tar.gz": "tgz"}) {
		t.Errorf("Dest holds %q", got)
	}
	if !strings.HasPrefix(e.log.String(), "uploading model.tar.gz: 3 B in 1 files") {
		t.Errorf("log %q", e.log.String())
	}
}

func TestSendFollowsSymlinks(t *testing.T) {
	e := newEnv(t, want{"real/a": "A", "real/sub/b": "B"})
	outside := t.TempDir()
	writeTree(t, outside, want{"c": "C"})
	must(t, os.Symlink("real/a", filepath.Join(e.opts.Source, "link-a")))
	must(t, os.Symlink("real", filepath.Join(e.opts.Source, "link-dir")))
	must(t, os.Symlink(filepath.Join(outside, "c"), filepath.Join(e.opts.Source, "link-out")))
	e.send(t)
	wantTree := want{"real": "/", "real/a": "A", "real/sub": "/", "real/sub/b": "B", "link-a": "A",
		"link-dir": "/", "link-dir/a": "A", "link-dir/sub": "/", "link-dir/sub/b": "B", "link-out": "C"}
	if got := readTree(t, e.opts.Dest); !reflect.DeepEqual(got, wantTree) {
		t.Errorf("Dest holds\n%q\nwant\n%q", got, wantTree)
	}
}

func TestSendSourceErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		setup func(src string) error
		want  string
	}{
		"dangling symlink": {func(src string) error { return os.Symlink("nowhere", filepath.Join(src, "dangling")) },
			`dangling: symbolic link to "nowhere", which cannot be read`},
		"symlink loop": {func(src string) error { return os.Symlink("..", filepath.Join(src, "sub", "up")) },
			"up: a symbolic link loops back"},
		"self loop": {func(src string) error { return os.Symlink("self", filepath.Join(src, "self")) },
			"self: symbolic link"},
		"fifo": {func(src string) error { return syscall.Mkfifo(filepath.Join(src, "pipe"), 0o644) },
			"pipe: a named pipe (FIFO), which cannot be uploaded"},
		"unreadable": {func(src string) error { return os.Chmod(filepath.Join(src, "sub", "a"), 0) },
			"sub/a: permission denied"},
		"missing source": {func(src string) error { return os.RemoveAll(src) }, "data: no such file"},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, want{"sub/a": "a"})
			must(t, tc.setup(e.opts.Source))
			if name == "unreadable" && os.Geteuid() == 0 {
				t.Skip("root reads files whatever their mode")
			}
			_, err := Send(context.Background(), e.host, e.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "upload train to ") {
				t.Errorf("Send: %v\nwant an error containing %q", err, tc.want)
			}
			if ops := e.host.ops(); len(ops) != 0 {
				t.Errorf("ran %v on the host", ops)
			}
		})
	}
}

// TestSendFailureKeepsDest breaks the blob stream half-way: Dest keeps
// the previous tree, the blobs that arrived whole are kept, and the next
// Send sends only the rest.
func TestSendFailureKeepsDest(t *testing.T) {
	e := newEnv(t, want{"a": "old"})
	e.send(t)
	for _, p := range []string{"1", "2", "3"} {
		must(t, os.WriteFile(filepath.Join(e.opts.Source, p), bytes.Repeat([]byte(p), 100<<10), 0o644))
	}
	settle()
	e.host.before = func(args []string, stdin io.Reader) io.Reader {
		if args[0] == "receive" {
			return io.LimitReader(stdin, 150<<10) // the first blob and half the second
		}
		return stdin
	}
	_, err := Send(context.Background(), e.host, e.opts)
	if err == nil || !strings.Contains(err.Error(), "sending blobs: host command exited with status 1") ||
		!strings.Contains(err.Error(), "stream ended after") {
		t.Fatalf("Send: %v", err)
	}
	if got := readTree(t, e.opts.Dest); !reflect.DeepEqual(got, want{"a": "old"}) {
		t.Errorf("Dest after a failed send holds %q", got)
	}
	assertNoLeftovers(t, e.opts)
	e.host.before = nil
	e.host.ops()
	st := e.send(t)
	if st.SentBlobs != 2 || len(readTree(t, e.opts.Dest)) != 4 {
		t.Errorf("retry: %+v, Dest %d files", st, len(readTree(t, e.opts.Dest)))
	}
}

// TestSendFileChangedAfterHashing rewrites a file between hashing and
// sending: Send names it, and Dest is untouched.
func TestSendFileChangedAfterHashing(t *testing.T) {
	e := newEnv(t, want{"a": "aaaa"})
	p := filepath.Join(e.opts.Source, "a")
	e.host.before = func(args []string, stdin io.Reader) io.Reader {
		if args[0] == "link" {
			must(t, os.WriteFile(p, []byte("bbbb"), 0o644))
		}
		return stdin
	}
	_, err := Send(context.Background(), e.host, e.opts)
	if err == nil || !strings.Contains(err.Error(), p+" changed after it was hashed") {
		t.Fatalf("Send: %v", err)
	}
	if _, err := os.Stat(e.opts.Dest); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Dest exists after a failed send: %v", err)
	}
}

func TestSendHostErrors(t *testing.T) {
	e := newEnv(t, want{"a": "a"})
	e.opts.Agent = "'/usr/local/bin/nothing' agent upload"
	_, err := Send(context.Background(), e.host, e.opts)
	if err == nil || !strings.Contains(err.Error(), "status 127: sh: /usr/local/bin/nothing: not found (the jobrun agent binary is missing") {
		t.Errorf("Send with a wrong agent: %v", err)
	}
	e = newEnv(t, want{"a": "a"})
	must(t, os.MkdirAll(filepath.Dir(e.opts.Store), 0o755))
	must(t, os.WriteFile(e.opts.Store, nil, 0o644)) // a file where the store should be
	_, err = Send(context.Background(), e.host, e.opts)
	if err == nil || !strings.Contains(err.Error(), "linking: host command exited with status 1: jobrun agent upload: blob store: mkdir") {
		t.Errorf("Send to a broken store: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Send(ctx, e.host, e.opts); !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a cancelled context: %v", err)
	}
}

// TestHashCache checks that the cache is used only while a file's
// identity is unchanged: any change to the content, the inode, the
// timestamps means reading it again.
func TestHashCache(t *testing.T) {
	e := newEnv(t, want{"a": "aaaa", "b": "bbbb", "c": "cccc", "d": "dddd", "e": "eeee"})
	var mu sync.Mutex
	var hashed []string
	e.opts.hashed = func(p string) {
		mu.Lock()
		hashed = append(hashed, filepath.Base(p))
		mu.Unlock()
	}
	sendHashing := func(what string, wantHashed ...string) {
		t.Helper()
		hashed = nil
		e.send(t)
		slices.Sort(hashed)
		if !reflect.DeepEqual(hashed, wantHashed) {
			t.Errorf("%s: hashed %q, want %q", what, hashed, wantHashed)
		}
	}
	sendHashing("first send", "a", "b", "c", "d", "e")
	sendHashing("unchanged")
	src := func(p string) string { return filepath.Join(e.opts.Source, p) }
	old, err := os.Stat(src("a"))
	must(t, err)

	// Same size, mtime put back: the change time still gives it away.
	must(t, os.WriteFile(src("a"), []byte("AAAA"), 0o644))
	must(t, os.Chtimes(src("a"), old.ModTime(), old.ModTime()))
	// Replaced by another file of the same size and mtime: a new inode.
	must(t, os.WriteFile(src("b.new"), []byte("BBBB"), 0o644))
	must(t, os.Chtimes(src("b.new"), old.ModTime(), old.ModTime()))
	must(t, os.Rename(src("b.new"), src("b")))
	// Only touched: read again, nothing new to send.
	must(t, os.Chtimes(src("c"), time.Now(), time.Now()))
	// Grown.
	must(t, os.WriteFile(src("d"), []byte("ddddd"), 0o644))
	settle()
	sendHashing("after changes", "a", "b", "c", "d")
	if got := readTree(t, e.opts.Dest); got["a"] != "AAAA" || got["b"] != "BBBB" || got["d"] != "ddddd" {
		t.Errorf("Dest holds %q", got)
	}
	sendHashing("unchanged again")

	// A damaged cache file is ignored, not trusted.
	files, _ := filepath.Glob(filepath.Join(e.opts.HashCache, "upload-*"))
	if len(files) != 1 {
		t.Fatalf("cache files %v", files)
	}
	must(t, os.WriteFile(files[0], []byte("jobrun-upload-hashes 1 garbage\n"), 0o644))
	sendHashing("damaged cache", "a", "b", "c", "d", "e")
	// No cache directory: everything hashed every time.
	e.opts.HashCache = ""
	sendHashing("no cache", "a", "b", "c", "d", "e")
	sendHashing("no cache again", "a", "b", "c", "d", "e")
}

func TestCacheable(t *testing.T) {
	start := time.Unix(1_800_000_000, 500_000_000)
	ns := func(d time.Duration) int64 { return start.Add(d).UnixNano() }
	for _, tc := range []struct {
		name string
		id   fileID
		ok   bool
	}{
		{"old file", fileID{Mtime: ns(-time.Hour), Ctime: ns(-time.Hour), Ino: 1}, true},
		{"written just before", fileID{Mtime: ns(-5 * time.Millisecond), Ctime: ns(-5 * time.Millisecond), Ino: 1}, false},
		{"chmod just before", fileID{Mtime: ns(-time.Hour), Ctime: ns(-time.Millisecond), Ino: 1}, false},
		{"mtime in the future", fileID{Mtime: ns(time.Hour), Ctime: ns(-time.Hour), Ino: 1}, false},
		{"whole seconds, 1 s old", fileID{Mtime: ns(-1500 * time.Millisecond), Ctime: ns(-1500 * time.Millisecond), Ino: 1}, false},
		{"whole seconds, 3 s old", fileID{Mtime: ns(-3500 * time.Millisecond), Ctime: ns(-3500 * time.Millisecond), Ino: 1}, true},
		{"no inode", fileID{Mtime: ns(-time.Hour), Ctime: ns(-time.Hour)}, false},
	} {
		if got := tc.id.cacheable(start); got != tc.ok {
			t.Errorf("%s: cacheable = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

// TestConcurrentSends runs several Sends of one source at once, sharing
// the hash cache and the store: all succeed, and the cache stays valid.
func TestConcurrentSends(t *testing.T) {
	src := sample()
	e := newEnv(t, src)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		o := e.opts
		o.Dest = fmt.Sprintf("%s-%d", e.opts.Dest, i)
		o.Log = nil
		wg.Go(func() { _, errs[i] = Send(context.Background(), e.host, o) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Send %d: %v", i, err)
		} else if got := readTree(t, fmt.Sprintf("%s-%d", e.opts.Dest, i)); !reflect.DeepEqual(got, src) {
			t.Errorf("Dest %d holds %q", i, got)
		}
	}
	e.opts.hashed = func(p string) { t.Errorf("hashed %s again", p) }
	e.opts.Dest += "-0"
	if st := e.send(t); st.SentBlobs != 0 {
		t.Errorf("resend: %+v", st)
	}
}

// TestSweep checks that leftovers of killed runs are removed once stale,
// and only then.
func TestSweep(t *testing.T) {
	e := newEnv(t, want{"a": "a"})
	parent := filepath.Dir(e.opts.Dest)
	stale, fresh := e.opts.Dest+".tmp-stale", e.opts.Dest+".old-fresh"
	// Temp blobs of a dead process and of a live one (this test's).
	dead := filepath.Join(e.opts.Store, "tmp", "recv-2147483647-1")
	live := filepath.Join(e.opts.Store, "tmp", fmt.Sprintf("recv-%d-1", os.Getpid()))
	for _, d := range []string{stale, fresh, filepath.Dir(dead)} {
		must(t, os.MkdirAll(d, 0o755))
	}
	must(t, os.WriteFile(dead, nil, 0o444))
	must(t, os.WriteFile(live, nil, 0o444))
	long := time.Now().Add(-2 * staleAfter)
	for _, p := range []string{stale, dead, live} {
		must(t, os.Chtimes(p, long, long))
	}
	e.send(t)
	ents, _ := os.ReadDir(parent)
	if len(ents) != 2 || ents[0].Name() != "train" || ents[1].Name() != "train.old-fresh" {
		t.Errorf("beside Dest: %v, want train and train.old-fresh", ents)
	}
	if _, err := os.Stat(dead); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temp blob of a dead process kept: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("temp blob of a live process removed: %v", err)
	}
}

func TestSendEmptyDir(t *testing.T) {
	e := newEnv(t, want{})
	if st := e.send(t); st.Files != 0 || st.SentBlobs != 0 {
		t.Errorf("Send: %+v", st)
	}
	if got := readTree(t, e.opts.Dest); len(got) != 0 {
		t.Errorf("Dest holds %q", got)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		200 << 20: "200.0 MiB", 1288490189: "1.2 GiB", 3 << 40: "3.0 TiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
