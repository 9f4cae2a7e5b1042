package channels

import (
	"context"
	"errors"
	"fmt"
	"github.com/jobrun/jobrun/s3uri"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/jobrun/jobrun/exitcode"
	"github.com/jobrun/jobrun/spec"
)

// Stager stages a job's input channels: local paths as bind mounts, S3
// channels in File mode downloaded (through the cache) into a directory
// per channel, S3 channels in Pipe and FastFile mode listed and pinned
// for those modes to stream. It is also the Opener those modes read
// objects through.
//
// The zero value stages local inputs only. Set the fields before the
// first call; a Stager is safe for concurrent use after that.
type Stager struct {
	// S3 is the client for S3 inputs (awsconfig.S3Client's).
	S3 S3API
	// Cache holds downloaded objects between runs; nil downloads every
	// object into the channel directory each time.
	Cache *Cache
	// Concurrency is the number of GETs of whole objects (and HEADs) in
	// flight; 0 means DefaultConcurrency.
	Concurrency int
	// PartConcurrency is the number of ranged GETs of big objects' parts
	// in flight, beside Concurrency; 0 means DefaultPartConcurrency.
	PartConcurrency int
	// PartSize and MultipartThreshold shape big downloads: objects of at
	// least MultipartThreshold bytes are fetched as parallel ranged GETs of
	// PartSize bytes. 0 means the defaults: DefaultMultipartThreshold,
	// and parts of a PartsPerObject-th of the object, at least
	// DefaultPartSize.
	PartSize           int64
	MultipartThreshold int64
	// Progress receives progress reports (a bar when it is a terminal,
	// log lines otherwise) and the per-channel summaries; nil is silent.
	Progress io.Writer
	// Host and Hosts say which host (0-based: algo-1 is 0) of how many
	// this is, for sharded_by_s3_key channels. Hosts 0 means 1.
	Host, Hosts int

	listPage   int32 // keys per ListObjectsV2 page; 0: the server's (1,000). Tests lower it.
	httpOnce   sync.Once
	http       aws.HTTPClient
	downloaded atomic.Int64 // bytes added to the cache since the last eviction
	fileModes  modeCheck
	dirModes   modeCheck
}

// Staged is one channel, ready for the container.
type Staged struct {
	Input spec.Input
	// Mounts are the host paths the container sees (read-only): a local
	// input's path, or a File mode channel's Dir. Pipe and FastFile S3
	// channels have none: those modes provide their own.
	Mounts []Mount

	// Dir is a File mode S3 channel's directory on the host, below the
	// workDir given to Stage.
	Dir string
	// Objects are the S3 objects this host's channel holds, pinned (ETag,
	// size) and in channel order, after sharding: the prefix's objects,
	// the manifest's, or the objects an augmented manifest's "-ref"
	// attributes name (first mention first, each once).
	Objects []Object
	// Manifest is the manifest object itself, pinned, for types manifest
	// and augmented_manifest.
	Manifest *Object
	// Host and Hosts are this host's shard of the channel (1 host when it
	// is fully replicated): augmented manifest records at positions i
	// with InShard(i, Host, Hosts) belong to it.
	Host, Hosts int
	// FromCache counts the objects File mode linked from the cache.
	FromCache int

	lister *prefixLister // a File mode prefix's listing, until staged
}

// IsS3 reports whether the channel reads from S3.
func (st Staged) IsS3() bool { return !st.Input.IsLocal() }

// ObjectsByURI indexes Objects by s3://bucket/key, for Pipe mode to find
// the pinned object an augmented manifest's "-ref" attribute names.
func (st Staged) ObjectsByURI() map[string]Object {
	m := make(map[string]Object, len(st.Objects))
	for _, o := range st.Objects {
		m[s3uri.Format(o.Bucket, o.Key)] = o
	}
	return m
}

// Stage prepares inputs with a zero Stager: local inputs only.
func Stage(ctx context.Context, inputs []spec.Input) ([]Staged, error) {
	return (&Stager{}).Stage(ctx, inputs, "")
}

// Stage prepares every channel, in two steps so that a bad channel
// (missing bucket, denied listing, wrong region, malformed manifest)
// fails before anything is downloaded: first it checks every S3 channel —
// the first page of a prefix's listing, every object of a manifest,
// pinned with HEAD — then it downloads the File mode channels one by one,
// each into workDir/.staging-<channel>-* renamed to workDir/<channel> once
// complete, with the rest of a prefix's listing streaming into the
// downloads. Pipe and FastFile channels come back listed and pinned
// (Objects, Manifest), not downloaded. On error nothing Stage created
// under workDir is left (complete cache blobs stay).
//
// workDir must be on the cache's file system for hard links (else blobs
// are copied): use Cache.NewWorkDir. It may be "" when no channel is an
// S3 channel in File mode. The caller removes workDir after the run.
//
// Errors name the channel; a malformed manifest is an exitcode usage
// error; cancellation returns an error matching context.Canceled.
func (s *Stager) Stage(ctx context.Context, inputs []spec.Input, workDir string) ([]Staged, error) {
	staged := make([]Staged, 0, len(inputs))
	for _, in := range inputs {
		st, err := s.plan(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("staging channel %q: %w", in.Name, err)
		}
		staged = append(staged, st)
	}
	if err := s.downloadAll(ctx, staged, workDir); err != nil {
		return nil, err
	}
	s.evict()
	return staged, nil
}

// downloadAll stages the File mode S3 channels; on error it removes the
// ones it completed.
func (s *Stager) downloadAll(ctx context.Context, staged []Staged, workDir string) error {
	var done []string
	for i := range staged {
		st := &staged[i]
		if !st.IsS3() || st.Input.Mode != "file" {
			continue
		}
		if err := s.stageFiles(ctx, st, workDir); err != nil {
			for _, d := range done {
				os.RemoveAll(d)
			}
			return fmt.Errorf("staging channel %q: %w", st.Input.Name, err)
		}
		done = append(done, st.Dir)
	}
	return nil
}

// evict trims the cache after downloads; a failure is reported, not
// fatal. Without downloads the cache has not grown, and a warm rerun
// skips the scan of every blob.
func (s *Stager) evict() {
	if s.Cache == nil || s.downloaded.Swap(0) == 0 {
		return
	}
	if err := s.Cache.Evict(); err != nil && s.Progress != nil {
		fmt.Fprintf(s.Progress, "jobrun: trimming the cache %s: %v\n", s.Cache.Dir(), err)
	}
}

// plan resolves a channel's objects without downloading them.
func (s *Stager) plan(ctx context.Context, in spec.Input) (Staged, error) {
	st := Staged{Input: in, Host: 0, Hosts: 1}
	if in.IsLocal() {
		mounts, err := localMounts(in)
		st.Mounts = mounts
		return st, err
	}
	if s.S3 == nil {
		return st, fmt.Errorf("%s: S3 inputs need an S3 client (no AWS configuration was loaded)", in.URI)
	}
	if in.Distribution == "sharded_by_s3_key" {
		st.Host, st.Hosts = s.Host, max(s.Hosts, 1)
	}
	var err error
	switch in.Type {
	case "manifest":
		err = s.planManifest(ctx, &st)
	case "augmented_manifest":
		err = s.planAugmented(ctx, &st)
	default:
		err = s.planPrefix(ctx, &st)
	}
	return st, err
}

// planPrefix lists an S3 prefix: the first page only for File mode (the
// rest streams into the downloads), every page for the other modes.
func (s *Stager) planPrefix(ctx context.Context, st *Staged) error {
	bucket, prefix, err := s3uri.Parse(st.Input.URI)
	if err != nil {
		return exitcode.NewUsage(err)
	}
	l, err := s.newPrefixLister(ctx, bucket, prefix, st.Host, st.Hosts)
	if err != nil {
		return err
	}
	if l.empty() {
		return errNoObjects(st.Input.URI)
	}
	if st.Input.Mode == "file" {
		st.lister = l
		return nil
	}
	st.Objects, err = l.all(ctx)
	return err
}

func errNoObjects(uri string) error {
	return fmt.Errorf("no objects under %s: an S3 prefix matches every key that starts with it "+
		"(keys ending in '/' are folder markers and do not count); check the uri, the bucket and the endpoint", uri)
}

// stageFiles downloads a File mode channel into a temp directory and
// renames it into place.
func (s *Stager) stageFiles(ctx context.Context, st *Staged, workDir string) (err error) {
	if workDir == "" {
		return errors.New("S3 channels in File mode need a work directory")
	}
	final := filepath.Join(workDir, st.Input.Name)
	if _, err := os.Lstat(final); err == nil {
		return fmt.Errorf("%s already exists: the work directory must be fresh", final)
	}
	tmp, err := makeStagingDir(workDir, st.Input.Name)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if st.Input.Type == "augmented_manifest" {
		if err := s.writeAugmentedLines(ctx, st, tmp); err != nil {
			return err
		}
	}
	prog := newProgress(s.Progress, st.Input.Name)
	err = s.fetchAll(ctx, s.source(ctx, st), tmp, prog)
	prog.done(err == nil)
	if err != nil {
		return err
	}
	if len(st.Objects) == 0 && st.lister != nil && st.lister.n == 0 {
		return errNoObjects(st.Input.URI) // only folder markers
	}
	st.FromCache = int(prog.cacheObjs.Load())
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	st.Dir, st.lister = final, nil
	st.Mounts = []Mount{{Source: final, Target: path.Join(DataDir, st.Input.Name)}}
	return nil
}

// source yields a File mode channel's objects: a prefix's straight from
// the listing (collected into st.Objects on the way), the others' from
// st.Objects.
func (s *Stager) source(ctx context.Context, st *Staged) objectSource {
	if st.lister == nil {
		return sliceSource(st.Objects)
	}
	list := st.lister.stream(ctx)
	return func(yield func(Object) bool) error {
		return list(func(o Object) bool {
			st.Objects = append(st.Objects, o)
			return yield(o)
		})
	}
}

// makeStagingDir creates workDir/.staging-<channel>-*, 0755 whatever the
// umask: the container's user is often not the one running jobrun.
func makeStagingDir(workDir, channel string) (string, error) {
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(workDir, ".staging-"+channel+"-*")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	return tmp, nil
}

// Fetch makes sure the cache holds o (downloading it with parallel ranged
// GETs when big) and returns the read-only blob's path, for modes that
// serve files on demand. o must be pinned (ETag). The blob may be evicted
// once nothing links to it: link or open it before the next Stage.
func (s *Stager) Fetch(ctx context.Context, o Object) (string, error) {
	if s.Cache == nil {
		return "", errors.New("fetching into the cache: no cache configured")
	}
	if !cacheable(o) {
		return "", fmt.Errorf("%s: fetching into the cache needs the object's ETag", s3uri.Format(o.Bucket, o.Key))
	}
	for range 2 { // a concurrent eviction may remove the blob between the two steps
		if p, ok := s.Cache.lookup(o); ok {
			return p, nil
		}
		if err := s.fetchAll(ctx, sliceSource([]Object{o}), "", nil); err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("%s: the cache blob disappeared after download", s3uri.Format(o.Bucket, o.Key))
}

func (s *Stager) concurrency() int {
	if s.Concurrency > 0 {
		return s.Concurrency
	}
	return DefaultConcurrency
}

func (s *Stager) partConcurrency() int {
	if s.PartConcurrency > 0 {
		return s.PartConcurrency
	}
	return DefaultPartConcurrency
}

// listPageSize is the keys per listing page.
func (s *Stager) listPageSize() int {
	if s.listPage > 0 {
		return int(s.listPage)
	}
	return listPage
}

// partSize is the size of the ranged GETs of an object of size bytes:
// PartSize when set, else a PartsPerObject-th of the object (whole MiB),
// at least DefaultPartSize.
func (s *Stager) partSize(size int64) int64 {
	if s.PartSize > 0 {
		return s.PartSize
	}
	part := (size + PartsPerObject - 1) / PartsPerObject
	part = (part + 1<<20 - 1) &^ (1<<20 - 1)
	return max(part, DefaultPartSize)
}

func (s *Stager) multipartThreshold() int64 {
	if s.MultipartThreshold > 0 {
		return s.MultipartThreshold
	}
	return DefaultMultipartThreshold
}

// inCache reports whether the cache holds o.
func (s *Stager) inCache(o Object) bool {
	if s.Cache == nil {
		return false
	}
	_, ok := s.Cache.lookup(o)
	return ok
}

// s3Opts adjusts every S3 call. The SDK's default HTTP transport keeps
// only 10 idle connections per host, so with 64 GETs in flight most
// connections would be closed after one request and re-dialled for the
// next: the transport is copied once with room for Concurrency +
// PartConcurrency idle connections, every other setting (proxy, TLS,
// timeouts) kept. And the
// SDK logs a line to stderr for every response it cannot checksum, which
// is every ranged GET: that log is turned off.
func (s *Stager) s3Opts(o *s3.Options) {
	o.DisableLogOutputChecksumValidationSkipped = true
	s.httpOnce.Do(func() {
		b, ok := o.HTTPClient.(*awshttp.BuildableClient)
		if !ok {
			return
		}
		n := s.concurrency() + s.partConcurrency()
		s.http = b.WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConnsPerHost = max(tr.MaxIdleConnsPerHost, n)
			tr.MaxIdleConns = max(tr.MaxIdleConns, n)
		})
	})
	if s.http != nil {
		o.HTTPClient = s.http
	}
}

// skipResponseChecksum turns off the SDK's validation of a response's
// full-object checksum (x-amz-checksum-crc64nvme and the like) for the
// GETs Pipe and FastFile mode stream through Open. The SDK computes
// CRC64NVME with hash/crc64's table code, about 0.7 CPU-s per GiB: more
// than half of jobrun's CPU time while streaming, and the reason it was
// 1.28x s5cmd's wall time. What still protects those bytes: every GET
// carries If-Match with the pinned ETag (the server sends exactly that
// version), the stream must end exactly at the pinned size (a longer one
// is ErrObjectChanged, a shorter one is resumed), and TCP's (over HTTPS,
// TLS's) own integrity checks. File mode keeps the SDK's validation on its
// whole-object GETs; its ranged GETs never had one (S3 returns no checksum
// for a range).
func skipResponseChecksum(o *s3.Options) {
	o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
}

// Pin lists every channel and pins its objects without downloading
// anything: what a run would read now, to compare with a recorded run.
// Local channels come back as Stage gives them.
func (s *Stager) Pin(ctx context.Context, inputs []spec.Input) ([]Staged, error) {
	staged := make([]Staged, 0, len(inputs))
	for _, in := range inputs {
		planned := in
		if !in.IsLocal() && planned.Mode == "file" {
			// File mode's plan leaves the listing to stream into the
			// downloads; the streaming modes' plan lists it whole.
			planned.Mode = "fastfile"
		}
		st, err := s.plan(ctx, planned)
		if err != nil {
			return nil, fmt.Errorf("listing channel %q: %w", in.Name, err)
		}
		st.Input = in
		staged = append(staged, st)
	}
	return staged, nil
}
