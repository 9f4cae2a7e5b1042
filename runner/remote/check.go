// Package remote is the client side of `jobrun remote`: it connects to a
// host over SSH (runner/remote/sshconn), installs the agent there
// (runner/remote/agent is its host side), ships the image
// (runner/remote/imageship) and local inputs (runner/remote/upload),
// starts the job, follows its log across reconnections, stops it and pulls
// its run back. CheckHost is `jobrun remote --check`.
package remote

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"

	"github.com/moby/moby/client"

	"github.com/jobrun/jobrun/runner/remote/imageship"
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
func CheckHost(ctx context.Context, conn *sshconn.Conn, dockerSocket, root string) []Check {
	docker, info := checkDocker(ctx, conn, dockerSocket)
	return []Check{
		checkArch(ctx, conn),
		docker,
		checkGPUs(ctx, conn.Output, info),
		checkDisk(ctx, conn, root),
		checkLogind(ctx, conn),
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
func dockerClient(ctx context.Context, conn *sshconn.Conn, socket string) (*client.Client, error) {
	return imageship.RemoteClient(ctx, func(ctx context.Context) (net.Conn, error) { return conn.DialUnix(ctx, socket) })
}

func checkDocker(ctx context.Context, conn *sshconn.Conn, socket string) (Check, *client.SystemInfoResult) {
	cli, err := dockerClient(ctx, conn, socket)
	var info client.SystemInfoResult
	if err == nil {
		defer cli.Close()
		info, err = cli.Info(ctx, client.InfoOptions{})
	}
	if err != nil {
		return Check{"docker", false, fmt.Sprintf("cannot reach the Docker Engine at %s (is Docker running there, "+
			"and may %s use its socket? add the user to the docker group): %v", socket, conn.Endpoint().User, err)}, nil
	}
	return Check{"docker", true, fmt.Sprintf("Docker %s, API %s, %d CPUs, %s",
		info.Info.ServerVersion, cli.ClientVersion(), info.Info.NCPU, info.Info.OperatingSystem)}, &info
}

// outputFunc runs a command on the host and returns its output
// (sshconn.Conn.Output, sshconn.Session.Output).
type outputFunc func(ctx context.Context, cmd string) (string, error)

// nvidia is what a host offers GPU jobs.
type nvidia struct {
	GPUs    int    // GPUs the NVIDIA driver lists
	Driver  string // the driver's version line
	Runtime bool   // the Docker Engine can hand GPUs to containers
}

// probeNVIDIA counts the driver's GPUs and looks for what Docker needs to
// give them to containers: an "nvidia" runtime, or the NVIDIA container
// toolkit's hook that --gpus (DeviceRequests) calls. info may be nil (the
// Engine was not reached).
func probeNVIDIA(ctx context.Context, output outputFunc, info *client.SystemInfoResult) (nvidia, error) {
	out, err := output(ctx, "ls /proc/driver/nvidia/gpus 2>/dev/null | wc -l; head -n 1 /proc/driver/nvidia/version 2>/dev/null; "+
		"command -v nvidia-container-runtime-hook nvidia-container-toolkit 2>/dev/null | head -n 1")
	if err != nil {
		return nvidia{}, err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var n nvidia
	n.GPUs, _ = strconv.Atoi(strings.TrimSpace(lines[0]))
	for _, l := range lines[1:] {
		switch l = strings.TrimSpace(l); {
		case strings.HasPrefix(l, "/"):
			n.Runtime = true
		case l != "":
			n.Driver = l
		}
	}
	if info != nil {
		if _, ok := info.Info.Runtimes["nvidia"]; ok {
			n.Runtime = true
		}
	}
	return n, nil
}

// checkGPUs reports the host's GPUs. No GPU is not a failure (CPU jobs
// run); GPUs that Docker cannot hand to containers are.
func checkGPUs(ctx context.Context, output outputFunc, info *client.SystemInfoResult) Check {
	n, err := probeNVIDIA(ctx, output, info)
	switch {
	case err != nil:
		return Check{"gpus", false, err.Error()}
	case n.GPUs == 0:
		return Check{"gpus", true, "none (no NVIDIA driver): jobs asking for resources.gpus will be refused"}
	case !n.Runtime:
		return Check{"gpus", false, fmt.Sprintf("%d NVIDIA GPU(s), but the Docker Engine has no NVIDIA runtime: "+
			"install nvidia-container-toolkit (and run nvidia-ctk runtime configure --runtime=docker)", n.GPUs)}
	}
	return Check{"gpus", true, fmt.Sprintf("%d NVIDIA GPU(s); %s", n.GPUs, n.Driver)}
}

// checkLogind tells how the agent will be detached on the host, and
// fails where it would die at logout: a logind with KillUserProcesses=yes
// kills what stays in the login's session scope, which is where a setsid
// agent stays. The agent uses a scope of its own (systemd-run) as root or
// with lingering on (see agent/detach.go).
func checkLogind(ctx context.Context, conn *sshconn.Conn) Check {
	out, err := conn.Output(ctx, "[ -d /run/systemd/system ] && echo systemd; "+
		"command -v systemd-run >/dev/null && echo systemd-run; "+
		`[ "$(id -u)" = 0 ] && echo root; [ -e /var/lib/systemd/linger/"$(id -un)" ] && echo linger; `+
		"grep -hs '^[[:space:]]*KillUserProcesses' /etc/systemd/logind.conf /etc/systemd/logind.conf.d/*.conf | tail -n 1")
	if err != nil {
		return Check{"agent", false, err.Error()}
	}
	return logindCheck(out)
}

// logindCheck reads checkLogind's probe.
func logindCheck(out string) Check {
	has := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		has[strings.TrimSpace(l)] = true
	}
	switch {
	case !has["systemd"]:
		return Check{"agent", true, "runs detached with setsid (no systemd)"}
	case has["systemd-run"] && has["root"]:
		return Check{"agent", true, "runs in a systemd scope of its own (systemd-run --scope): logouts do not stop it"}
	case has["systemd-run"] && has["linger"]:
		return Check{"agent", true, "runs in a scope of the user's systemd manager (systemd-run --user --scope; lingering is on): logouts do not stop it"}
	}
	why := "lingering is off for this user"
	if !has["systemd-run"] {
		why = "systemd-run is not on PATH"
	}
	if v := strings.ToLower(out); strings.Contains(v, "killuserprocesses") && strings.Contains(v, "yes") {
		return Check{"agent", false, "logind.conf sets KillUserProcesses=yes and " + why +
			": jobs would be killed when their SSH session ends; run `loginctl enable-linger` on the host " +
			"(jobrun then uses a systemd user scope) or set KillUserProcesses=no"}
	}
	return Check{"agent", true, "runs detached with setsid (" + why + "); logind keeps it after logout (KillUserProcesses is not yes)"}
}

func checkDisk(ctx context.Context, conn *sshconn.Conn, root string) Check {
	if root == "" {
		root = DefaultRoot
	}
	// The root may not exist yet: measure its nearest existing folder.
	dir := sshconn.Quote(root)
	if root == "~" || strings.HasPrefix(root, "~/") {
		dir = `"$HOME"` + sshconn.Quote(root[1:])
	}
	out, err := conn.Output(ctx, `d=`+dir+`; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; df -Pk "$d" | tail -n 1`)
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
	detail := fmt.Sprintf("%.1f GiB free for %s (cache, uploads and runs)", float64(free)/(1<<30), root)
	return Check{"disk", free >= minFreeDisk, detail}
}
