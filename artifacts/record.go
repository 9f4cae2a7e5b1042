// Package artifacts holds what a run leaves behind: the run directory's
// layout, the job.json record, the model and output archives, and
// checkpoint restore and save.
package artifacts

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
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
}

// InputRecord pins one input channel's content.
type InputRecord struct {
	Channel string `json:"channel"`
	URI     string `json:"uri"`
	Files   int    `json:"files"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256,omitempty"` // of the sorted (path, sha256) list
}

// OutputRecord says where each artifact went, relative to the run directory.
type OutputRecord struct {
	Model       string `json:"model"`
	Output      string `json:"output"`
	Logs        string `json:"logs"`
	Metrics     string `json:"metrics"`
	Checkpoints string `json:"checkpoints,omitempty"`
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

// ListRecords reads every run below an output directory, newest first.
// Folders without a readable job.json are skipped.
func ListRecords(outputDir string) ([]*Record, error) {
	entries, err := os.ReadDir(outputDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing runs in %s: %w", outputDir, err)
	}
	var out []*Record
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if r, err := ReadRecord(filepath.Join(outputDir, e.Name())); err == nil {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, nil
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
