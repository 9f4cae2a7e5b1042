package channels

import (
	"context"
	"errors"
	"fmt"
	"github.com/jobrun/jobrun/s3uri"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3API is the part of the S3 client staging uses; *s3.Client implements
// it. Tests wrap it to count or break requests.
type S3API interface {
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// prefixBase is the part of a key prefix that the channel directory
// stands for: up to and including its last '/'. SageMaker (File mode)
// keeps an object's name relative to it, so s3://b/data/train places
// data/train.csv at train.csv and data/train2/x at train2/x, not at
// ".csv" and "2/x" (that is SageMaker local mode's behaviour, reported
// as a bug: github.com/aws/sagemaker-python-sdk/issues/3612).
func prefixBase(prefix string) string {
	return prefix[:strings.LastIndexByte(prefix, '/')+1]
}

// objectSource yields a channel's objects in order; its error (or yield
// returning false) ends it.
type objectSource func(yield func(Object) bool) error

// sliceSource yields objs.
func sliceSource(objs []Object) objectSource {
	return func(yield func(Object) bool) error {
		for _, o := range objs {
			if !yield(o) {
				return nil
			}
		}
		return nil
	}
}

// prefixLister lists a prefix page by page. Staging fetches the first
// page while planning (a missing bucket, a denied listing, a wrong region
// fail before anything is downloaded) and streams the rest into the
// downloads, so that listing and fetching overlap.
type prefixLister struct {
	s              *Stager
	bucket, prefix string
	host, hosts    int
	pages          *s3.ListObjectsV2Paginator
	first          *s3.ListObjectsV2Output
	n              int // objects listed so far (folder markers excluded): the sharding position
	layout         layout
}

func (s *Stager) newPrefixLister(ctx context.Context, bucket, prefix string, host, hosts int) (*prefixLister, error) {
	l := &prefixLister{s: s, bucket: bucket, prefix: prefix, host: host, hosts: hosts}
	l.pages = s3.NewListObjectsV2Paginator(s.S3, &s3.ListObjectsV2Input{
		Bucket: aws.String(bucket), Prefix: aws.String(prefix), MaxKeys: maxKeys(s.listPage),
	})
	first, err := l.pages.NextPage(ctx, s.s3Opts)
	if err != nil {
		return nil, explain(err, s3uri.Format(bucket, prefix))
	}
	l.first = first
	return l, nil
}

// empty reports whether the first page had no object and no next page.
func (l *prefixLister) empty() bool {
	for _, c := range l.first.Contents {
		if !strings.HasSuffix(aws.ToString(c.Key), "/") {
			return false
		}
	}
	return !l.pages.HasMorePages()
}

// stream yields this host's objects of every page, in key order,
// skipping folder markers (keys ending in '/'), with Rel relative to
// prefixBase. It fails on a key that cannot be a path in the channel
// directory. With a cache that kept split keys from an earlier listing of
// the prefix, the key space is listed as several ranges at once (see
// splitListing); either way the keys of this listing that split it into
// pages are kept for the next one.
func (l *prefixLister) stream(ctx context.Context) objectSource {
	return func(yield func(Object) bool) error {
		sp := l.s.splitListing(ctx, l)
		defer sp.stop()
		rec := splitRecorder{every: l.s.listPageSize()}
		complete, err := sp.each(ctx, func(c types.Object) (bool, error) {
			rec.add(aws.ToString(c.Key))
			return l.yieldObject(c, yield)
		})
		if err == nil && complete && l.s.Cache != nil {
			l.s.Cache.saveSplits(l.bucket, l.prefix, rec.keys)
		}
		return err
	}
}

// yieldObject yields one listed object if it is this host's; false stops
// the listing.
func (l *prefixLister) yieldObject(c types.Object, yield func(Object) bool) (bool, error) {
	key := aws.ToString(c.Key)
	if strings.HasSuffix(key, "/") {
		return true, nil // a console "folder"; SageMaker skips these too
	}
	o := Object{Bucket: l.bucket, Key: key, ETag: trimETag(aws.ToString(c.ETag)),
		Size: aws.ToInt64(c.Size), Rel: key[len(prefixBase(l.prefix)):]}
	if err := l.layout.add(o); err != nil {
		return false, err
	}
	l.n++
	return !InShard(l.n-1, l.host, l.hosts) || yield(o), nil
}

// all lists every object of this host.
func (l *prefixLister) all(ctx context.Context) ([]Object, error) {
	var objs []Object
	err := l.stream(ctx)(func(o Object) bool {
		objs = append(objs, o)
		return true
	})
	return objs, err
}

// trimETag removes the quotes S3 puts around ETags.
func trimETag(e string) string { return strings.Trim(e, `"`) }

// errEscapes is wrapped by checkRel's errors.
var errEscapes = errors.New("not a path inside the channel directory")

// checkRel accepts a slash-separated relative path that stays inside the
// channel directory and names the same file on every file system: not
// empty, not absolute, no empty, "." or ".." segment, valid UTF-8, no NUL.
func checkRel(rel string) error {
	switch {
	case rel == "":
		return fmt.Errorf("%w: empty path", errEscapes)
	case !utf8.ValidString(rel) || strings.IndexByte(rel, 0) >= 0:
		return fmt.Errorf("%w: %q is not valid UTF-8 without NUL", errEscapes, rel)
	case rel[0] == '/':
		return fmt.Errorf("%w: %q is absolute", errEscapes, rel)
	}
	for _, seg := range strings.Split(rel, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w: %q has an empty path segment (\"//\" or a trailing '/')", errEscapes, rel)
		case ".", "..":
			return fmt.Errorf("%w: %q has a %q segment", errEscapes, rel, seg)
		}
	}
	return nil
}

// layout checks, object by object, that a channel's objects can all be
// files in one directory tree: each Rel a safe path (checkRel), no two
// objects on one path, no object on a path another needs as a directory
// (keys "a" and "a/b", which S3 allows and no file system does). It
// keeps every path: memory grows with the channel, as Objects does.
type layout struct {
	files map[string]Object // Rel → the object there
	dirs  map[string]Object // directory → an object below it
}

func (l *layout) add(o Object) error {
	if err := checkRel(o.Rel); err != nil {
		return fmt.Errorf("%s: %w", s3uri.Format(o.Bucket, o.Key), err)
	}
	if l.files == nil {
		l.files, l.dirs = map[string]Object{}, map[string]Object{}
	}
	if prev, dup := l.files[o.Rel]; dup {
		return fmt.Errorf("%s and %s both map to %q in the channel directory",
			s3uri.Format(prev.Bucket, prev.Key), s3uri.Format(o.Bucket, o.Key), o.Rel)
	}
	if below, clash := l.dirs[o.Rel]; clash {
		return clashError(o, below, o.Rel)
	}
	for d := parentDir(o.Rel); d != ""; d = parentDir(d) {
		if file, clash := l.files[d]; clash {
			return clashError(file, o, d)
		}
		if _, seen := l.dirs[d]; seen {
			break // its parents were checked and added with it
		}
		l.dirs[d] = o
	}
	l.files[o.Rel] = o
	return nil
}

func clashError(file, below Object, dir string) error {
	return fmt.Errorf("%s is a file but %s needs %q to be a directory",
		s3uri.Format(file.Bucket, file.Key), s3uri.Format(below.Bucket, below.Key), dir)
}

// checkLayout checks a whole list of objects with a layout.
func checkLayout(objs []Object) error {
	var l layout
	for _, o := range objs {
		if err := l.add(o); err != nil {
			return err
		}
	}
	return nil
}

// parentDir is rel's directory, "" at the top.
func parentDir(rel string) string {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return ""
	}
	return rel[:i]
}
