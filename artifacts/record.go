// Package artifacts holds what a run leaves behind and where it goes: the
// run directory's layout and its job.json record; Stores (a local folder or
// an S3 prefix) and Push, which copies a run directory into one, verified,
// resumable, job.json last; the SageMaker-style model and output archives;
// checkpoints, restored before a run, synced out while it runs (Syncer) and
// saved after; reading runs and logs back (ListRuns, ReadRecordAt, OpenLog);
// and the end-of-run webhook (Notify). docs/outputs.md describes it for
// users.
package artifacts

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Run statuses, SageMaker's names.
const (
	StatusInProgress = "InProgress"
	StatusCompleted  = "Completed"
	StatusFailed     = "Failed"
	StatusStopped    = "Stopped"
)

// RecordFile is the run record's name inside the run directory.
const RecordFile = "job.json"

// Record is job.json: everything needed to understand and rerun a run.
type Record struct {
	JobName       string             `json:"job_name"`
	JobARN        string             `json:"job_arn"`
	Status        string             `json:"status"`
	ExitCode      *int               `json:"exit_code,omitempty"`
	FailureReason string             `json:"failure_reason,omitempty"`
	StopReason    string             `json:"stop_reason,omitempty"`
	JobrunVersion string             `json:"jobrun_version"`
	Engine        string             `json:"engine"`
	Host          string             `json:"host"`
	Image         string             `json:"image"`
	ImageID       string             `json:"image_id"`
	CreatedAt     time.Time          `json:"created_at"`
	StartedAt     *time.Time         `json:"started_at,omitempty"`
	EndedAt       *time.Time         `json:"ended_at,omitempty"`
	Inputs        []InputRecord      `json:"inputs"`
	Outputs       OutputRecord       `json:"outputs"`
	FinalMetrics  map[string]float64 `json:"final_metrics,omitempty"`
	Spec          json.RawMessage    `json:"spec"`
	// SpecSource is the spec file's text and Overrides the command line's
	// changes to it, for `jobrun rerun`.
	SpecSource string         `json:"spec_source,omitempty"`
	Overrides  *SpecOverrides `json:"overrides,omitempty"`
	Upload     *UploadRecord  `json:"upload,omitempty"`
}

// SpecOverrides are the --set and --env flags a run was started with.
type SpecOverrides struct {
	Set []string `json:"set,omitempty"`
	Env []string `json:"env,omitempty"`
}

// InputRecord pins one input channel's content.
type InputRecord struct {
	Channel string `json:"channel"`
	URI     string `json:"uri"`
	Files   int    `json:"files"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256,omitempty"` // of the sorted (path, sha256) list
	// S3 channels: the channel type, the manifest and every object used,
	// pinned by ETag (or version id), so a rerun can insist on them.
	Type     string         `json:"type,omitempty"`
	Manifest *ObjectRecord  `json:"manifest,omitempty"`
	Objects  []ObjectRecord `json:"objects,omitempty"`
}

// ObjectRecord pins one S3 object.
type ObjectRecord struct {
	URI       string `json:"uri"`
	ETag      string `json:"etag,omitempty"`
	VersionID string `json:"version_id,omitempty"`
	Size      int64  `json:"size"`
}

// OutputRecord says where each artifact went, relative to the run directory.
type OutputRecord struct {
	Model       string `json:"model"`
	Output      string `json:"output"`
	Logs        string `json:"logs"`
	Metrics     string `json:"metrics"`
	Checkpoints string `json:"checkpoints,omitempty"`
}

// UploadRecord says where the run's place was copied (by Push: at the end
// of a run with an S3 output, or by jobrun push) and how far the last copy
// got. Push writes it into job.json and uploads job.json last, so a
// job.json found at URI with CompletedAt set means everything else there
// is complete and verified.
type UploadRecord struct {
	URI         string `json:"uri"`         // the run's place, e.g. s3://bucket/prefix/<job>/
	Compression string `json:"compression"` // none | gzip
	Files       int    `json:"files"`       // objects in the place, job.json not counted
	Bytes       int64  `json:"bytes"`       // their bytes (archives: before compression)
	Unchanged   int    `json:"unchanged"`   // of Files, found already there and not sent again
	// Skipped lists links and special files that were left out
	// (relative to the run directory, at most 100).
	Skipped     []string   `json:"skipped,omitempty"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	Error       string     `json:"error,omitempty"` // why the last attempt stopped; jobrun push resumes it
}

// ArtifactURI is where an artifact (a path relative to the run's place,
// such as Outputs.Model) was copied; rel itself when the run was not
// pushed anywhere.
func (r *Record) ArtifactURI(rel string) string {
	if r.Upload == nil || r.Upload.URI == "" {
		return rel
	}
	if strings.HasPrefix(r.Upload.URI, "s3://") {
		return strings.TrimSuffix(r.Upload.URI, "/") + "/" + rel
	}
	return filepath.Join(r.Upload.URI, filepath.FromSlash(rel))
}

// Duration is how long the run took, or has taken so far.
func (r *Record) Duration(now time.Time) time.Duration {
	start := r.CreatedAt
	if r.StartedAt != nil {
		start = *r.StartedAt
	}
	end := now
	if r.EndedAt != nil {
		end = *r.EndedAt
	}
	return end.Sub(start).Round(time.Second)
}

// WriteRecord writes job.json atomically: a reader sees the old or the new
// record, never half of one.
func WriteRecord(runDir string, r *Record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", RecordFile, err)
	}
	return WriteFileAtomic(filepath.Join(runDir, RecordFile), append(data, '\n'), 0o644)
}

// ReadRecord reads a run directory's job.json.
func ReadRecord(runDir string) (*Record, error) {
	data, err := os.ReadFile(filepath.Join(runDir, RecordFile))
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(runDir, RecordFile), err)
	}
	return &r, nil
}

// WriteFileAtomic writes through a temporary file in the same folder and
// renames it into place.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
