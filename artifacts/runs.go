package artifacts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
)

// recordLimit bounds a job.json read from a store: records are small, and
// a store is not trusted to be.
const recordLimit = 16 << 20

// readWorkers bounds the job.json files ListRuns reads at once.
const readWorkers = 16

// ListRuns reads the record of every run in a store (a local output folder
// or an S3 output prefix), newest first. Folders without job.json, or with
// one that is not a record, are skipped: not runs, or runs whose upload
// has not got that far. When some records cannot be read for another
// reason (the store failed), it returns the others with an error.
func ListRuns(ctx context.Context, st Store) ([]*Record, error) {
	names, err := st.Folders(ctx, "")
	if err != nil {
		return nil, err
	}
	recs := make([]*Record, len(names))
	errs := forEach(ctx, readWorkers, len(names), func(ctx context.Context, i int) error {
		r, err := ReadRecordAt(ctx, st, names[i])
		recs[i] = r
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotRecord) {
			return nil
		}
		return err
	})
	var out []*Record
	for _, r := range recs {
		if r != nil {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, summarize("records", errs)
}

var errNotRecord = errors.New("not a run record")

// ReadRecordAt reads one run's job.json from a store. A run that is not
// there gives an error matching fs.ErrNotExist.
func ReadRecordAt(ctx context.Context, st Store, job string) (*Record, error) {
	key := joinKey(job, RecordFile)
	r, err := st.Open(ctx, key, 0)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, recordLimit))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", st.URI(key), err)
	}
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("reading %s: %w: %v", st.URI(key), errNotRecord, err)
	}
	return &rec, nil
}

// LogKey is where a host's log is kept below a run's place.
func LogKey(job, host string) string {
	if host == "" {
		host = "algo-1"
	}
	return joinKey(job, "logs", host+".log")
}

// OpenLog reads a run's log (host "" is algo-1) from a byte offset. At or
// past the end it reads nothing, so a follower polls by reopening at the
// offset it reached. On S3 the log is there once the run was pushed; a run
// in progress is followed from its local run directory.
func OpenLog(ctx context.Context, st Store, job, host string, offset int64) (io.ReadCloser, error) {
	r, err := st.Open(ctx, LogKey(job, host), offset)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no log for %s at %s: %w", job, st.URI(LogKey(job, host)), err)
	}
	return r, err
}
