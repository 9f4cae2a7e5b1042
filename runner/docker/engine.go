// Package docker is the runner.Engine for a Docker Engine reached through
// its API (the local socket, or DOCKER_HOST).
package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/moby/moby/client"

	"github.com/jobrun/jobrun/runner"
)

// Labels jobrun puts on every Docker object it creates, so `jobrun gc` can
// find leftovers.
const (
	LabelJob     = "jobrun.job"
	LabelVersion = "jobrun.version"
	LabelPID     = "jobrun.pid"
	LabelHost    = "jobrun.host"
	LabelManaged = "jobrun.managed"
)

// NetworkName is the long-lived bridge network single-host jobs share:
// creating a network per run would cost as much as the run itself.
const NetworkName = "jobrun"

// Engine runs containers on one Docker Engine.
type Engine struct {
	cli *client.Client
	// GPUDir is where the NVIDIA driver lists GPUs; tests point it elsewhere.
	GPUDir string
}

// New connects to the Docker Engine named by the environment (DOCKER_HOST,
// or the default socket), negotiating the API version.
func New(ctx context.Context) (*Engine, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("connecting to Docker: %w", err)
	}
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		return nil, dockerDown(err)
	}
	return &Engine{cli: cli, GPUDir: "/proc/driver/nvidia/gpus"}, nil
}

// Client exposes the API client, for tests and the gc command.
func (e *Engine) Client() *client.Client { return e.cli }

// Close releases the connection.
func (e *Engine) Close() error { return e.cli.Close() }

func dockerDown(err error) error {
	if client.IsErrConnectionFailed(err) || errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) ||
		strings.Contains(err.Error(), "permission denied") {
		return fmt.Errorf("cannot reach the Docker Engine (is it running, and may this user use its socket? "+
			"try `docker info`; on Linux add yourself to the docker group): %w", err)
	}
	return fmt.Errorf("cannot reach the Docker Engine: %w", err)
}

// Host describes this machine: the local engine runs containers here, so
// the CPU count is the one a process in the container sees too.
func (e *Engine) Host(ctx context.Context) (runner.Host, error) {
	name, _ := os.Hostname()
	return runner.Host{Name: name, NumCPUs: runtime.NumCPU(), NumGPUs: e.countGPUs(), Arch: runtime.GOARCH}, nil
}

// countGPUs counts the GPUs the NVIDIA driver knows, 0 without a driver.
func (e *Engine) countGPUs() int {
	entries, err := os.ReadDir(e.GPUDir)
	if err != nil {
		return 0
	}
	return len(entries)
}
