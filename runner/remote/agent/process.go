package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jobrun/jobrun/exitcode"
)

// The agent's extra file descriptors (exec.Cmd.ExtraFiles): it writes a
// byte to readyFD once it handles signals and has its credentials, which
// it reads from credentialsFD.
const (
	readyFD       = 3
	credentialsFD = 4
)

// Start reads an Envelope from stdin, writes the job's request and starts
// `self agent run DIR` detached from the SSH session (a new session, its
// output in agent.log, standard input /dev/null), so that it outlives the
// client's connection; on a systemd host also in a scope unit of its own
// (see detach.go). Forwarded credentials go to it through a pipe: they
// never appear on a command line, in a file or in another user's view of
// the process table. It returns the agent's PID.
func Start(d Dir, self string, stdin io.Reader) (int, error) {
	var env Envelope
	dec := json.NewDecoder(io.LimitReader(stdin, 64<<20))
	if err := dec.Decode(&env); err != nil {
		return 0, fmt.Errorf("reading the job request: %w", err)
	}
	if env.Request == nil || env.Request.Spec == nil {
		return 0, errors.New("the job request has no spec")
	}
	if env.Request.ForwardCredentials != (env.Credentials != nil) {
		return 0, errors.New("the job request and its credentials disagree")
	}
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return 0, err
	}
	if _, err := os.Stat(d.Path(RequestFile)); err == nil {
		return 0, fmt.Errorf("job directory %s already holds a job", d)
	}
	env.Request.SubmittedAt = time.Now().UTC() // the host's clock, as the outcome's
	if err := d.WriteRequest(env.Request); err != nil {
		return 0, fmt.Errorf("writing the job request: %w", err)
	}
	pid, err := spawn(d, self, env.Credentials)
	if err != nil {
		// Record it (unless the agent did): a job with a request but
		// neither agent nor outcome would look as if it were starting.
		if _, oerr := d.ReadOutcome(); oerr != nil {
			Finish(d, env.Request.JobName, "", "Failed", "", err)
		}
		return 0, err
	}
	return pid, nil
}

// spawn starts the agent and waits until it is ready.
func spawn(d Dir, self string, creds *Credentials) (int, error) {
	logf, err := os.OpenFile(d.Path(AgentLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer readyR.Close()
	credsR, credsW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		return 0, err
	}
	defer credsW.Close()
	cmd := detachedCommand(d, self, logf)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = string(d)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.ExtraFiles = []*os.File{readyW, credsR}
	err = cmd.Start()
	readyW.Close()
	credsR.Close()
	if err != nil {
		return 0, fmt.Errorf("starting the agent: %w", err)
	}
	pid := cmd.Process.Pid
	fail := func(err error) (int, error) {
		cmd.Process.Kill()
		cmd.Wait()
		return 0, err
	}
	// Written here, not by the agent, so that a client asking right after
	// Start returns finds the job running.
	if err := os.WriteFile(d.Path(PIDFile), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return fail(err)
	}
	if creds != nil {
		if err := json.NewEncoder(credsW).Encode(creds); err != nil {
			return fail(fmt.Errorf("passing credentials to the agent: %w", err))
		}
	}
	credsW.Close()
	// Until it is ready a stop request could kill it before it recorded
	// anything.
	ready := make(chan error, 1)
	go func() {
		_, err := readyR.Read(make([]byte, 1))
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			cmd.Wait()
			return 0, fmt.Errorf("the agent ended as it started (see %s): %w", d.Path(AgentLog), err)
		}
	case <-time.After(startTimeout / 2):
		return fail(fmt.Errorf("the agent did not start within %s (see %s)", startTimeout/2, d.Path(AgentLog)))
	}
	return pid, cmd.Process.Release()
}

// Begin prepares the agent process for its job: it reads the request,
// applies the forwarded environment and credentials to this process (the
// AWS SDK's default chain then finds them) and opens the console log.
func Begin(d Dir) (*Request, *os.File, error) {
	req, err := d.ReadRequest()
	if err != nil {
		return nil, nil, err
	}
	for k, v := range req.Env {
		os.Setenv(k, v)
	}
	if req.DockerSocket != "" {
		os.Setenv("DOCKER_HOST", "unix://"+req.DockerSocket)
	}
	creds := os.NewFile(credentialsFD, "credentials")
	if req.ForwardCredentials {
		if err := useCredentials(creds); err != nil {
			return nil, nil, err
		}
		req.AWS.Profile = "" // a profile would win over the forwarded credentials
	} else if creds != nil {
		creds.Close()
	}
	if ready := os.NewFile(readyFD, "ready"); ready != nil {
		ready.Write([]byte{1})
		ready.Close()
	}
	console, err := os.OpenFile(d.Path(ConsoleFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	return req, console, nil
}

func useCredentials(f *os.File) error {
	if f == nil {
		return errors.New("forwarded credentials expected but no pipe was given")
	}
	defer f.Close()
	var c Credentials
	if err := json.NewDecoder(io.LimitReader(f, 1<<20)).Decode(&c); err != nil {
		return fmt.Errorf("reading forwarded credentials: %w", err)
	}
	os.Unsetenv("AWS_PROFILE")
	os.Setenv("AWS_ACCESS_KEY_ID", c.AccessKeyID)
	os.Setenv("AWS_SECRET_ACCESS_KEY", c.SecretAccessKey)
	if c.SessionToken != "" {
		os.Setenv("AWS_SESSION_TOKEN", c.SessionToken)
	} else {
		os.Unsetenv("AWS_SESSION_TOKEN")
	}
	return nil
}

// Finish records how the job ended. err is the run's error, mapped to the
// exit code `jobrun local` would have used.
func Finish(d Dir, jobName, runDir, status, reason string, err error) error {
	if jobName == "" {
		jobName = filepath.Base(string(d))
	}
	o := &Outcome{JobName: jobName, RunDir: runDir, Status: status, FailureReason: reason,
		ExitCode: exitcode.Code(err), FinishedAt: time.Now().UTC()}
	if err != nil && !exitcode.Quiet(err) {
		o.Error = err.Error()
	}
	if o.Status == "" {
		o.Status = "Failed"
	}
	werr := d.WriteOutcome(o)
	os.Remove(d.Path(PIDFile))
	return werr
}

// pollInterval is how often Follow looks for more output: it bounds the
// delay a client sees, and a read of a file that did not grow is cheap.
const pollInterval = 50 * time.Millisecond

// Follow copies the console log from byte offset from to w, keeping on as
// it grows, until the job has ended and all of it was copied, or until
// stdin reaches its end (the client went away; sshd does not signal
// commands of every login, so this is how the follower notices). A job
// whose agent died without an outcome ends Follow with an error.
func Follow(ctx context.Context, d Dir, from int64, w io.Writer, stdin io.Reader) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if stdin != nil {
		go func() {
			io.Copy(io.Discard, stdin)
			cancel()
		}()
	}
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for {
		if f == nil {
			var err error
			if f, err = os.Open(d.Path(ConsoleFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if f != nil {
				if _, err := f.Seek(from, io.SeekStart); err != nil {
					return err
				}
			}
		}
		status, _ := d.State() // before copying: all output precedes the outcome
		if f != nil {
			if _, err := io.Copy(w, f); err != nil {
				return err
			}
		}
		switch status {
		case StatusLost:
			return fmt.Errorf("the agent of %s ended without recording how the job ended (see %s)", d, d.Path(AgentLog))
		case "Starting", "InProgress":
		default:
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pollInterval):
		}
	}
}

// Copy copies the console log from byte offset from to w, as far as it
// goes now.
func Copy(d Dir, from int64, w io.Writer) error {
	f, err := os.Open(d.Path(ConsoleFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	return err
}
