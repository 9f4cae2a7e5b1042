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
// job that ended (or was lost) long enough ago, an uploaded blob no job
// directory links to any more, or a copy of another jobrun version.
type Garbage struct {
	Kind  string // "jobdir", "blob" or "agent"
	Path  string
	Job   string // for a job directory
	Bytes int64  // for a blob or an agent binary
}

// GC finds, and unless dry removes, the garbage below root: job
// directories whose job ended more than olderThan ago (their console log,
// request and the hard-linked inputs; the runs in runs/ are outputs and
// stay), then blobs of the upload store that no job directory links to and
// that nothing linked or unlinked for olderThan (a blob's ctime changes
// with its link count), so a dataset uploaded again soon is still there;
// then agent binaries (bin/jobrun-*) installed more than olderThan ago,
// except keep, the one running GC. Removing the binary of a running
// agent is harmless (the process keeps its file), and a client of that
// version installs it again when it next needs it.
func GC(root string, olderThan time.Duration, dry bool, keep string) ([]Garbage, error) {
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
	bins, err := filepath.Glob(filepath.Join(root, BinDir, "jobrun-*"))
	if err != nil {
		return out, err
	}
	keepFi, _ := os.Stat(keep)
	for _, p := range bins {
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() || !fi.ModTime().Before(cutoff) || (keepFi != nil && os.SameFile(fi, keepFi)) {
			continue
		}
		out = append(out, Garbage{Kind: "agent", Path: p, Bytes: fi.Size()})
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
