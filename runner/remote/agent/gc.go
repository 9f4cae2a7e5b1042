package agent

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/jobrun/jobrun/artifacts"
)

// Garbage is something on the host that GC removes: a job directory of a
// job that ended (or was lost) long enough ago, or an uploaded blob no job
// directory links to any more.
type Garbage struct {
	Kind  string // "jobdir" or "blob"
	Path  string
	Job   string // for a job directory
	Bytes int64  // for a blob
}

// GC finds, and unless dry removes, the garbage below root: job
// directories whose job ended more than olderThan ago (their console log,
// request and the hard-linked inputs; the runs in runs/ are outputs and
// stay), then blobs of the upload store that no job directory links to and
// that nothing linked or unlinked for olderThan (a blob's ctime changes
// with its link count), so a dataset uploaded again soon is still there.
func GC(root string, olderThan time.Duration, dry bool) ([]Garbage, error) {
	cutoff := time.Now().Add(-olderThan)
	var out []Garbage
	var errs []error
	jobs, err := os.ReadDir(filepath.Join(root, JobsDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range jobs {
		d := Dir(filepath.Join(root, JobsDir, e.Name()))
		if !e.IsDir() || !ended(d, cutoff) {
			continue
		}
		out = append(out, Garbage{Kind: "jobdir", Path: string(d), Job: e.Name()})
		if !dry {
			errs = append(errs, os.RemoveAll(string(d)))
		}
	}
	blobs, err := os.ReadDir(filepath.Join(root, UploadsDir, "blobs"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return out, err
	}
	for _, e := range blobs {
		p := filepath.Join(root, UploadsDir, "blobs", e.Name())
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if !unlinkedSince(fi, cutoff) {
			continue
		}
		out = append(out, Garbage{Kind: "blob", Path: p, Bytes: fi.Size()})
		if !dry {
			errs = append(errs, os.Remove(p))
		}
	}
	return out, errors.Join(errs...)
}

// ended reports whether a job directory's job ended before cutoff: its
// outcome's time, or for a job without one (Lost, or debris of a submit
// that failed) the directory's own.
func ended(d Dir, cutoff time.Time) bool {
	status, o := d.State()
	switch {
	case o != nil:
		return o.FinishedAt.Before(cutoff)
	case status == artifacts.StatusInProgress || status == StatusStarting:
		return false
	}
	fi, err := os.Stat(string(d))
	return err == nil && fi.ModTime().Before(cutoff)
}
