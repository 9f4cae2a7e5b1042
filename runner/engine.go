// Package runner holds the run sequence of one job: stage inputs, compute
// the contract, start the container on an Engine, stream its logs, stop it
// on time or on request, collect its outputs and write the run record.
package runner

import (
	"context"
	"io"
	"time"
)

// Engine runs containers on one machine. runner/docker is the local Docker
// Engine; remote engines implement the same contract.
type Engine interface {
	// Host describes the machine containers run on. Safe to call repeatedly.
	Host(ctx context.Context) (Host, error)
	// Image makes the image present and returns its ID: it builds it when
	// req.Build is set, pulls it when req.Pull is set, and otherwise only
	// checks that it exists. Build output goes to log.
	Image(ctx context.Context, req ImageRequest, log io.Writer) (string, error)
	// Run creates and starts the container, streams its output to
	// c.Stdout and c.Stderr, and waits for it to exit. When ctx is done the
	// container is stopped gracefully: SIGTERM to its PID 1, then SIGKILL
	// after c.Grace; when c.Force is closed it is killed at once. The
	// container is removed before Run returns, whatever happened. The
	// returned Exit is valid whenever the container was started.
	Run(ctx context.Context, c Container) (Exit, error)
}

// Host is what the contract needs to know about the machine.
type Host struct {
	Name    string // e.g. "local" or the SSH host
	NumCPUs int
	NumGPUs int
	Arch    string
}

// ImageRequest says how to obtain the job's image.
type ImageRequest struct {
	Ref        string // image reference; the tag for a build
	Pull       bool
	Build      bool
	Context    string // build context directory
	Dockerfile string
	BuildArgs  map[string]string
	Labels     map[string]string
}

// Mount is a bind mount from the engine's host into the container.
type Mount struct {
	Source   string
	Target   string
	ReadOnly bool
}

// Container is one container of a job.
type Container struct {
	Name       string // container name, unique on the engine
	Image      string // image ID
	Hostname   string
	Entrypoint []string
	Cmd        []string
	Env        []string
	Mounts     []Mount
	Labels     map[string]string
	ShmSize    int64
	Memory     int64
	NanoCPUs   int64
	GPUs       GPUs
	Grace      time.Duration
	Force      <-chan struct{}
	Stdout     io.Writer
	Stderr     io.Writer
}

// GPUs are the GPUs a container gets: all of them, a count, or devices.
type GPUs struct {
	All     bool
	Count   int
	Devices []string
}

// None reports whether no GPU is asked for.
func (g GPUs) None() bool { return !g.All && g.Count == 0 && len(g.Devices) == 0 }

// Exit is how a container ended.
type Exit struct {
	Code       int
	OOMKilled  bool
	Stopped    bool // jobrun sent the stop signal
	Killed     bool // jobrun had to SIGKILL it
	StartedAt  time.Time
	FinishedAt time.Time
}
