package channels

// FastFile mode: the container starts before the channel is local. jobrun
// mounts a read-only FUSE file system (github.com/hanwen/go-fuse/v2) that
// lists every object at its Rel path, with its size, from the start. A
// background downloader copies objects, in listing order, into spill files;
// a read returns as soon as the bytes it asks for are on disk. Opening or
// reading an object nobody has started yet starts it at once, beside the
// in-order workers, so a reader never waits for the objects before it.
// When the Opener can read byte ranges (RangeOpener), a read far ahead of
// its object's download is served by a ranged GET instead of waiting.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// ErrNoFUSE means FastFile mode cannot mount here (no /dev/fuse, or the
// mount was refused, e.g. not root and no fusermount): fall back to File
// mode and say so.
var ErrNoFUSE = errors.New("FUSE is not available")

// RangeOpener is an Opener that can also read n bytes of an object from
// offset off. FastFile uses it, when the Opener has it, to resume a broken
// download and to serve reads far ahead of the download.
type RangeOpener interface {
	OpenRange(ctx context.Context, o Object, off, n int64) (io.ReadCloser, error)
}

const (
	// fastFileWorkers download objects in listing order, several at once
	// because with small objects the per-request latency dominates.
	fastFileWorkers = 8
	// fetchAttempts bounds retries of one object's download; each retry
	// resumes where the last one stopped when the Opener can read ranges.
	fetchAttempts = 3
	// rangeAhead is how far beyond an object's downloaded bytes a read
	// must start to be served by a ranged read rather than by waiting.
	rangeAhead = 4 << 20
	// fetchBuf is the download copy buffer, one per running download.
	fetchBuf = 256 << 10
	// cacheTimeout is how long the kernel may cache names and attributes:
	// the tree never changes while mounted.
	cacheTimeout = 24 * time.Hour
)

// FastFile is a mounted FastFile channel.
type FastFile struct {
	dir    string
	tmp    string // spill files, one per object, named by index
	objs   []Object
	spills []*spill
	open   Opener
	ranged RangeOpener // nil unless open has it
	mtime  time.Time
	server *fuse.Server

	ctx    context.Context // downloads; cancelled by Close
	cancel context.CancelFunc
	cursor atomic.Int64 // next index for the in-order workers
	served atomic.Int64 // reads that reached Read (not passthrough)
	mu     sync.Mutex   // guards closed and wg.Add
	closed bool
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// MountFastFile mounts objs read-only at mountDir and starts downloading
// them into a temporary directory under spillDir. Downloads run under ctx;
// the mount stays until Close. The error wraps ErrNoFUSE when FUSE cannot
// be used here.
func MountFastFile(ctx context.Context, mountDir, spillDir string, objs []Object, open Opener) (*FastFile, error) {
	objs = dropDirMarkers(objs)
	if err := checkTree(objs); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(spillDir, 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(spillDir, "fastfile-")
	if err != nil {
		return nil, err
	}
	ff := newFastFile(ctx, mountDir, tmp, objs, open)
	if ff.server, err = mountFUSE(mountDir, &ffRoot{ff: ff}); err != nil {
		ff.cancel()
		os.RemoveAll(tmp)
		return nil, err
	}
	for range fastFileWorkers {
		ff.spawn(ff.worker)
	}
	return ff, nil
}

func newFastFile(ctx context.Context, dir, tmp string, objs []Object, open Opener) *FastFile {
	ff := &FastFile{dir: dir, tmp: tmp, objs: objs, open: open, mtime: time.Now()}
	ff.ranged, _ = open.(RangeOpener)
	ff.ctx, ff.cancel = context.WithCancel(ctx)
	ff.spills = make([]*spill, len(objs))
	cached, _ := open.(CachedBlobber)
	for i, o := range objs {
		ff.spills[i] = newSpill(filepath.Join(tmp, strconv.Itoa(i)), o.Size)
		if cached != nil && o.Size > 0 {
			ff.spills[i].linkCached(cached, o)
		}
	}
	return ff
}

// CachedBlobber is an Opener that can name a complete local copy of an
// object (the Stager's cache): FastFile then serves it in place instead of
// copying it into a spill file.
type CachedBlobber interface {
	CachedBlob(o Object) (path string, ok bool)
}

// BlobKeeper is an Opener that can keep a complete download of an object
// (the Stager's cache, which then holds it by a hard link).
type BlobKeeper interface {
	KeepBlob(path string, o Object)
}

// linkCached makes the spill a hard link to a cached blob of the object:
// no copy, no second use of the disk, and the blob's content stays
// readable through the link even if the cache evicts it meanwhile. Where
// linking fails (another file system) the object is downloaded as usual
// (from the cache, by Open).
func (sp *spill) linkCached(c CachedBlobber, o Object) {
	blob, ok := c.CachedBlob(o)
	if !ok || os.Link(blob, sp.path) != nil {
		return
	}
	sp.claimed.Store(true)
	sp.done, sp.finished = o.Size, true
}

// dropDirMarkers leaves out the empty "dir/" objects S3 consoles create
// to show folders: they name no file.
func dropDirMarkers(objs []Object) []Object {
	out := make([]Object, 0, len(objs))
	for _, o := range objs {
		if !(o.Size == 0 && strings.HasSuffix(o.Rel, "/")) {
			out = append(out, o)
		}
	}
	return out
}

// checkTree rejects Rel paths that are not clean relative paths, and
// collisions (two objects at one path, or a file where a directory must
// be): the file system could not show them.
func checkTree(objs []Object) error {
	files := make(map[string]bool, len(objs))
	dirs := map[string]bool{}
	for _, o := range objs {
		rel := o.Rel
		if rel == "" || path.IsAbs(rel) || path.Clean(rel) != rel || rel == ".." || strings.HasPrefix(rel, "../") {
			return fmt.Errorf("fastfile: s3://%s/%s: bad path %q", o.Bucket, o.Key, rel)
		}
		if files[rel] || dirs[rel] {
			return fmt.Errorf("fastfile: s3://%s/%s: %q is listed twice or is also a directory", o.Bucket, o.Key, rel)
		}
		files[rel] = true
		for d := path.Dir(rel); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for d := range dirs {
		if files[d] {
			return fmt.Errorf("fastfile: %q is both a file and a directory", d)
		}
	}
	return nil
}

// mountFUSE mounts root at dir: read-only, visible to every user (the
// container may run as anyone), names and attributes cached long.
func mountFUSE(dir string, root fs.InodeEmbedder) (*fuse.Server, error) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoFUSE, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	timeout := cacheTimeout
	opts := &fs.Options{
		EntryTimeout:    &timeout,
		AttrTimeout:     &timeout,
		NegativeTimeout: &timeout,
		MountOptions: fuse.MountOptions{
			// DirectMount calls mount(2) itself (root); without the right,
			// go-fuse falls back to the fusermount helper.
			DirectMount:      true,
			DirectMountFlags: directMountFlags,
			AllowOther:       true,
			Options:          []string{"ro", "default_permissions"},
			FsName:           "jobrun",
			Name:             "jobrun",
			DisableXAttrs:    true,
			// 1 MiB reads (the kernel's default cap is 128 KiB): fewer
			// round trips, about +20% read throughput here.
			MaxReadAhead: 1 << 20,
			MaxWrite:     1 << 20,
		},
	}
	server, err := fs.Mount(dir, root, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: mounting %s: %s", ErrNoFUSE, dir, strings.TrimSpace(err.Error()))
	}
	return server, nil
}

// Dir is the mount point.
func (ff *FastFile) Dir() string { return ff.dir }

// Progress reports the bytes downloaded so far and the channel's total.
func (ff *FastFile) Progress() (done, total int64) {
	for i, sp := range ff.spills {
		done += sp.state().done
		total += ff.objs[i].Size
	}
	return done, total
}

// Wait blocks until every object is downloaded, returning the first
// download error, or ctx's error if ctx ends first.
func (ff *FastFile) Wait(ctx context.Context) error {
	for i, sp := range ff.spills {
		if err := sp.waitFinished(ctx); err != nil {
			o := ff.objs[i]
			return fmt.Errorf("s3://%s/%s: %w", o.Bucket, o.Key, err)
		}
	}
	return nil
}

// Close stops the downloads, unmounts and removes the spill files. When a
// process still holds a file open, the unmount is lazy (MNT_DETACH): the
// mount disappears from the tree at once, and its remaining readers get
// errors. Close is idempotent.
func (ff *FastFile) Close() error {
	ff.closeOnce.Do(func() { ff.closeErr = ff.shutdown() })
	return ff.closeErr
}

func (ff *FastFile) shutdown() error {
	ff.mu.Lock()
	ff.closed = true
	ff.mu.Unlock()
	ff.cancel()
	err := ff.unmount()
	ff.wg.Wait()
	if rerr := os.RemoveAll(ff.tmp); err == nil {
		err = rerr
	}
	return err
}

// unmount tries a clean unmount, which fails while a file is open, then a
// lazy one.
func (ff *FastFile) unmount() error {
	if err := ff.server.Unmount(); err == nil {
		return nil
	}
	if err := lazyUnmount(ff.dir); err != nil {
		return fmt.Errorf("unmounting %s: %w", ff.dir, err)
	}
	return nil
}

// spawn runs fn in a tracked goroutine unless Close has begun.
func (ff *FastFile) spawn(fn func()) {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	if ff.closed {
		return
	}
	ff.wg.Add(1)
	go func() {
		defer ff.wg.Done()
		fn()
	}()
}

// worker downloads unclaimed objects in listing order until none is left.
func (ff *FastFile) worker() {
	for ff.ctx.Err() == nil {
		i := int(ff.cursor.Add(1) - 1)
		if i >= len(ff.spills) {
			return
		}
		if ff.spills[i].claim() {
			ff.fetch(i)
		}
	}
}

// bump starts object i's download now, if nothing has started it: a
// reader is waiting for it.
func (ff *FastFile) bump(i int) {
	if ff.spills[i].claim() {
		ff.spawn(func() { ff.fetch(i) })
	}
}

// fetch downloads object i into its spill file, retrying a few times.
func (ff *FastFile) fetch(i int) {
	sp := ff.spills[i]
	var err error
	for attempt := range fetchAttempts {
		if attempt > 0 && !sleepCtx(ff.ctx, time.Duration(attempt)*200*time.Millisecond) {
			break
		}
		if err = ff.fetchOnce(i); err == nil || ff.ctx.Err() != nil {
			break
		}
	}
	if err == nil {
		err = ff.ctx.Err()
	}
	if keeper, ok := ff.open.(BlobKeeper); ok && err == nil {
		keeper.KeepBlob(sp.path, ff.objs[i]) // a rerun then serves it in place
	}
	sp.finish(err)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// fetchOnce copies object i from where its spill file ends to its size.
func (ff *FastFile) fetchOnce(i int) error {
	o, sp := ff.objs[i], ff.spills[i]
	f, err := os.OpenFile(sp.path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	off := sp.state().done
	rc, err := ff.openAt(o, off)
	if err != nil {
		return err
	}
	defer rc.Close()
	buf := make([]byte, fetchBuf)
	for off < o.Size {
		n, rerr := rc.Read(buf[:min(int64(len(buf)), o.Size-off)])
		if n > 0 {
			if _, err := f.WriteAt(buf[:n], off); err != nil {
				return err
			}
			off += int64(n)
			sp.advance(int64(n))
		}
		if rerr == io.EOF && off < o.Size {
			return fmt.Errorf("object ended at %d of %d bytes: %w", off, o.Size, io.ErrUnexpectedEOF)
		}
		if rerr != nil && rerr != io.EOF {
			return rerr
		}
	}
	return nil
}

// openAt opens object o at offset off: a ranged read when the Opener has
// one, otherwise the whole object with the first off bytes skipped.
func (ff *FastFile) openAt(o Object, off int64) (io.ReadCloser, error) {
	if off > 0 && ff.ranged != nil {
		return ff.ranged.OpenRange(ff.ctx, o, off, o.Size-off)
	}
	rc, err := ff.open.Open(ff.ctx, o)
	if err != nil || off == 0 {
		return rc, err
	}
	if _, err := io.CopyN(io.Discard, rc, off); err != nil {
		rc.Close()
		return nil, err
	}
	return rc, nil
}

// read serves a FUSE read of object i from the spill file h, waiting for
// the download to cover it, or by a ranged read when it is far ahead.
func (ff *FastFile) read(ctx context.Context, i int, h *os.File, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	size, sp := ff.objs[i].Size, ff.spills[i]
	if off >= size {
		return fuse.ReadResultData(nil), 0
	}
	dest = dest[:min(int64(len(dest)), size-off)]
	end := off + int64(len(dest))
	if done := sp.state().done; done < end {
		ff.bump(i)
		if ff.ranged != nil && off >= done+rangeAhead {
			return ff.readRange(ctx, i, dest, off)
		}
		if err := sp.waitFor(ctx, ff.ctx, end); err != nil {
			return nil, errno(ctx)
		}
	}
	// The bytes go from the spill file to the kernel by splice(2), without
	// a copy through this process.
	return fuse.ReadResultFd(h.Fd(), off, len(dest)), 0
}

// readRange reads dest straight from the object, bypassing the spill.
func (ff *FastFile) readRange(ctx context.Context, i int, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	rc, err := ff.ranged.OpenRange(ctx, ff.objs[i], off, int64(len(dest)))
	if err != nil {
		return nil, errno(ctx)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, dest); err != nil {
		return nil, errno(ctx)
	}
	return fuse.ReadResultData(dest), 0
}

// errno is a failed read's error number: EINTR when the reading process
// was interrupted (FUSE cancels its request), EIO for anything else; the
// download error itself is reported by Wait.
func errno(ctx context.Context) syscall.Errno {
	if ctx.Err() != nil {
		return syscall.EINTR
	}
	return syscall.EIO
}

// spill tracks one object's spill file: how many leading bytes are on
// disk, and how the download ended.
type spill struct {
	path    string
	claimed atomic.Bool

	mu       sync.Mutex
	done     int64
	finished bool
	err      error
	wake     chan struct{} // closed and replaced on every change
}

func newSpill(path string, size int64) *spill {
	sp := &spill{path: path, wake: make(chan struct{})}
	if size == 0 {
		sp.claimed.Store(true)
		sp.finished = true
	}
	return sp
}

// claim reports whether the caller is the one to download the object.
func (sp *spill) claim() bool { return sp.claimed.CompareAndSwap(false, true) }

// spillState is a snapshot of a spill; wake is closed at the next change.
type spillState struct {
	done     int64
	finished bool
	err      error
	wake     <-chan struct{}
}

func (sp *spill) state() spillState {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return spillState{sp.done, sp.finished, sp.err, sp.wake}
}

func (sp *spill) advance(n int64) {
	sp.mu.Lock()
	sp.done += n
	sp.notifyLocked()
	sp.mu.Unlock()
}

func (sp *spill) finish(err error) {
	sp.mu.Lock()
	sp.finished, sp.err = true, err
	sp.notifyLocked()
	sp.mu.Unlock()
}

func (sp *spill) notifyLocked() {
	close(sp.wake)
	sp.wake = make(chan struct{})
}

// waitFor blocks until the first end bytes are on disk, the download
// fails, the request is interrupted (ctx) or the mount closes (stop).
func (sp *spill) waitFor(ctx, stop context.Context, end int64) error {
	for {
		st := sp.state()
		switch {
		case st.done >= end:
			return nil
		case st.finished && st.err != nil:
			return st.err
		case st.finished:
			return io.ErrUnexpectedEOF
		}
		select {
		case <-st.wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-stop.Done():
			return stop.Err()
		}
	}
}

// waitFinished blocks until the download has ended, returning its error.
func (sp *spill) waitFinished(ctx context.Context) error {
	for {
		st := sp.state()
		if st.finished {
			return st.err
		}
		select {
		case <-st.wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ffRoot is the mount's root directory; it builds the whole tree when
// mounted. Directories are plain persistent inodes, so the kernel lists
// them from the tree and never forgets them.
type ffRoot struct {
	fs.Inode
	ff *FastFile
}

var _ fs.NodeOnAdder = (*ffRoot)(nil)

func (r *ffRoot) OnAdd(ctx context.Context) {
	for i, o := range r.ff.objs {
		parent := &r.Inode
		dir, base := path.Split(o.Rel)
		for _, name := range strings.Split(strings.TrimSuffix(dir, "/"), "/") {
			if name != "" {
				parent = childDir(ctx, parent, name)
			}
		}
		node := &ffFile{ff: r.ff, idx: i}
		parent.AddChild(base, parent.NewPersistentInode(ctx, node, fs.StableAttr{Mode: fuse.S_IFREG}), false)
	}
}

func childDir(ctx context.Context, parent *fs.Inode, name string) *fs.Inode {
	if ch := parent.GetChild(name); ch != nil {
		return ch
	}
	ch := parent.NewPersistentInode(ctx, &fs.Inode{}, fs.StableAttr{Mode: fuse.S_IFDIR})
	parent.AddChild(name, ch, false)
	return ch
}

// ffFile is one object in the tree.
type ffFile struct {
	fs.Inode
	ff    *FastFile
	idx   int
	opens atomic.Int32 // handles open, released or not by the kernel yet
}

var (
	_ fs.NodeGetattrer = (*ffFile)(nil)
	_ fs.NodeOpener    = (*ffFile)(nil)
)

func (n *ffFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	size := n.ff.objs[n.idx].Size
	out.Mode = fuse.S_IFREG | 0o444
	out.Size = uint64(size)
	out.Blocks = uint64(size+511) / 512
	out.Nlink = 1
	out.SetTimes(nil, &n.ff.mtime, &n.ff.mtime)
	return 0
}

// Open refuses writing (the mount is read-only anyway), starts the
// object's download if it has not started (the reader will want it
// next), and opens the spill file for this handle's reads. The kernel may
// keep the pages it has read: the content never changes.
func (n *ffFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	n.ff.bump(n.idx)
	f, err := os.OpenFile(n.ff.spills[n.idx].path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, syscall.EIO
	}
	n.opens.Add(1)
	return &ffHandle{node: n, f: f}, fuse.FOPEN_KEEP_CACHE, 0
}

// ffHandle is an open file: its own descriptor on the spill file, so the
// number of descriptors follows the files in use, not the channel size.
type ffHandle struct {
	node *ffFile
	f    *os.File
}

var (
	_ fs.FileReader          = (*ffHandle)(nil)
	_ fs.FileReleaser        = (*ffHandle)(nil)
	_ fs.FilePassthroughFder = (*ffHandle)(nil)
)

func (h *ffHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.node.ff.served.Add(1)
	return h.node.ff.read(ctx, h.node.idx, h.f, dest, off)
}

// PassthroughFd lets the kernel read a completely downloaded object
// straight from its spill file (FUSE passthrough, Linux 6.9+, as root):
// no request reaches this process, reads run at the file system's speed.
// go-fuse asks when the object has no passthrough handle open. The kernel
// refuses a passthrough open of a file that is open without it, and that
// refusal would fail the open: so only a handle that is the object's only
// one qualifies (a handle the kernel released but this process has not
// heard of yet only sends this one through Read). Where the kernel or the
// rights do not allow it, go-fuse stops asking and reads go through Read.
func (h *ffHandle) PassthroughFd() (int, bool) {
	n := h.node
	st := n.ff.spills[n.idx].state()
	if !st.finished || st.err != nil || st.done != n.ff.objs[n.idx].Size || n.opens.Load() != 1 {
		return 0, false
	}
	return int(h.f.Fd()), true
}

func (h *ffHandle) Release(ctx context.Context) syscall.Errno {
	h.f.Close()
	h.node.opens.Add(-1)
	return 0
}
