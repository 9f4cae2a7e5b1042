// Package remote runs jobs on another machine over SSH. Today it holds the
// host check (`jobrun remote --check`); the agent that runs jobs there
// comes next. The SSH transport is in runner/remote/sshconn.
package remote

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"

	"github.com/moby/moby/client"

	"github.com/jobrun/jobrun/runner/remote/sshconn"
)

// DefaultDockerSocket is where the Docker Engine listens on most hosts.
const DefaultDockerSocket = "/var/run/docker.sock"

// minFreeDisk is the free space below which the disk check warns: the
// input cache and run directories live in the user's home on the host.
const minFreeDisk = 10 << 30

// Check is one prerequisite of a host.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// CheckHost reports what a host offers for running jobs: the architecture
// (the agent is this same binary), the Docker Engine through its socket
// (reachable, the API version, this user's permission), GPUs and their
// runtime, and free disk in the home directory.
func CheckHost(ctx context.Context, conn *sshconn.Conn, dockerSocket string) []Check {
	return []Check{
		checkArch(ctx, conn),
		checkDocker(ctx, conn, dockerSocket),
		checkGPUs(ctx, conn),
		checkDisk(ctx, conn),
	}
}

func checkArch(ctx context.Context, conn *sshconn.Conn) Check {
	arch, err := conn.Arch(ctx)
	if err != nil {
		return Check{"arch", false, err.Error()}
	}
	if arch != runtime.GOARCH {
		return Check{"arch", false, fmt.Sprintf("%s, but this jobrun is %s: the host needs a %s build of jobrun", arch, runtime.GOARCH, arch)}
	}
	return Check{"arch", true, arch}
}

// dockerClient talks to the host's Docker Engine through the SSH
// connection (a streamlocal channel to its socket).
func dockerClient(conn *sshconn.Conn, socket string) (*client.Client, error) {
	return client.New(client.WithHost("unix://"+socket), client.WithHTTPClient(&http.Client{
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return conn.DialUnix(ctx, socket)
		}},
	}))
}

func checkDocker(ctx context.Context, conn *sshconn.Conn, socket string) Check {
	cli, err := dockerClient(conn, socket)
	if err != nil {
		return Check{"docker", false, err.Error()}
	}
	defer cli.Close()
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return Check{"docker", false, fmt.Sprintf("cannot reach the Docker Engine at %s (is Docker running there, "+
			"and may %s use its socket? add the user to the docker group): %v", socket, conn.Endpoint().User, err)}
	}
	return Check{"docker", true, fmt.Sprintf("Docker %s, API %s, %d CPUs, %s",
		info.Info.ServerVersion, cli.ClientVersion(), info.Info.NCPU, info.Info.OperatingSystem)}
}

// checkGPUs counts the NVIDIA driver's GPUs and looks for a runtime that
// can hand them to containers. No GPU is not a failure: CPU jobs run.
func checkGPUs(ctx context.Context, conn *sshconn.Conn) Check {
	out, err := conn.Output(ctx, "ls /proc/driver/nvidia/gpus 2>/dev/null | wc -l")
	if err != nil {
		return Check{"gpus", false, err.Error()}
	}
	n, _ := strconv.Atoi(strings.TrimSpace(out))
	if n == 0 {
		return Check{"gpus", true, "none (no NVIDIA driver): jobs asking for resources.gpus will be refused"}
	}
	driver, _ := conn.Output(ctx, "cat /proc/driver/nvidia/version 2>/dev/null | head -n 1")
	return Check{"gpus", true, fmt.Sprintf("%d NVIDIA GPU(s); %s", n, strings.TrimSpace(driver))}
}

func checkDisk(ctx context.Context, conn *sshconn.Conn) Check {
	out, err := conn.Output(ctx, `df -Pk "$HOME" | tail -n 1`)
	if err != nil {
		return Check{"disk", false, err.Error()}
	}
	fields := strings.Fields(out)
	if len(fields) < 4 {
		return Check{"disk", false, fmt.Sprintf("cannot read df's output %q", out)}
	}
	kib, err := strconv.ParseInt(fields[3], 10, 64)
	if err != nil {
		return Check{"disk", false, fmt.Sprintf("cannot read df's output %q", out)}
	}
	free := kib << 10
	detail := fmt.Sprintf("%.1f GiB free in the home directory (cache and runs)", float64(free)/(1<<30))
	return Check{"disk", free >= minFreeDisk, detail}
}
