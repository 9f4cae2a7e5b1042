package docker

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Leftover is a Docker object jobrun created and no running jobrun owns.
type Leftover struct {
	Kind string // "container" or "network"
	ID   string
	Name string
	Job  string
}

// Leftovers lists the containers of jobrun runs whose jobrun process is
// gone (it was killed, or the machine rebooted) and jobrun's shared network.
// A container of a live run is never listed.
func (e *Engine) Leftovers(ctx context.Context) ([]Leftover, error) {
	res, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", LabelJob)})
	if err != nil {
		return nil, fmt.Errorf("listing jobrun containers: %w", err)
	}
	var out []Leftover
	for _, c := range res.Items {
		if ownerAlive(c) {
			continue
		}
		name := ""
		if len(c.Names) > 0 {
			name = c.Names[0][1:]
		}
		out = append(out, Leftover{Kind: "container", ID: c.ID, Name: name, Job: c.Labels[LabelJob]})
	}
	nets, err := e.cli.NetworkList(ctx, client.NetworkListOptions{Filters: client.Filters{}.Add("label", LabelManaged+"=true")})
	if err != nil {
		return nil, fmt.Errorf("listing jobrun networks: %w", err)
	}
	for _, n := range nets.Items {
		out = append(out, Leftover{Kind: "network", ID: n.ID, Name: n.Name})
	}
	return out, nil
}

// ownerAlive reports whether the jobrun process that made a container
// still runs on this machine, whatever the container's state (a live run
// has a created container before it starts and an exited one before it
// removes it). Containers from other machines (a shared DOCKER_HOST) are
// left alone while they run.
func ownerAlive(c container.Summary) bool {
	host, _ := os.Hostname()
	if c.Labels[LabelHost] != host {
		return c.State == container.StateRunning || c.State == container.StateRestarting
	}
	pid, err := strconv.Atoi(c.Labels[LabelPID])
	if err != nil || pid <= 0 {
		return false
	}
	return syscall.Kill(pid, 0) != syscall.ESRCH
}

// Remove deletes a leftover. A network still in use by a live run is kept
// (it is shared) and reported as not removed.
func (e *Engine) Remove(ctx context.Context, l Leftover) (bool, error) {
	var err error
	switch l.Kind {
	case "container":
		_, err = e.cli.ContainerRemove(ctx, l.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	case "network":
		_, err = e.cli.NetworkRemove(ctx, l.ID, client.NetworkRemoveOptions{})
		if cerrdefs.IsConflict(err) || cerrdefs.IsPermissionDenied(err) || (err != nil && isInUse(err)) {
			return false, nil
		}
	}
	if err != nil && !cerrdefs.IsNotFound(err) {
		return false, fmt.Errorf("removing %s %s: %w", l.Kind, l.Name, err)
	}
	return true, nil
}

func isInUse(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "active endpoints") || strings.Contains(err.Error(), "in use"))
}

// Owner finds the jobrun process running job on this engine: its PID and
// the host it runs on (from the container's labels). ok is false when no
// container of the job exists.
func (e *Engine) Owner(ctx context.Context, job string) (pid int, host string, ok bool, err error) {
	res, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", LabelJob+"="+job)})
	if err != nil {
		return 0, "", false, fmt.Errorf("listing the containers of %s: %w", job, err)
	}
	for _, c := range res.Items {
		if pid, err := strconv.Atoi(c.Labels[LabelPID]); err == nil && pid > 0 {
			return pid, c.Labels[LabelHost], true, nil
		}
	}
	return 0, "", false, nil
}
