package agent

import (
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Summary is one job as `jobrun ls --host` shows it.
type Summary struct {
	JobName       string    `json:"job_name"`
	RunDir        string    `json:"run_dir"`
	Status        string    `json:"status"`
	CreatedAt     time.Time `json:"created_at"`
	FinishedAt    time.Time `json:"finished_at,omitzero"`
	DurationSec   float64   `json:"duration_seconds"`
	ExitCode      *int      `json:"exit_code"`
	FailureReason string    `json:"failure_reason,omitempty"`
}

// List summarizes the jobs below root's jobs folder, newest first.
func List(root string) ([]Summary, error) {
	entries, err := os.ReadDir(filepath.Join(root, JobsDir))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Summary
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		d := Dir(filepath.Join(root, JobsDir, e.Name()))
		req, err := d.ReadRequest()
		if err != nil {
			continue // not (yet) a job: an upload in progress, or debris
		}
		s := Summary{JobName: req.JobName, CreatedAt: req.SubmittedAt}
		status, o := d.State()
		s.Status = status
		if o != nil {
			s.RunDir, s.FinishedAt, s.FailureReason = o.RunDir, o.FinishedAt, o.FailureReason
			code := o.ExitCode
			s.ExitCode = &code
		}
		end := time.Now()
		if !s.FinishedAt.IsZero() {
			end = s.FinishedAt
		}
		s.DurationSec = end.Sub(s.CreatedAt).Seconds()
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, nil
}

// Status answers `agent status` and `agent stop`.
type Status struct {
	Exists   bool     `json:"exists"`
	State    string   `json:"state,omitempty"`
	Outcome  *Outcome `json:"outcome,omitempty"`
	Stopping bool     `json:"stopping,omitempty"` // stop: a signal was sent
}

// StatusOf describes the job directory d.
func StatusOf(d Dir) Status {
	if _, err := os.Stat(d.Path(RequestFile)); err != nil {
		return Status{}
	}
	state, o := d.State()
	return Status{Exists: true, State: state, Outcome: o}
}
