package channels

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/jobrun/jobrun/s3uri"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/jobrun/jobrun/exitcode"
)

// pinManifest HEADs a manifest object so that it is read at one version
// (its ETag) however often it is read.
func (s *Stager) pinManifest(ctx context.Context, uri string) (Object, error) {
	bucket, key, err := s3uri.Parse(uri)
	if err != nil {
		return Object{}, exitcode.NewUsage(err)
	}
	if key == "" || strings.HasSuffix(key, "/") {
		return Object{}, exitcode.Usagef("%s: a manifest uri must name an object, not a prefix", uri)
	}
	o := Object{Bucket: bucket, Key: key, Rel: path.Base(key)}
	if err := s.head(ctx, &o); err != nil {
		return Object{}, explain(err, uri)
	}
	return o, nil
}

// head fills in o's ETag and size.
func (s *Stager) head(ctx context.Context, o *Object) error {
	out, err := s.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(o.Key)}, s.s3Opts)
	if err != nil {
		return s.whyNotFound(ctx, o.Bucket, err)
	}
	o.ETag, o.Size = trimETag(aws.ToString(out.ETag)), aws.ToInt64(out.ContentLength)
	return nil
}

// whyNotFound tells a missing bucket from a missing key: a HEAD response
// has no body, so S3 answers 404 "NotFound" for both. Only on that error,
// one listing of the bucket says which.
func (s *Stager) whyNotFound(ctx context.Context, bucket string, err error) error {
	if _, status, _ := apiError(err); status != 404 {
		return err
	}
	_, lerr := s.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(1)}, s.s3Opts)
	if code, _, _ := apiError(lerr); code == "NoSuchBucket" {
		return lerr
	}
	return err
}

// headAll pins objs (ETag, size) with concurrent HEADs. what(i) names
// the i-th object's origin for errors (e.g. its manifest element).
func (s *Stager) headAll(ctx context.Context, objs []Object, what func(i int) string) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(s.concurrency(), len(objs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := s.head(ctx, &objs[i]); err != nil && ctx.Err() == nil {
					once.Do(func() {
						first = fmt.Errorf("%s: %w", what(i), explain(err, s3uri.Format(objs[i].Bucket, objs[i].Key)))
						cancel(first)
					})
				}
			}
		}()
	}
	for i := range objs {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	return context.Cause(ctx)
}

// planManifest reads a ManifestFile and pins the objects it lists.
func (s *Stager) planManifest(ctx context.Context, st *Staged) error {
	m, err := s.readManifest(ctx, st)
	if err != nil {
		return err
	}
	objs := make([]Object, len(m.Keys))
	for i, rel := range m.Keys {
		objs[i] = Object{Bucket: m.Bucket, Key: m.Prefix + rel, Rel: rel}
	}
	if err := checkLayout(objs); err != nil {
		return fmt.Errorf("manifest %s: %w", st.Input.URI, err)
	}
	// Shard before pinning: a host HEADs only its own share.
	var elems []int
	for i := range objs {
		if InShard(i, st.Host, st.Hosts) {
			elems = append(elems, m.Index[i])
		}
	}
	objs = Shard(objs, st.Host, st.Hosts)
	err = s.headAll(ctx, objs, func(i int) string {
		return fmt.Sprintf("manifest %s element %d", st.Input.URI, elems[i])
	})
	st.Objects = objs
	return err
}

// readManifest pins and parses a channel's ManifestFile.
func (s *Stager) readManifest(ctx context.Context, st *Staged) (*Manifest, error) {
	mo, err := s.pinManifest(ctx, st.Input.URI)
	if err != nil {
		return nil, err
	}
	st.Manifest = &mo
	rc, err := s.Open(ctx, mo)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	m, err := ReadManifest(rc)
	var merr *ManifestError
	if errors.As(err, &merr) {
		return nil, exitcode.NewUsage(fmt.Errorf("manifest %s: %w", st.Input.URI, err))
	}
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", st.Input.URI, err)
	}
	return m, nil
}

// planAugmented reads an augmented manifest and pins the objects its
// records' "-ref" attributes name (this host's records only).
func (s *Stager) planAugmented(ctx context.Context, st *Staged) error {
	mo, err := s.pinManifest(ctx, st.Input.URI)
	if err != nil {
		return err
	}
	st.Manifest = &mo
	var objs []Object
	var where []int // the line each object was first named on
	seen := map[string]bool{}
	records, err := s.eachRecord(ctx, st, func(rec AugmentedRecord) error {
		for _, v := range rec.Values {
			if v.Ref != nil && !seen[v.Ref.Rel] {
				seen[v.Ref.Rel] = true
				objs = append(objs, *v.Ref)
				where = append(where, rec.Line)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if records == 0 {
		return exitcode.Usagef("augmented manifest %s has no records", st.Input.URI)
	}
	if err := checkLayout(objs); err != nil {
		return fmt.Errorf("augmented manifest %s: %w", st.Input.URI, err)
	}
	st.Objects = objs
	return s.headAll(ctx, objs, func(i int) string {
		return fmt.Sprintf("augmented manifest %s line %d", st.Input.URI, where[i])
	})
}

// EachRecord streams an augmented manifest channel's records for this
// host (those at positions i with InShard(i, st.Host, st.Hosts)) from its
// pinned manifest, in order, calling fn for each until it returns false.
// "-ref" values point at the pinned objects of st.Objects. It is what
// Pipe mode streams, once per epoch; it reads the manifest again on every
// call (from the cache when it is there) and keeps one record in memory.
// A malformed line is an exitcode usage error naming the manifest and
// the line.
func (s *Stager) EachRecord(ctx context.Context, st *Staged, fn func(AugmentedRecord) bool) error {
	pinned := st.ObjectsByURI()
	_, err := s.eachRecord(ctx, st, func(rec AugmentedRecord) error {
		for i, v := range rec.Values {
			if v.Ref == nil {
				continue
			}
			if o, ok := pinned[s3uri.Format(v.Ref.Bucket, v.Ref.Key)]; ok {
				rec.Values[i].Ref = &o
			}
		}
		if !fn(rec) {
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

var errStop = errors.New("stopped")

// eachRecord streams the channel's pinned augmented manifest and calls fn
// for each record of this host's shard. It returns the number of records
// in the whole manifest.
func (s *Stager) eachRecord(ctx context.Context, st *Staged, fn func(AugmentedRecord) error) (int, error) {
	if st.Manifest == nil {
		return 0, fmt.Errorf("channel %q has no augmented manifest", st.Input.Name)
	}
	rc, err := s.Open(ctx, *st.Manifest)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n := 0
	for rec, err := range ReadAugmentedManifest(rc, st.Input.AttributeNames) {
		var aerr *AugmentedError
		if errors.As(err, &aerr) {
			return n, exitcode.NewUsage(fmt.Errorf("augmented manifest %s: %w", st.Input.URI, err))
		}
		if err != nil {
			return n, fmt.Errorf("reading augmented manifest %s: %w", st.Input.URI, err)
		}
		n++
		if !InShard(rec.Index, st.Host, st.Hosts) {
			continue
		}
		if err := fn(rec); err != nil {
			return n, err
		}
	}
	return n, nil
}

// writeAugmentedLines writes this host's records, reduced to the selected
// attributes, to AugmentedManifestFile in dir (File mode, a jobrun
// extension: SageMaker takes augmented manifests in Pipe mode only).
func (s *Stager) writeAugmentedLines(ctx context.Context, st *Staged, dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, AugmentedManifestFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Chmod(0o444); err != nil { // whatever the umask
		return err
	}
	w := bufio.NewWriterSize(f, 256<<10)
	_, err = s.eachRecord(ctx, st, func(rec AugmentedRecord) error {
		w.Write(rec.JSON())
		return w.WriteByte('\n')
	})
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}
