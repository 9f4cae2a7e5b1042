package docker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/jobrun/jobrun/artifacts"
)

// ChownCommand is the hidden jobrun command the chown helper container runs.
const ChownCommand = "__chown"

// Chown gives dirs (and everything below them) to uid:gid. Containers run
// as root write root-owned files that a non-root user cannot move or
// delete; only root can hand them back, so a short-lived container from
// the job's own image (no registry needed) runs this static jobrun binary
// as root to do it.
func (e *Engine) Chown(ctx context.Context, image string, uid, gid int, dirs ...string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("fixing file ownership: locating jobrun binary: %w", err)
	}
	self, _ = filepath.EvalSymlinks(self)
	mounts := []mount.Mount{{Type: mount.TypeBind, Source: self, Target: "/.jobrun/jobrun", ReadOnly: true}}
	cmd := []string{ChownCommand, strconv.Itoa(uid), strconv.Itoa(gid)}
	for i, d := range dirs {
		target := fmt.Sprintf("/.jobrun/dir%d", i)
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: d, Target: target})
		cmd = append(cmd, target)
	}
	return e.runHelper(ctx, image, mounts, cmd)
}

func (e *Engine) runHelper(ctx context.Context, image string, mounts []mount.Mount, cmd []string) error {
	host, _ := os.Hostname()
	res, err := e.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{
			Image: image, User: "0:0", Entrypoint: []string{"/.jobrun/jobrun"}, Cmd: cmd,
			Labels: map[string]string{LabelJob: "helper", LabelPID: strconv.Itoa(os.Getpid()), LabelHost: host},
		},
		HostConfig: &container.HostConfig{NetworkMode: "none", Mounts: mounts},
	})
	if err != nil {
		return fmt.Errorf("fixing file ownership: creating helper container: %w", err)
	}
	defer e.remove(res.ID)
	wait := e.cli.ContainerWait(ctx, res.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := e.cli.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("fixing file ownership: starting helper container: %w", err)
	}
	select {
	case r := <-wait.Result:
		if r.StatusCode != 0 {
			return fmt.Errorf("fixing file ownership: helper exited with code %d", r.StatusCode)
		}
		return nil
	case err := <-wait.Error:
		return fmt.Errorf("fixing file ownership: %w", err)
	}
}

// ChownMain is the helper container's side: args are UID GID DIR...
func ChownMain(args []string) error {
	if len(args) < 3 {
		return fmt.Errorf("usage: %s UID GID DIR", ChownCommand)
	}
	uid, err1 := strconv.Atoi(args[0])
	gid, err2 := strconv.Atoi(args[1])
	if err1 != nil || err2 != nil {
		return fmt.Errorf("%s: UID and GID must be numbers", ChownCommand)
	}
	for _, d := range args[2:] {
		if err := artifacts.ChownTree(d, uid, gid); err != nil {
			return err
		}
	}
	return nil
}
