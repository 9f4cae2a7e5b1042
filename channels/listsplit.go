package channels

import (
	"context"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/jobrun/jobrun/s3uri"
)

// A rerun must list its prefix again (to pin each object's current ETag
// and see new and deleted keys), and ListObjectsV2 hands out 1,000 keys a
// page, each page asking for the one after the last: 10,000 keys are ten
// round trips one after the other. But a listing can start anywhere:
// StartAfter takes any string, present as a key or not. So the keys that
// split the previous listing into pages, kept in the cache, cut the key
// space into ranges
//
//	(-∞, k1], (k1, k2], ..., (kn, +∞)
//
// that cover it whatever changed since, without gaps or overlaps; each
// range is listed from StartAfter = its lower end until a key passes its
// upper end, several at once, and the ranges are yielded in order. The
// union is exactly a fresh listing: a key added or deleted only makes its
// range longer or shorter, and a split key that no longer exists bounds
// its ranges as well as one that does. The split keys only decide how
// much runs in parallel, never what is listed.

const (
	// listPage is how many keys apart the kept split keys are: one
	// ListObjectsV2 page (S3's and versitygw's maximum and default).
	listPage = 1000
	// maxRangeListers bounds the ranges being listed (or listed and not
	// yet yielded) at once, beside the one being yielded.
	maxRangeListers = 4
)

// keyRange is the keys k with after < k <= upTo (after "": from the
// first key; open: no upper end).
type keyRange struct {
	after, upTo string
	open        bool
}

// contains reports whether key is not past the range's upper end.
func (r keyRange) contains(key string) bool { return r.open || key <= r.upTo }

// reached reports whether a page ended at the range's upper end: the
// next key is past it, so no further page is needed.
func (r keyRange) reached(page *s3.ListObjectsV2Output) bool {
	n := len(page.Contents)
	return !r.open && n > 0 && aws.ToString(page.Contents[n-1].Key) >= r.upTo
}

// splitRanges cuts the key space at keys: strictly increasing, non-empty
// keys give len(keys)+1 ranges.
func splitRanges(keys []string) []keyRange {
	ranges := make([]keyRange, 0, len(keys)+1)
	after := ""
	for _, k := range keys {
		ranges = append(ranges, keyRange{after: after, upTo: k})
		after = k
	}
	return append(ranges, keyRange{after: after, open: true})
}

// cleanSplits sorts keys and drops duplicates and empty ones: whatever
// the cache file held, the ranges must be disjoint and in order.
func cleanSplits(keys []string) []string {
	keys = slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == "" })
	slices.Sort(keys)
	return slices.Compact(keys)
}

// rangeResult is one listed range.
type rangeResult struct {
	objs []types.Object
	err  error
}

// splitLister lists a prefix's ranges: the first one through the
// lister's own pages (its first page was fetched while planning), the
// others in the background.
type splitLister struct {
	l       *prefixLister
	ranges  []keyRange
	results []chan rangeResult
	slots   chan struct{}
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// splitListing starts listing l's ranges after the first, at most
// maxRangeListers at once, in order; without kept split keys there is one
// range and nothing runs in the background.
func (s *Stager) splitListing(ctx context.Context, l *prefixLister) *splitLister {
	var keys []string
	if s.Cache != nil {
		keys = cleanSplits(s.Cache.splits(l.bucket, l.prefix))
	}
	ctx, cancel := context.WithCancel(ctx)
	sp := &splitLister{l: l, ranges: splitRanges(keys), cancel: cancel,
		slots: make(chan struct{}, maxRangeListers)}
	sp.results = make([]chan rangeResult, len(sp.ranges))
	for i := range sp.results {
		sp.results[i] = make(chan rangeResult, 1)
	}
	sp.wg.Add(1)
	go func() {
		defer sp.wg.Done()
		for i := 1; i < len(sp.ranges); i++ {
			select {
			case sp.slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			sp.wg.Add(1)
			go func() {
				defer sp.wg.Done()
				objs, err := sp.listRange(ctx, sp.ranges[i])
				sp.results[i] <- rangeResult{objs, err}
			}()
		}
	}()
	return sp
}

// stop ends the background listings and waits for them.
func (sp *splitLister) stop() {
	sp.cancel()
	sp.wg.Wait()
}

// each calls f with every listed object in key order until f returns
// false or an error. complete reports that the whole prefix was listed.
func (sp *splitLister) each(ctx context.Context, f func(types.Object) (bool, error)) (complete bool, err error) {
	if ok, err := sp.first(ctx, f); !ok || err != nil {
		return false, err
	}
	for i := 1; i < len(sp.ranges); i++ {
		var res rangeResult
		select {
		case res = <-sp.results[i]:
		case <-ctx.Done():
			return false, context.Cause(ctx)
		}
		<-sp.slots
		if res.err != nil {
			return false, res.err
		}
		for _, c := range res.objs {
			if ok, err := f(c); !ok || err != nil {
				return false, err
			}
		}
	}
	return true, nil
}

// first yields the first range from the lister's pages: the one fetched
// while planning, then the next ones until a key passes the range.
func (sp *splitLister) first(ctx context.Context, f func(types.Object) (bool, error)) (bool, error) {
	l, r := sp.l, sp.ranges[0]
	page := l.first
	for {
		for _, c := range page.Contents {
			if !r.contains(aws.ToString(c.Key)) {
				return true, nil
			}
			if ok, err := f(c); !ok || err != nil {
				return false, err
			}
		}
		if !l.pages.HasMorePages() || r.reached(page) {
			return true, nil
		}
		var err error
		if page, err = l.pages.NextPage(ctx, l.s.s3Opts); err != nil {
			return false, explain(err, s3uri.Format(l.bucket, l.prefix))
		}
	}
}

// listRange lists the keys of r, page after page, each page starting
// after the last key of the one before.
func (sp *splitLister) listRange(ctx context.Context, r keyRange) ([]types.Object, error) {
	l := sp.l
	in := &s3.ListObjectsV2Input{Bucket: aws.String(l.bucket), Prefix: aws.String(l.prefix), MaxKeys: maxKeys(l.s.listPage)}
	if r.after != "" {
		in.StartAfter = aws.String(r.after)
	}
	var objs []types.Object
	for {
		page, err := l.s.S3.ListObjectsV2(ctx, in, l.s.s3Opts)
		if err != nil {
			return nil, explain(err, s3uri.Format(l.bucket, l.prefix))
		}
		for _, c := range page.Contents {
			if !r.contains(aws.ToString(c.Key)) {
				return objs, nil
			}
			objs = append(objs, c)
		}
		if !aws.ToBool(page.IsTruncated) || r.reached(page) {
			return objs, nil
		}
		if n := len(page.Contents); n > 0 {
			in.StartAfter, in.ContinuationToken = page.Contents[n-1].Key, nil
		} else {
			in.ContinuationToken = page.NextContinuationToken
		}
	}
}

// maxKeys is a ListObjectsV2 page size: nil (the server's) for 0.
func maxKeys(n int32) *int32 {
	if n <= 0 {
		return nil
	}
	return aws.Int32(n)
}

// splitRecorder keeps every every-th key of a listing: the split keys
// for the next one.
type splitRecorder struct {
	every, n int
	keys     []string
}

func (r *splitRecorder) add(key string) {
	r.n++
	if r.n%r.every == 0 {
		r.keys = append(r.keys, key)
	}
}
