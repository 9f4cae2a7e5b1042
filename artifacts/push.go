package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// Compression values of PushOptions and UploadRecord.
const (
	CompressionNone = "none"
	CompressionGzip = "gzip"
)

// fingerprintMeta is the S3 user metadata key holding an archive's
// treeFingerprint.
const fingerprintMeta = "jobrun-source"

// PushOptions tune Push.
type PushOptions struct {
	// Compression "gzip" uploads model/ and output/data/ as SageMaker's
	// output/model.tar.gz and output/output.tar.gz, compressed while they
	// are uploaded; "none" uploads them file by file. "" means what an
	// earlier push of the run used, else "none".
	Compression string
	// Workers is how many files are uploaded at once; default 16.
	Workers int
	// Log receives warnings; nil means slog.Default().
	Log *slog.Logger
	// Progress, when set, is called from several goroutines with the bytes
	// handled so far (sent, or found already there) and the total.
	Progress func(done, total int64)
}

// Push copies a run directory to <dst>/<job-name>/, keeping its layout,
// and returns the record as it wrote it.
//
// It copies only what is missing or differs at dst (by size, then by
// CRC-32C on S3, or modification time on a local store), so pushing again
// after a failure resumes where it stopped; unfinished multipart uploads
// left below the run's prefix by a failed attempt are aborted first.
// job.json goes last, with Record.Upload filled in: a job.json at dst with
// Upload.CompletedAt set means everything else there is complete and
// verified. When the push fails, job.json is not uploaded; the local one
// records the error (Upload.Error) for jobrun push.
//
// Links are never followed out of their folder (model/, output/, logs/);
// those, links to folders and special files are skipped with a warning and
// listed in Upload.Skipped. Pushing a run directory onto itself (a local
// store whose folder holds it) copies nothing.
func Push(ctx context.Context, runDir string, dst Store, o PushOptions) (*Record, error) {
	rec, err := ReadRecord(runDir)
	if err != nil {
		return nil, fmt.Errorf("pushing %s: not a run directory: %w", runDir, err)
	}
	p := &pusher{runDir: runDir, job: rec.JobName, dst: dst, rec: rec, o: o.withDefaults(rec)}
	if err := errors.Join(checkJobName(p.job), checkCompression(p.o.Compression)); err != nil {
		return nil, fmt.Errorf("pushing %s: %w", runDir, err)
	}
	err = p.push(ctx)
	if errors.Is(err, errNothingToDo) {
		return rec, nil
	}
	if werr := p.finish(ctx, err); werr != nil {
		err = errors.Join(err, werr)
	}
	if err != nil {
		return rec, fmt.Errorf("pushing %s to %s: %w", runDir, dst.URI(p.job+"/"), err)
	}
	return rec, nil
}

// checkJobName keeps a record's job name (read from a file) from naming
// anything but one folder below the store.
func checkJobName(job string) error {
	if _, err := localKey(job); err != nil || strings.Contains(job, "/") {
		return fmt.Errorf("job name %q in %s cannot name a run's folder", job, RecordFile)
	}
	return nil
}

func checkCompression(c string) error {
	if c != CompressionNone && c != CompressionGzip {
		return fmt.Errorf("compression %q: want %s or %s", c, CompressionNone, CompressionGzip)
	}
	return nil
}

func (o PushOptions) withDefaults(rec *Record) PushOptions {
	if o.Compression == "" && rec.Upload != nil {
		o.Compression = rec.Upload.Compression
	}
	if o.Compression == "" {
		o.Compression = CompressionNone
	}
	if o.Workers <= 0 {
		o.Workers = DefaultConcurrency
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// pusher is one Push in progress.
type pusher struct {
	runDir   string
	job      string
	dst      Store
	rec      *Record
	o        PushOptions
	roots    []*os.Root
	srcs     []source
	archives []archive
	skipped  []string

	total, done, bytes atomic.Int64
	files, unchanged   atomic.Int64
}

// archive is a folder uploaded as one tar.gz.
type archive struct {
	from string // the folder, below the run directory
	dir  string // the same, as a local path
	rel  string // the archive, below the run's place
	fp   string // treeFingerprint
	size int64  // at most this many bytes of tar
}

func (p *pusher) push(ctx context.Context) error {
	defer p.closeRoots()
	if err := p.notOntoItself(); err != nil {
		return err
	}
	if err := p.abortLeftovers(ctx); err != nil {
		return err
	}
	if err := p.plan(); err != nil {
		return err
	}
	remote, err := p.remote(ctx)
	if err != nil {
		return err
	}
	if err := p.pushFiles(ctx, remote); err != nil {
		return err
	}
	for _, a := range p.archives {
		if err := p.pushArchive(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// errNothingToDo: the run directory already is the run's place.
var errNothingToDo = errors.New("nothing to do")

// notOntoItself returns errNothingToDo when dst's folder for the job is
// runDir itself.
func (p *pusher) notOntoItself() error {
	l, ok := p.dst.(LocalStore)
	if !ok {
		return nil
	}
	a, err := os.Stat(p.runDir)
	if err != nil {
		return err
	}
	if b, err := os.Stat(l.URI(p.job)); err == nil && os.SameFile(a, b) {
		return errNothingToDo
	}
	return nil
}

// uploadAborter is implemented by stores that can hold unfinished uploads.
type uploadAborter interface {
	abortUploads(ctx context.Context, prefix string) (int, error)
}

func (p *pusher) abortLeftovers(ctx context.Context) error {
	a, ok := p.dst.(uploadAborter)
	if !ok {
		return nil
	}
	n, err := a.abortUploads(ctx, p.job+"/")
	if n > 0 {
		p.o.Log.Info("aborted unfinished uploads left by an earlier push", "count", n, "uri", p.dst.URI(p.job+"/"))
	}
	return err
}

// plan lists what to upload: every file below each top-level folder
// (through that folder's root), the top-level files, and in gzip mode the
// two archives instead of model/ and output/data/.
func (p *pusher) plan() error {
	if p.gzip() {
		err := errors.Join(p.addArchive("model", "output/model.tar.gz"),
			p.addArchive("output/data", "output/output.tar.gz"))
		if err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(p.runDir)
	if err != nil {
		return err
	}
	top, err := p.openRoot(p.runDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := p.planEntry(top, e); err != nil {
			return err
		}
	}
	for _, s := range p.srcs {
		p.total.Add(s.size)
	}
	return nil
}

// ignore returns nil for err matching target.
func ignore(err, target error) error {
	if errors.Is(err, target) {
		return nil
	}
	return err
}

func (p *pusher) planEntry(top *os.Root, e fs.DirEntry) error {
	name := e.Name()
	switch {
	case name == RecordFile || isTemp(name), p.archived(name):
		return nil
	case !e.IsDir():
		src, ok := scan{root: top, keyPrefix: p.job}.source(name, e)
		if !ok {
			p.warnSkipped("", []string{name})
			return nil
		}
		p.srcs = append(p.srcs, src)
		return nil
	}
	return p.planFolder(name)
}

// warnSkipped logs and keeps (up to 100) the names a scan skipped.
func (p *pusher) warnSkipped(base string, names []string) {
	for _, n := range names {
		rel := joinKey(base, n)
		warnSkipped(p.o.Log, []string{rel})
		if len(p.skipped) < 100 {
			p.skipped = append(p.skipped, rel)
		}
	}
}

func (p *pusher) gzip() bool { return p.o.Compression == CompressionGzip }

// planFolder adds a top-level folder's files, but not what goes into an
// archive, nor a local archive of the same name as one being made (left
// by an earlier local compression): the fresh one replaces it.
func (p *pusher) planFolder(name string) error {
	dir := filepath.Join(p.runDir, name)
	root, err := p.openRoot(dir)
	if err != nil {
		return err
	}
	sc := scan{root: root, dir: dir, keyPrefix: joinKey(p.job, name)}
	sc.skip = func(rel string) bool { return p.archived(name + "/" + rel) }
	srcs, skipped, err := sc.run()
	if err != nil {
		return err
	}
	p.srcs = append(p.srcs, srcs...)
	p.warnSkipped(name, skipped)
	return nil
}

// archived reports whether a path below the run directory goes into an
// archive, or is the name of one.
func (p *pusher) archived(rel string) bool {
	for _, a := range p.archives {
		if rel == a.from || rel == a.rel {
			return true
		}
	}
	return false
}

func (p *pusher) addArchive(from, rel string) error {
	dir := filepath.Join(p.runDir, filepath.FromSlash(from))
	if info, err := os.Lstat(dir); err != nil || !info.IsDir() {
		return nil // nothing to archive (already archived locally, or never made)
	}
	fp, size, err := treeFingerprint(dir)
	if err != nil {
		return fmt.Errorf("archiving %s: %w", dir, err)
	}
	p.archives = append(p.archives, archive{from: from, dir: dir, rel: rel, fp: fp, size: size})
	p.total.Add(size)
	return nil
}

func (p *pusher) openRoot(dir string) (*os.Root, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	p.roots = append(p.roots, root)
	return root, nil
}

func (p *pusher) closeRoots() {
	for _, r := range p.roots {
		r.Close()
	}
}

// remote lists what dst already holds for the job.
func (p *pusher) remote(ctx context.Context) (map[string]Object, error) {
	objs, err := p.dst.List(ctx, p.job+"/")
	if err != nil {
		return nil, err
	}
	return byKey(objs), nil
}

func byKey(objs []Object) map[string]Object {
	m := make(map[string]Object, len(objs))
	for _, o := range objs {
		m[o.Key] = o
	}
	return m
}

// pushFiles uploads the files in parallel. One file's failure does not
// stop the others (the more gets across, the less a resume has to send),
// unless the store itself is failing: then the push stops at once rather
// than trying every remaining file against a server that is gone.
func (p *pusher) pushFiles(ctx context.Context, remote map[string]Object) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errs := forEach(ctx, p.o.Workers, len(p.srcs), func(fctx context.Context, i int) error {
		err := p.pushFile(fctx, p.srcs[i], remote)
		if err != nil && ctx.Err() == nil && storeFailing(err) {
			cancel(err)
		}
		return err
	})
	return summarize("files", errs)
}

// pushFile uploads one file unless dst already has it.
func (p *pusher) pushFile(ctx context.Context, src source, remote map[string]Object) error {
	sent, err := putIfChanged(ctx, p.dst, src, remote)
	if err != nil {
		return err
	}
	if !sent {
		p.unchanged.Add(1)
	}
	p.count(src.size)
	return nil
}

// putIfChanged uploads a source unless the store's object (from remote,
// a listing) already holds its bytes; it reports whether it uploaded.
func putIfChanged(ctx context.Context, dst Store, src source, remote map[string]Object) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if obj, ok := remote[src.key]; ok {
		same, err := unchanged(ctx, dst, src, obj)
		if same || err != nil {
			return false, err
		}
	}
	return true, putSource(ctx, dst, src)
}

func (p *pusher) count(n int64) {
	p.files.Add(1)
	p.bytes.Add(n)
	p.progress(n)
}

func (p *pusher) progress(n int64) {
	done := p.done.Add(n)
	if p.o.Progress != nil {
		p.o.Progress(done, p.total.Load())
	}
}

// putSource opens a source through its root and puts it.
func putSource(ctx context.Context, dst Store, src source) error {
	f, err := src.open()
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = dst.Put(ctx, src.key, f)
	return err
}

// unchanged reports whether dst's object (as listed) holds the source's
// bytes: same size, then the same CRC-32C where the store keeps one (the
// file is read to compute it), else the same modification time (local
// stores keep the source's).
func unchanged(ctx context.Context, dst Store, src source, listed Object) (bool, error) {
	if listed.Size != src.size {
		return false, nil
	}
	obj, err := dst.Stat(ctx, src.key)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if obj.Checksum == "" {
		return obj.Size == src.size && obj.ModTime.Equal(src.mtime), nil
	}
	f, err := src.open()
	if err != nil {
		return false, err
	}
	defer f.Close()
	crc, err := sectionCRC(ctx, f, 0, src.size)
	if err != nil {
		return false, err
	}
	return encodeCRC(crc) == obj.Checksum, nil
}

// pushArchive streams a folder as tar.gz into dst, unless an archive made
// from the very same tree is already there.
func (p *pusher) pushArchive(ctx context.Context, a archive) error {
	key := joinKey(p.job, a.rel)
	if obj, err := p.dst.Stat(ctx, key); err == nil && obj.Meta[fingerprintMeta] == a.fp {
		p.unchanged.Add(1)
		p.files.Add(1)
		p.progress(a.size)
		return nil
	}
	var sent int64
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := writeTarGz(a.dir, pw, gzipLevel(a.dir), func(n int64) { sent += n; p.progress(n) })
		pw.CloseWithError(err)
		done <- err
	}()
	_, err := p.dst.PutStream(ctx, key, pr, StreamOptions{SizeHint: a.size, Meta: map[string]string{fingerprintMeta: a.fp}})
	pr.CloseWithError(errors.New("upload stopped")) // unblocks the archiver if the upload ended early
	<-done
	if err != nil {
		return fmt.Errorf("archiving %s: %w", a.dir, err)
	}
	p.files.Add(1)
	p.bytes.Add(sent)
	return nil
}

// finish writes the record (Upload filled in) and, when everything else
// is there, uploads it last.
func (p *pusher) finish(ctx context.Context, err error) error {
	now := time.Now().UTC()
	up := &UploadRecord{
		URI: p.dst.URI(p.job + "/"), Compression: p.o.Compression,
		Files: int(p.files.Load()), Bytes: p.bytes.Load(), Unchanged: int(p.unchanged.Load()), Skipped: p.skipped,
	}
	if err == nil {
		up.CompletedAt = &now
	} else {
		up.Error = err.Error()
	}
	p.rec.Upload = up
	if p.archived("model") {
		p.rec.Outputs.Model, p.rec.Outputs.Output = "output/model.tar.gz", "output/"
	}
	if werr := WriteRecord(p.runDir, p.rec); werr != nil || err != nil {
		return werr
	}
	return p.putRecord(ctx)
}

func (p *pusher) putRecord(ctx context.Context) error {
	f, err := os.Open(filepath.Join(p.runDir, RecordFile))
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = p.dst.Put(ctx, joinKey(p.job, RecordFile), f)
	return err
}

// PushRecord uploads only job.json, for a run in progress: jobrun ls on
// an S3 output then shows it as InProgress. Push replaces it at the end.
func PushRecord(ctx context.Context, runDir string, dst Store) error {
	rec, err := ReadRecord(runDir)
	if err != nil {
		return fmt.Errorf("pushing the record of %s: %w", runDir, err)
	}
	if err := checkJobName(rec.JobName); err != nil {
		return fmt.Errorf("pushing the record of %s: %w", runDir, err)
	}
	p := &pusher{runDir: runDir, job: rec.JobName, dst: dst}
	if err := p.notOntoItself(); err != nil {
		return ignore(err, errNothingToDo)
	}
	return p.putRecord(ctx)
}
