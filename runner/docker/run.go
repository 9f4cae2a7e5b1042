package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/jobrun/jobrun/runner"
)

// cleanupTimeout bounds the work done after a run is over or interrupted.
const cleanupTimeout = 30 * time.Second

// Run creates, starts, waits for and removes one container.
func (e *Engine) Run(ctx context.Context, c runner.Container) (runner.Exit, error) {
	if err := e.ensureNetwork(ctx); err != nil {
		return runner.Exit{}, err
	}
	id, err := e.create(ctx, c)
	if err != nil {
		return runner.Exit{}, err
	}
	defer e.remove(id)
	return e.attachStartWait(ctx, id, c)
}

func (e *Engine) create(ctx context.Context, c runner.Container) (string, error) {
	res, err := e.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: c.Name,
		Config: &container.Config{
			Image: c.Image, Hostname: c.Hostname, Env: c.Env, Cmd: c.Cmd,
			Entrypoint: c.Entrypoint, Labels: c.Labels,
			AttachStdout: true, AttachStderr: true,
		},
		HostConfig: hostConfig(c),
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			NetworkName: {},
		}},
	})
	if err != nil {
		return "", fmt.Errorf("creating container %s: %w", c.Name, err)
	}
	return res.ID, nil
}

func hostConfig(c runner.Container) *container.HostConfig {
	hc := &container.HostConfig{
		NetworkMode: container.NetworkMode(NetworkName),
		ShmSize:     c.ShmSize,
		Resources:   container.Resources{Memory: c.Memory, NanoCPUs: c.NanoCPUs},
	}
	for _, m := range c.Mounts {
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	if req := deviceRequest(c.GPUs); req != nil {
		hc.DeviceRequests = []container.DeviceRequest{*req}
	}
	return hc
}

// deviceRequest maps the GPUs asked for to the NVIDIA device request that
// `docker run --gpus` sends.
func deviceRequest(g runner.GPUs) *container.DeviceRequest {
	if g.None() {
		return nil
	}
	req := &container.DeviceRequest{Driver: "nvidia", Capabilities: [][]string{{"gpu"}}, Count: g.Count, DeviceIDs: g.Devices}
	if g.All {
		req.Count = -1
	}
	return req
}

// attachStartWait attaches before starting so no output is lost, and
// registers the wait before starting so a quick exit is not missed.
func (e *Engine) attachStartWait(ctx context.Context, id string, c runner.Container) (runner.Exit, error) {
	bg := context.WithoutCancel(ctx)
	att, err := e.cli.ContainerAttach(bg, id, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return runner.Exit{}, fmt.Errorf("attaching to container %s: %w", c.Name, err)
	}
	defer att.Close()
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(orDiscard(c.Stdout), orDiscard(c.Stderr), att.Reader)
		copied <- err
	}()
	wait := e.cli.ContainerWait(bg, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := e.cli.ContainerStart(bg, id, client.ContainerStartOptions{}); err != nil {
		return runner.Exit{}, startError(c, err)
	}
	exit, err := e.waitOrStop(ctx, id, c, wait)
	if err != nil {
		return exit, err
	}
	<-copied // the stream ends when the container's output is closed
	return e.describeExit(bg, id, exit)
}

func (e *Engine) waitOrStop(ctx context.Context, id string, c runner.Container, wait client.ContainerWaitResult) (runner.Exit, error) {
	var exit runner.Exit
	stopCh := ctx.Done()
	var killTimer <-chan time.Time
	for {
		select {
		case res := <-wait.Result:
			if res.Error != nil {
				return exit, fmt.Errorf("waiting for container %s: %s", c.Name, res.Error.Message)
			}
			exit.Code = int(res.StatusCode)
			return exit, nil
		case err := <-wait.Error:
			return exit, fmt.Errorf("waiting for container %s: %w", c.Name, err)
		case <-stopCh:
			stopCh, exit.Stopped = nil, true
			e.signal(id, "SIGTERM")
			killTimer = time.After(c.Grace)
		case <-killTimer:
			killTimer, exit.Killed = nil, true
			e.signal(id, "SIGKILL")
		case <-c.Force:
			c.Force, exit.Stopped, exit.Killed = nil, true, true
			e.signal(id, "SIGKILL")
		}
	}
}

// signal sends a signal; a container that has just exited is not an error.
func (e *Engine) signal(id, sig string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	_, err := e.cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: sig})
	if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
		fmt.Fprintf(os.Stderr, "jobrun: sending %s to container: %v\n", sig, err)
	}
}

func (e *Engine) describeExit(ctx context.Context, id string, exit runner.Exit) (runner.Exit, error) {
	res, err := e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return exit, fmt.Errorf("inspecting container after exit: %w", err)
	}
	st := res.Container.State
	exit.OOMKilled = st.OOMKilled
	exit.StartedAt, _ = time.Parse(time.RFC3339Nano, st.StartedAt)
	exit.FinishedAt, _ = time.Parse(time.RFC3339Nano, st.FinishedAt)
	return exit, nil
}

// remove deletes the container and waits for it to be gone, even when the
// run was interrupted.
func (e *Engine) remove(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	_, err := e.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		fmt.Fprintf(os.Stderr, "jobrun: removing container %s: %v (`jobrun gc` removes leftovers)\n", id[:12], err)
	}
}

func startError(c runner.Container, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "could not select device driver"):
		return fmt.Errorf("starting container %s: resources.gpus asks for GPUs but this Docker Engine has no NVIDIA "+
			"GPU support (install the NVIDIA driver and nvidia-container-toolkit, or remove resources.gpus): %w", c.Name, err)
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return fmt.Errorf("starting container %s: the image has no such entrypoint or command "+
			"(check entrypoint/arguments in the spec and the image's ENTRYPOINT): %w", c.Name, err)
	case strings.Contains(msg, "permission denied"):
		return fmt.Errorf("starting container %s: permission denied (a mounted path or the entrypoint is not accessible): %w", c.Name, err)
	}
	return fmt.Errorf("starting container %s: %w", c.Name, err)
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

var errNetworkLabel = errors.New("a network named " + NetworkName + " exists but was not created by jobrun")

// ensureNetwork creates the shared network once; concurrent runs may race
// to create it, and losing that race is fine.
func (e *Engine) ensureNetwork(ctx context.Context) error {
	res, err := e.cli.NetworkInspect(ctx, NetworkName, client.NetworkInspectOptions{})
	if err == nil {
		if res.Network.Labels[LabelManaged] != "true" {
			return fmt.Errorf("%w: remove it or rename it", errNetworkLabel)
		}
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspecting network %s: %w", NetworkName, err)
	}
	_, err = e.cli.NetworkCreate(ctx, NetworkName, client.NetworkCreateOptions{
		Driver: "bridge", Labels: map[string]string{LabelManaged: "true"},
	})
	if err != nil && !cerrdefs.IsConflict(err) && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("creating network %s: %w", NetworkName, err)
	}
	return nil
}
