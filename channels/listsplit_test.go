package channels

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/jobrun/jobrun/spec"
)

// pinned lists uri's objects (this host's) as "key etag size" lines.
func pinned(t *testing.T, s *Stager, uri string) []string {
	t.Helper()
	in := input("p", uri)
	in.Mode = "fastfile"
	in.Distribution = "sharded_by_s3_key"
	st, err := s.Pin(context.Background(), []spec.Input{in})
	if err != nil {
		t.Fatal(err)
	}
	return objectLines(st[0].Objects)
}

func objectLines(objs []Object) []string {
	var lines []string
	for _, o := range objs {
		lines = append(lines, fmt.Sprintf("%s %s %d", o.Key, o.ETag, o.Size))
	}
	return lines
}

// fresh is the listing without kept split keys: one range, page after
// page.
func (e *env) fresh(t *testing.T, uri string, host, hosts int) []string {
	s := &Stager{S3: e.s3, Host: host, Hosts: hosts, listPage: 3}
	return pinned(t, s, uri)
}

// TestSplitListingAfterChanges: a warm rerun lists the key space as
// ranges split at the keys kept from the cold run; after keys were added
// (before the first, after the last, many inside one range), deleted
// (split keys among them) and replaced, it stages exactly what a fresh
// listing holds.
func TestSplitListingAfterChanges(t *testing.T) {
	e := newEnv(t)
	for i := range 30 {
		e.put(t, fmt.Sprintf("s/k%03d", i), []byte(fmt.Sprint("v1 ", i)))
	}
	e.put(t, "s/d/", nil) // a folder marker: listed, never staged
	e.put(t, "r/x", []byte("outside"))
	e.put(t, "t/x", []byte("outside"))

	s := &Stager{S3: e.s3, Cache: e.cache, listPage: 4}
	stageOK(t, s, e.workDir(t), input("train", "s3://data/s/"))
	splits := e.cache.splits("data", "s/")
	if want := []string{"s/k002", "s/k006", "s/k010", "s/k014", "s/k018", "s/k022", "s/k026"}; !reflect.DeepEqual(splits, want) {
		t.Fatalf("kept split keys %q, want %q", splits, want)
	}

	client := e.srv.Client(t)
	for _, k := range []string{"s/k006", "s/k007", "s/k014", "s/k029"} {
		if _, err := client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("data"), Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	e.put(t, "s/a", []byte("before all"))
	e.put(t, "s/k010", []byte("replaced"))
	for i := range 9 {
		e.put(t, fmt.Sprintf("s/k011-%d", i), []byte("new inside one range"))
		e.put(t, fmt.Sprintf("s/z%d", i), []byte("after all"))
	}

	want := e.fresh(t, "s3://data/s/", 0, 1)
	lists := e.s3.lists.Load()
	s = &Stager{S3: e.s3, Cache: e.cache, listPage: 4}
	st := stageOK(t, s, e.workDir(t), input("train", "s3://data/s/"))
	if got := objectLines(st[0].Objects); !reflect.DeepEqual(got, want) {
		t.Errorf("warm rerun staged\n%q\nwant\n%q", got, want)
	}
	files := tree(t, st[0].Dir)
	if len(files) != len(want) || files["k010"] != "replaced" || files["a"] != "before all" || files["k011-8"] == "" {
		t.Errorf("channel directory: %d files, k010 %q, a %q", len(files), files["k010"], files["a"])
	}
	// 8 ranges, the one with 9 new keys needing more than one page of 4.
	if n := e.s3.lists.Load() - lists; n < 9 {
		t.Errorf("%d list requests: the ranges were not listed separately", n)
	}
	if got := e.cache.splits("data", "s/"); len(got) != (len(want)+1)/4 {
		t.Errorf("kept split keys after the rerun: %q", got)
	}
}

// TestSplitListingAnySplitKeys: whatever the kept split keys are — not
// keys, outside the prefix, duplicated, unsorted, empty — the listing is
// exact, on every host of a sharded channel.
func TestSplitListingAnySplitKeys(t *testing.T) {
	e := newEnv(t)
	for i := range 20 {
		e.put(t, fmt.Sprintf("p/%02d", i), []byte{byte(i)})
	}
	e.put(t, "q", []byte("outside"))
	for _, splits := range [][]string{
		{"p/05", "p/10"},
		{"", "a", "p/", "p/07x", "p/07x", "p/99", "z", "p/03"},
		{"p/19"},
		{"p/00", "p/01", "p/02", "p/03"},
	} {
		e.cache.saveSplits("data", "p/", splits)
		for host := range 3 {
			s := &Stager{S3: e.s3, Cache: e.cache, Host: host, Hosts: 3, listPage: 3}
			e.cache.saveSplits("data", "p/", splits) // each listing replaces them
			got, want := pinned(t, s, "s3://data/p/"), e.fresh(t, "s3://data/p/", host, 3)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("split at %q, host %d: got\n%q\nwant\n%q", splits, host, got, want)
			}
		}
	}
}

// brokenRanges fails every listing that starts after a key.
type brokenRanges struct{ S3API }

var errBrokenRange = errors.New("range listing failed")

func (b brokenRanges) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	if in.StartAfter != nil {
		return nil, errBrokenRange
	}
	return b.S3API.ListObjectsV2(ctx, in, opts...)
}

// TestSplitListingError: a range that cannot be listed fails the staging
// (nothing staged), and the kept split keys stay as they were.
func TestSplitListingError(t *testing.T) {
	e := newEnv(t)
	for i := range 10 {
		e.put(t, fmt.Sprintf("b/%02d", i), []byte{byte(i)})
	}
	splits := []string{"b/03", "b/06"}
	e.cache.saveSplits("data", "b/", splits)
	s := &Stager{S3: brokenRanges{e.s3}, Cache: e.cache, listPage: 3}
	work := e.workDir(t)
	_, err := s.Stage(context.Background(), []spec.Input{input("train", "s3://data/b/")}, work)
	if !errors.Is(err, errBrokenRange) {
		t.Fatalf("Stage = %v, want the range's error", err)
	}
	if got := entries(t, work); len(got) != 0 {
		t.Errorf("work directory holds %v", got)
	}
	if got := e.cache.splits("data", "b/"); !slices.Equal(got, splits) {
		t.Errorf("split keys %q after a failed listing", got)
	}
}

func TestSplitRanges(t *testing.T) {
	got := splitRanges(cleanSplits([]string{"m", "", "c", "m"}))
	want := []keyRange{{upTo: "c"}, {after: "c", upTo: "m"}, {after: "m", open: true}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("splitRanges = %+v", got)
	}
}
