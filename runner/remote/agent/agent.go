// Package agent is the host side of `jobrun remote`: the job directory a
// client prepares on the host, and the detached agent process that runs
// the job there, exactly as `jobrun local` would, while the client may
// come and go.
//
// The agent is the client's own jobrun binary, copied to the host. Each
// job gets a directory <root>/jobs/<job-name>/ holding:
//
//	request.json  what to run (the resolved spec and settings), mode 0600
//	console.log   everything `jobrun local` would print: the container's
//	              stdout and stderr and jobrun's messages, append-only, so
//	              a client can re-attach from any byte offset
//	agent.pid     the agent's process ID while it runs
//	agent.log     the agent's own stderr (start-up failures)
//	result.json   how the job ended, written atomically at the very end
//	inputs/       local-path inputs uploaded by the client
//	build/        the build context, for specs with build:
//
// Credentials forwarded by the client never touch the job directory: they
// reach the agent through a pipe (see Start).
package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jobrun/jobrun/artifacts"
	"github.com/jobrun/jobrun/awsconfig"
	"github.com/jobrun/jobrun/spec"
)

// Files of a job directory.
const (
	RequestFile = "request.json"
	ConsoleFile = "console.log"
	PIDFile     = "agent.pid"
	AgentLog    = "agent.log"
	ResultFile  = "result.json"
	InputsDir   = "inputs"
	BuildDir    = "build"
)

// Folders below the agent's root on the host.
const (
	BinDir     = "bin"     // agent binaries, one per version
	JobsDir    = "jobs"    // one job directory per job
	RunsDir    = "runs"    // run directories of jobs with a local output
	UploadsDir = "uploads" // content-addressed store of uploaded inputs
)

// Request is what the client asks the agent to run.
type Request struct {
	JobName string `json:"job_name"`
	// Spec is the resolved spec, its paths rewritten to the host's;
	// ClientSpec the same spec as the client resolved it, for the record.
	Spec       *spec.Spec `json:"spec"`
	ClientSpec *spec.Spec `json:"client_spec,omitempty"`
	// Webhook is Spec.Notify's webhook: Spec marshals it masked.
	Webhook    string                  `json:"webhook,omitempty"`
	SpecSource string                  `json:"spec_source,omitempty"`
	Overrides  artifacts.SpecOverrides `json:"overrides"`
	// AWS is the client's S3 settings (profile, region, endpoint); Env the
	// AWS_* and JOBRUN_* variables the client forwards (never secrets).
	AWS awsconfig.Options `json:"aws"`
	Env map[string]string `json:"env,omitempty"`
	// ForwardCredentials says the client sends credentials through the
	// start pipe.
	ForwardCredentials bool      `json:"forward_credentials,omitempty"`
	DockerSocket       string    `json:"docker_socket"`
	CacheDir           string    `json:"cache_dir"`
	Client             string    `json:"client"` // the client's host name, for the record
	Version            string    `json:"version"`
	SubmittedAt        time.Time `json:"submitted_at"`
}

// Credentials are AWS credentials the client forwards.
type Credentials struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	SessionToken    string    `json:"session_token,omitempty"`
	Expires         time.Time `json:"expires,omitzero"`
}

// Envelope is what `agent start` reads on its standard input.
type Envelope struct {
	Request     *Request     `json:"request"`
	Credentials *Credentials `json:"credentials,omitempty"`
}

// Outcome is how a job ended (result.json).
type Outcome struct {
	JobName       string `json:"job_name"`
	RunDir        string `json:"run_dir"`
	Status        string `json:"status"`
	ExitCode      int    `json:"exit_code"` // what `jobrun local` would have exited with
	FailureReason string `json:"failure_reason,omitempty"`
	// Error is jobrun's error message, "" when it had none to say.
	Error      string    `json:"error,omitempty"`
	FinishedAt time.Time `json:"finished_at"`
}

// Dir is one job directory on the host.
type Dir string

// Path is a file of the job directory.
func (d Dir) Path(name string) string { return filepath.Join(string(d), name) }

// ReadRequest reads request.json, restoring the unmasked webhook.
func (d Dir) ReadRequest() (*Request, error) {
	var req Request
	if err := readJSON(d.Path(RequestFile), &req); err != nil {
		return nil, err
	}
	if req.Spec == nil {
		return nil, fmt.Errorf("%s: no spec", d.Path(RequestFile))
	}
	req.Spec.Source = req.SpecSource
	if req.Spec.Notify != nil {
		req.Spec.Notify.Webhook = req.Webhook
	}
	return &req, nil
}

// WriteRequest writes request.json, readable by its owner only: the
// webhook is a secret.
func (d Dir) WriteRequest(req *Request) error {
	if req.Spec != nil && req.Spec.Notify != nil {
		req.Webhook = req.Spec.Notify.Webhook
	}
	return writeJSON(d.Path(RequestFile), req, 0o600)
}

// ReadOutcome reads result.json; fs.ErrNotExist while the job runs.
func (d Dir) ReadOutcome() (*Outcome, error) {
	var o Outcome
	if err := readJSON(d.Path(ResultFile), &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// WriteOutcome writes result.json atomically: a client that sees it sees
// all of it, and the console log is complete by then.
func (d Dir) WriteOutcome(o *Outcome) error { return writeJSON(d.Path(ResultFile), o, 0o644) }

// PID returns the agent's process ID if it is still running.
func (d Dir) PID() (int, bool) {
	data, err := os.ReadFile(d.Path(PIDFile))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	// The PID may have been reused: it must still be our agent, running
	// this very job directory.
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return pid, syscall.Kill(pid, 0) == nil // no /proc: trust the signal check
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	for i := 0; i+2 < len(args); i++ {
		if args[i] == "agent" && args[i+1] == "run" && args[i+2] == string(d) {
			return pid, true
		}
	}
	return pid, false
}

// Signals `jobrun stop` sends to a jobrun process (an agent, or jobrun
// local): unlike SIGTERM and Ctrl-C, whose second arrival kills, these
// can be sent any number of times.
const (
	StopSignal = syscall.SIGUSR2 // stop gracefully
	KillSignal = syscall.SIGUSR1 // kill the container now
)

// Stop asks a running agent to stop its job: gracefully (SIGTERM to the
// container, the grace period, the final checkpoint sync, outputs
// collected), or with force by killing the container at once (cleanup
// still runs). Asking again does no harm. It reports false when the job
// is not running.
func (d Dir) Stop(force bool) (bool, error) {
	pid, ok := d.PID()
	if !ok {
		return false, nil
	}
	sig := StopSignal
	if force {
		sig = KillSignal
	}
	if err := syscall.Kill(pid, sig); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return false, nil
		}
		return false, fmt.Errorf("signalling the agent (pid %d): %w", pid, err)
	}
	return true, nil
}

// State is a job's state as the host sees it: the outcome's status when it
// ended, InProgress while its agent runs, Lost when the agent is gone
// without an outcome (the host rebooted, the agent was killed).
func (d Dir) State() (status string, out *Outcome) {
	if o, err := d.ReadOutcome(); err == nil {
		return o.Status, o
	}
	if _, ok := d.PID(); ok {
		return artifacts.StatusInProgress, nil
	}
	// The agent may be between writing its outcome and exiting, or just
	// starting: read once more.
	if o, err := d.ReadOutcome(); err == nil {
		return o.Status, o
	}
	// Start writes the PID file or an outcome within seconds; a job with
	// neither for longer lost its agent while it started.
	if _, err := os.Stat(d.Path(PIDFile)); errors.Is(err, fs.ErrNotExist) {
		if fi, err := os.Stat(d.Path(RequestFile)); err == nil && time.Since(fi.ModTime()) < startTimeout {
			return StatusStarting, nil
		}
	}
	return StatusLost, nil
}

// States of a job that has no outcome yet.
const (
	StatusStarting = "Starting" // the agent is being started
	StatusLost     = "Lost"     // the agent ended without an outcome
)

// startTimeout bounds how long an agent may take to start.
const startTimeout = time.Minute

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any, mode fs.FileMode) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
