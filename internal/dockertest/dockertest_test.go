//go:build linux

package dockertest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"github.com/jobrun/jobrun/internal/testimage"
)

// TestDaemonRunsContainersOnANetwork starts a daemon, checks that it does
// not share the main daemon's images, builds the trainer image on it and
// runs a container on a labelled user-defined network, as the product
// does. Once the daemon's test is over, nothing of it may be left.
func TestDaemonRunsContainersOnANetwork(t *testing.T) {
	var d *Daemon
	var ctr string
	t.Run("daemon", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		d = Start(t)
		cli := d.Client()
		imgs, err := cli.ImageList(ctx, client.ImageListOptions{All: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(imgs.Items) != 0 {
			t.Fatalf("a new daemon lists %d images: it shares an image store", len(imgs.Items))
		}
		image, err := testimage.BuildTrainer(ctx, cli, "jobrun-test-trainer:dockertest")
		if err != nil {
			t.Fatal(err)
		}
		createNetwork(ctx, t, cli)
		ctr = runSleeper(ctx, t, cli, image, "algo-1")
		other := runSleeper(ctx, t, cli, image, "algo-2")
		pid, _ := inspectEndpoint(ctx, t, cli, ctr)
		_, ep := inspectEndpoint(ctx, t, cli, other)
		if !d.Pool.Contains(ep.IPAddress) {
			t.Errorf("container address %v is outside the daemon's pool %v", ep.IPAddress, d.Pool)
		}
		// Nothing listens on port 1: a refusal shows that packets pass
		// between the containers (the FORWARD chain drops them otherwise).
		err = dialFromNetns(pid, netip.AddrPortFrom(ep.IPAddress, 1))
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("algo-1 dialing algo-2 (%v:1): %v; want connection refused", ep.IPAddress, err)
		}
	})
	if d != nil {
		checkGone(t, d.Dir, d.Pool, ctr)
	}
}

// TestStartSweepsADeadTestsDaemon kills a test binary (this one, run as a
// helper) while its daemon runs a container, then checks that the next
// Start removes all of it.
func TestStartSweepsADeadTestsDaemon(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperDeadTest$", "-test.v")
	cmd.Env = append(os.Environ(), "DOCKERTEST_HELPER=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dir, pool, ctr := readHelperLine(t, out)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !usedBy(dir) {
		t.Fatalf("nothing runs in %s after its test died: the test proves nothing", dir)
	}

	start := time.Now()
	Start(t)
	t.Logf("Start with a dead test's daemon to sweep: %v", time.Since(start))
	checkGone(t, dir, pool, ctr)
}

// TestHelperDeadTest is the test binary TestStartSweepsADeadTestsDaemon
// kills: it starts a daemon, runs a container and waits to be killed.
func TestHelperDeadTest(t *testing.T) {
	if os.Getenv("DOCKERTEST_HELPER") == "" {
		return // only as the process TestStartSweepsADeadTestsDaemon starts
	}
	ctx := context.Background()
	d := Start(t)
	image, err := testimage.BuildTrainer(ctx, d.Client(), "jobrun-test-trainer:dockertest")
	if err != nil {
		t.Fatal(err)
	}
	createNetwork(ctx, t, d.Client())
	ctr := runSleeper(ctx, t, d.Client(), image, "algo-1")
	fmt.Printf("DAEMON %s %s %s\n", d.Dir, d.Pool, ctr)
	time.Sleep(time.Hour)
}

func readHelperLine(t *testing.T, out interface{ Read([]byte) (int, error) }) (dir string, pool netip.Prefix, ctr string) {
	t.Helper()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 && f[0] == "DAEMON" {
			return f[1], netip.MustParsePrefix(f[2]), f[3]
		}
		t.Logf("helper: %s", sc.Text())
	}
	t.Fatalf("the helper test ended without starting its daemon: %v", sc.Err())
	return
}

// createNetwork creates the user-defined network "jobrun", with a label,
// as the product does.
func createNetwork(ctx context.Context, t *testing.T, cli *client.Client) {
	t.Helper()
	_, err := cli.NetworkCreate(ctx, "jobrun", client.NetworkCreateOptions{Driver: "bridge", Labels: map[string]string{"jobrun": "1"}})
	if err != nil {
		t.Fatalf("creating a user-defined network: %v", err)
	}
}

// runSleeper runs the trainer as host on the network "jobrun", sleeping at
// its first epoch: the container keeps running until it is killed.
func runSleeper(ctx context.Context, t *testing.T, cli *client.Client, image, host string) string {
	t.Helper()
	res, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: image, Cmd: []string{"train"}, Hostname: host},
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			"jobrun": {Aliases: []string{host}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"opt/ml/input/config/hyperparameters.json": `{"sleep": "600"}`,
		"opt/ml/input/data/train/a.csv":            "0.1,0\n0.9,1\n",
	}
	_, err = cli.CopyToContainer(ctx, res.ID, client.CopyToContainerOptions{DestinationPath: "/", Content: tarOf(t, files)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	return res.ID
}

// inspectEndpoint checks that the container runs and returns its PID and
// its endpoint on the jobrun network.
func inspectEndpoint(ctx context.Context, t *testing.T, cli *client.Client, id string) (int, *network.EndpointSettings) {
	t.Helper()
	time.Sleep(500 * time.Millisecond) // the trainer fails within this on bad input
	res, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Container
	if c.State == nil || !c.State.Running {
		t.Fatalf("container is not running: %+v", c.State)
	}
	ep := c.NetworkSettings.Networks["jobrun"]
	if ep == nil {
		t.Fatalf("container is not on the jobrun network: %v", c.NetworkSettings.Networks)
	}
	return c.State.Pid, ep
}

// dialFromNetns dials addr over TCP from the network namespace of process
// pid, as that container would.
func dialFromNetns(pid int, addr netip.AddrPort) error {
	errc := make(chan error, 1)
	go func() {
		// The thread enters the namespace and is never unlocked: the
		// runtime ends it with the goroutine, instead of reusing it.
		runtime.LockOSThread()
		ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		conn, err := net.DialTimeout("tcp", addr.String(), 3*time.Second)
		if err == nil {
			conn.Close()
		}
		errc <- err
	}()
	return <-errc
}

func tarOf(t *testing.T, files map[string]string) *bytes.Buffer {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range files {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// checkGone checks that nothing of the daemon in dir is left: the folder,
// processes naming it, mounts under it, interfaces in its pool, the
// container's cgroups.
func checkGone(t *testing.T, dir string, pool netip.Prefix, ctr string) {
	t.Helper()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s is still there (stat: %v)", dir, err)
	}
	if usedBy(dir) {
		t.Errorf("processes still name %s", dir)
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(mi, []byte(dir)) {
		t.Errorf("mounts under %s are left:\n%s", dir, mi)
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, _ := netip.AddrFromSlice(ipn.IP); pool.Contains(ip.Unmap()) {
				t.Errorf("an interface holds %v, of the daemon's pool %v", ipn, pool)
			}
		}
	}
	if ctr != "" {
		cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/docker/" + ctr)
		cg2, _ := filepath.Glob("/sys/fs/cgroup/docker/" + ctr)
		if left := append(cgroups, cg2...); len(left) > 0 {
			t.Errorf("the container's cgroups are left: %q", left)
		}
	}
}

// usedBy reports whether a process's command line names a path under dir.
func usedBy(dir string) bool {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range cmdlines {
		if b, _ := os.ReadFile(f); bytes.Contains(b, []byte(dir+"/")) {
			return true
		}
	}
	return false
}

// TestMachineBridgeKept: dockerd started with --bridge=none deletes the
// interface docker0, the machine daemon's default bridge; the harness's
// daemon must leave it alone, running and after cleanup.
func TestMachineBridgeKept(t *testing.T) {
	if _, err := net.InterfaceByName("docker0"); err != nil {
		t.Fatalf("this machine's daemon has no docker0 before the test: %v", err)
	}
	t.Run("daemon", func(t *testing.T) {
		d := Start(t)
		if _, err := net.InterfaceByName(d.Bridge); err != nil {
			t.Errorf("the daemon's own bridge %s: %v", d.Bridge, err)
		}
		if _, err := net.InterfaceByName("docker0"); err != nil {
			t.Errorf("docker0 gone while the daemon runs: %v", err)
		}
	})
	if _, err := net.InterfaceByName("docker0"); err != nil {
		t.Errorf("docker0 gone after the daemon's cleanup: %v", err)
	}
}
