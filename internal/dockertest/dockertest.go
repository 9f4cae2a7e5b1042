// Package dockertest runs a second, private Docker Engine for tests: a
// stand-in for a remote host's engine that shares no images with this
// machine's, so that shipping an image to it really ships it.
//
//	func TestShip(t *testing.T) {
//		d := dockertest.Start(t) // removed, with all it ran, in t.Cleanup
//		remote := d.Client()     // or dial d.Socket, or DOCKER_HOST=d.Host
//		...
//	}
//
// The daemon is this machine's /usr/sbin/dockerd (Debian's 20.10 here) with
// all of its state under one short temporary folder (Dir, e.g.
// /tmp/dockertest-123456789): data root, exec root (dockerd starts its own
// containerd there), pid file, API socket and log. So that it does not
// fight the machine's daemon it reads an empty config file instead of
// /etc/docker/daemon.json, has a default bridge of its own (Bridge, made
// by the harness with an address at the end of Pool: dockerd deletes the
// interface docker0, the machine daemon's, when started with --bridge=none
// and when restarted on a network store holding a default network; see
// launch), leaves iptables, IP
// forwarding and masquerading alone, and uses the vfs storage driver (no
// overlay mounts to leak; layers are copied, which is fine for test
// images). User-defined bridge networks work (the product creates one named
// jobrun): their subnets come from Pool, a /16 of 10.64.0.0-10.191.255.255
// that no interface of this machine and no other dockertest daemon uses,
// and one iptables rule of the harness's own lets packets between
// addresses of Pool through the FORWARD chain, whose policy the main daemon
// sets to DROP. Containers on such a network resolve and reach each other;
// without NAT they do not reach the outside world.
//
// Start takes 0.3 to 0.6 s here (2 cores); cleanup about 0.4 to 1.6 s,
// most of it dockerd waiting for its containerd to exit.
//
// Cleanup removes every container and network the daemon has (so that
// dockerd itself deletes their cgroups, shim sockets and bridges), stops it
// (SIGTERM, then SIGKILL after 15 s), kills whatever process still uses its
// folder, deletes bridges left in its pool and its iptables rule, unmounts
// what is mounted under the folder (lazily) and removes the folder.
//
// A test binary that dies without running its cleanups (a panic, -timeout,
// SIGKILL) takes dockerd and containerd with it (the kernel kills them), but
// the containers keep running under their shims. Each daemon's folder holds
// a lock that only its test binary holds; the next Start, in any test
// binary, takes over the folders whose lock is free: it starts dockerd on
// them once more, which stops what was left running, and then cleans up as
// above (about 2 s).
//
// It needs Linux, root and /usr/sbin/dockerd (apt-get install docker.io);
// Start fails the test, it does not skip, when it cannot run the daemon.
package dockertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/jobrun/jobrun/internal/testproc"
)

// Dockerd is the daemon binary.
const Dockerd = "/usr/sbin/dockerd"

const (
	readyTimeout   = 60 * time.Second // from exec to an answered ping
	stopGrace      = 15 * time.Second // SIGTERM, then SIGKILL
	cleanupTimeout = time.Minute      // removing containers and networks
	dirPrefix      = "dockertest-"
	lockFile       = "lock"
	poolFile       = "pool"
)

// Daemon is a running (or stopped) private dockerd.
type Daemon struct {
	// Dir holds everything of the daemon's; it is removed at cleanup.
	Dir string
	// Socket is the path of the API's Unix socket.
	Socket string
	// Host is the Docker host URL: "unix://" + Socket.
	Host string
	// DataRoot and ExecRoot are dockerd's --data-root and --exec-root.
	DataRoot, ExecRoot string
	// LogFile receives dockerd's (and its containerd's) output.
	LogFile string
	// Pool is the address pool of the daemon's networks.
	Pool netip.Prefix
	// Bridge is the daemon's default bridge interface.
	Bridge string

	lock *os.File // held while the daemon is this process's
	proc *testproc.Process
	cli  *client.Client
}

// Start starts a daemon for the test and removes it, with everything it
// ran, in t.Cleanup. It fails the test if the daemon does not come up.
func Start(t testing.TB) *Daemon {
	t.Helper()
	if err := checkHost(); err != nil {
		t.Fatal(err)
	}
	sweep(t)
	d, err := create()
	if err != nil {
		t.Fatalf("dockertest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dockertest: dockerd log %s ends with:\n%s", d.LogFile, d.LogTail())
		}
		start := time.Now()
		if err := d.close(); err != nil {
			t.Errorf("dockertest: cleanup: %v", err)
		}
		t.Logf("dockertest: dockerd at %s removed in %v", d.Host, time.Since(start).Round(time.Millisecond))
	})
	start := time.Now()
	if err := allowForwarding(d.Pool); err != nil {
		t.Fatalf("dockertest: %v", err)
	}
	if err := d.launch(); err != nil {
		t.Fatalf("dockertest: %v", err)
	}
	t.Logf("dockertest: dockerd ready at %s in %v", d.Host, time.Since(start).Round(time.Millisecond))
	return d
}

// Client is a client of the daemon, with the API version negotiated. It is
// shared: do not close it.
func (d *Daemon) Client() *client.Client { return d.cli }

// LogTail returns the end of the daemon's log.
func (d *Daemon) LogTail() string { return testproc.Tail(d.LogFile) }

func checkHost() error {
	if err := checkOS(); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("dockertest: dockerd must run as root, and this test does not")
	}
	if _, err := os.Stat(Dockerd); err != nil {
		return fmt.Errorf("dockertest: %s is missing (%v); install it: apt-get install docker.io", Dockerd, err)
	}
	return nil
}

// at lays out a daemon in dir.
func at(dir string, pool netip.Prefix) *Daemon {
	sock := filepath.Join(dir, "docker.sock")
	return &Daemon{
		Dir:      dir,
		Socket:   sock,
		Host:     "unix://" + sock,
		DataRoot: filepath.Join(dir, "data"),
		ExecRoot: filepath.Join(dir, "exec"),
		LogFile:  filepath.Join(dir, "dockerd.log"),
		Pool:     pool,
		Bridge:   "dt" + bridgeSuffix(dir),
	}
}

// bridgeSuffix turns a daemon folder's random suffix into at most 13
// characters for an interface name (15 at most in all).
func bridgeSuffix(dir string) string {
	base := filepath.Base(dir)
	if i := strings.LastIndexByte(base, '-'); i >= 0 {
		base = base[i+1:]
	}
	if len(base) > 13 {
		base = base[len(base)-13:]
	}
	return base
}

// ensureBridge makes the daemon's default bridge with the last /24 of its
// pool, well away from the subnets dockerd hands out from the pool's start.
func (d *Daemon) ensureBridge() error {
	if _, err := net.InterfaceByName(d.Bridge); err == nil {
		return nil
	}
	a := d.Pool.Addr().As4()
	addr := netip.PrefixFrom(netip.AddrFrom4([4]byte{a[0], a[1], 255, 1}), 24)
	for _, args := range [][]string{
		{"link", "add", "name", d.Bridge, "type", "bridge"},
		{"addr", "add", addr.String(), "dev", d.Bridge},
		{"link", "set", d.Bridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// create makes a new daemon's folder, locked and with its pool recorded
// before other test binaries can see it as a daemon's folder: they only
// look at folders with a lock file.
func create() (_ *Daemon, err error) {
	root, err := filepath.EvalSymlinks(tempRoot()) // mountinfo and cmdlines show real paths
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(root, dirPrefix)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	lock, err := lockNew(filepath.Join(dir, lockFile+".new"))
	if err != nil {
		return nil, err
	}
	pool, err := choosePool(root)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, poolFile), []byte(pool.String()), 0o644)
	}
	if err == nil {
		err = os.Rename(filepath.Join(dir, lockFile+".new"), filepath.Join(dir, lockFile))
	}
	if err != nil {
		lock.Close()
		return nil, err
	}
	d := at(dir, pool)
	d.lock = lock
	return d, nil
}

// tempRoot is where daemons' folders go: os.TempDir(), unless its path is
// so long that the sockets below (containerd's is
// dockertest-NNNNNNNNN/exec/containerd/containerd.sock) could pass the
// 108-byte limit of a Unix socket's path.
func tempRoot() string {
	if dir := os.TempDir(); len(dir) <= 40 {
		return dir
	}
	return "/tmp"
}

// args are dockerd's flags; see the package doc for why.
func (d *Daemon) args() []string {
	config := filepath.Join(d.Dir, "daemon.json")
	return []string{
		"--config-file", config,
		"--data-root", d.DataRoot,
		"--exec-root", d.ExecRoot,
		"--pidfile", filepath.Join(d.Dir, "docker.pid"),
		"--host", d.Host,
		"--storage-driver", "vfs",
		"--bridge", d.Bridge,
		"--iptables=false", "--ip6tables=false", "--ip-masq=false", "--ip-forward=false",
		"--default-address-pool", "base=" + d.Pool.String() + ",size=24",
		"--containerd-namespace", "dockertest",
		"--containerd-plugins-namespace", "dockertest-plugins",
		"--shutdown-timeout", "5",
	}
}

// launch starts dockerd and waits until it answers a ping.
func (d *Daemon) launch() error {
	// A killed daemon leaves its pid files: dockerd refuses to start while
	// the pid in its own names a live process (it may have been reused),
	// and connects to whatever runs at the pid in containerd's.
	_ = os.Remove(filepath.Join(d.Dir, "docker.pid"))
	_ = os.Remove(filepath.Join(d.ExecRoot, "containerd", "containerd.pid"))
	// An empty configuration: /etc/docker/daemon.json sets data-root and
	// the like, which dockerd refuses to see set twice.
	if err := os.WriteFile(filepath.Join(d.Dir, "daemon.json"), []byte("{}\n"), 0o644); err != nil {
		return err
	}
	// A restarted dockerd that finds its default "bridge" network in its
	// store deletes it and, with --default-address-pool, the interface
	// docker0: the machine daemon's. Without a store there is no such
	// network (deleteBridges removes a dead daemon's bridges instead).
	if err := os.Remove(filepath.Join(d.DataRoot, "network", "files", "local-kv.db")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := d.ensureBridge(); err != nil {
		return fmt.Errorf("creating the default bridge %s: %w", d.Bridge, err)
	}
	out, err := os.OpenFile(d.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(Dockerd, d.args()...)
	cmd.Stdout, cmd.Stderr = out, out
	p, err := testproc.Start(cmd)
	if err != nil {
		return fmt.Errorf("starting %s: %w", Dockerd, err)
	}
	cli, err := client.New(client.WithHost(d.Host))
	if err == nil {
		err = waitReady(cli, p)
	}
	if err != nil {
		p.Terminate(0)
		if cli != nil {
			cli.Close()
		}
		return fmt.Errorf("dockerd at %s: %w\nlog %s ends with:\n%s", d.Host, err, d.LogFile, d.LogTail())
	}
	d.proc, d.cli = p, cli
	return nil
}

// waitReady pings until the daemon answers, exits, or readyTimeout passes.
func waitReady(cli *client.Client, p *testproc.Process) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
		cancel()
		if err == nil {
			return nil
		}
		if exited := p.Exited(); exited != nil {
			return exited
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer after %v: %w", readyTimeout, err)
		}
		select {
		case <-p.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// close removes the daemon's containers and networks, stops it and removes
// whatever it left, its folder included.
func (d *Daemon) close() error {
	var errs []error
	if d.proc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		errs = append(errs, d.removeObjects(ctx))
		cancel()
		d.proc.Terminate(stopGrace)
		d.proc = nil
	}
	if d.cli != nil {
		d.cli.Close()
		d.cli = nil
	}
	errs = append(errs, reap(d.Dir, d.Pool))
	if d.lock != nil {
		d.lock.Close()
		d.lock = nil
	}
	return errors.Join(errs...)
}

// removeObjects removes every container (running ones are killed) and
// every network but the predefined ones. dockerd deletes what belongs to
// them outside its folder (cgroups, shim sockets, bridges) only then: on
// shutdown it leaves networks in place.
func (d *Daemon) removeObjects(ctx context.Context) error {
	var errs []error
	ctrs, err := d.cli.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return fmt.Errorf("listing containers: %w", err)
	}
	for _, c := range ctrs.Items {
		_, err := d.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("removing container %.12s: %w", c.ID, err))
		}
	}
	nets, err := d.cli.NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("listing networks: %w", err))...)
	}
	for _, n := range nets.Items {
		if n.Name == "none" || n.Name == "host" || n.Name == "bridge" {
			continue // predefined
		}
		if _, err := d.cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("removing network %s: %w", n.Name, err))
		}
	}
	return errors.Join(errs...)
}

// reap removes what a stopped daemon may have left: processes still using
// its folder (containerd shims and their containers, when dockerd was
// killed), bridges with addresses in its pool, its iptables rule, mounts
// under its folder
// (dockerd bind-mounts its data root onto itself, and network namespaces
// under its exec root), and the folder.
func reap(dir string, pool netip.Prefix) error {
	killUsers(dir)
	errs := []error{deleteBridges(pool), removeForwarding(pool), unmountUnder(dir)}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// sweep cleans up after test binaries that died without their cleanups:
// their daemons' folders have a lock nobody holds. dockerd cleans up best
// after itself: started again, it stops the containers left running, and
// removes them and their networks on request.
func sweep(t testing.TB) {
	root, err := filepath.EvalSymlinks(tempRoot())
	if err != nil {
		return
	}
	dirs, _ := filepath.Glob(filepath.Join(root, dirPrefix+"*"))
	for _, dir := range dirs {
		lock, ok := tryLock(filepath.Join(dir, lockFile))
		if !ok {
			continue
		}
		d := at(dir, readPool(dir))
		d.lock = lock
		if err := d.launch(); err != nil {
			t.Logf("dockertest: restarting the daemon a dead test left in %s: %v", dir, err)
		}
		if err := d.close(); err != nil {
			t.Logf("dockertest: removing the daemon a dead test left in %s: %v", dir, err)
		} else {
			t.Logf("dockertest: removed the daemon a dead test left in %s", dir)
		}
	}
}

func readPool(dir string) netip.Prefix {
	b, _ := os.ReadFile(filepath.Join(dir, poolFile))
	p, _ := netip.ParsePrefix(strings.TrimSpace(string(b)))
	return p
}

// choosePool picks a /16 of 10.64.0.0-10.191.255.255 for the daemon's
// networks that overlaps no address of this machine (the main daemon's
// networks among them) and no other dockertest daemon's pool: left to
// itself, dockerd would take the main daemon's 172.17.0.0/16 again.
func choosePool(root string) (netip.Prefix, error) {
	used, err := usedPrefixes(root)
	if err != nil {
		return netip.Prefix{}, err
	}
	first := rand.IntN(128)
	for i := range 128 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(64 + (first+i)%128), 0, 0}), 16)
		if !overlapsAny(p, used) {
			return p, nil
		}
	}
	return netip.Prefix{}, errors.New("no free /16 in 10.64.0.0-10.191.255.255 for the daemon's networks")
}

func usedPrefixes(root string) ([]netip.Prefix, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("listing this machine's addresses: %w", err)
	}
	var used []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, _ := netip.AddrFromSlice(ipn.IP)
		ones, _ := ipn.Mask.Size()
		used = append(used, netip.PrefixFrom(ip.Unmap(), ones).Masked())
	}
	others, _ := filepath.Glob(filepath.Join(root, dirPrefix+"*"))
	for _, dir := range others {
		if p := readPool(dir); p.IsValid() {
			used = append(used, p)
		}
	}
	return used, nil
}

func overlapsAny(p netip.Prefix, used []netip.Prefix) bool {
	for _, u := range used {
		if u.IsValid() && p.Overlaps(u) {
			return true
		}
	}
	return false
}

// deleteBridges deletes the network interfaces holding an address of pool:
// the bridges of networks a killed daemon did not remove.
func deleteBridges(pool netip.Prefix) error {
	if !pool.IsValid() {
		return nil
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return err
	}
	var errs []error
	for _, ifc := range ifaces {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if ip, _ := netip.AddrFromSlice(ipn.IP); pool.Contains(ip.Unmap()) {
				if out, err := exec.Command("ip", "link", "delete", ifc.Name).CombinedOutput(); err != nil {
					errs = append(errs, fmt.Errorf("ip link delete %s: %v: %s", ifc.Name, err, out))
				}
				break
			}
		}
	}
	return errors.Join(errs...)
}

// forwardRule lets packets between the daemon's containers through this
// machine's FORWARD chain: bridged packets go through iptables here
// (bridge-nf-call-iptables), and the main daemon sets the chain's policy to
// DROP. The daemon itself runs with --iptables=false, since it would
// rewrite the main daemon's chains (they share their names).
func forwardRule(pool netip.Prefix) []string {
	return []string{"FORWARD", "-s", pool.String(), "-d", pool.String(),
		"-m", "comment", "--comment", "dockertest", "-j", "ACCEPT"}
}

// allowForwarding appends forwardRule. Without iptables there is no
// chain to open.
func allowForwarding(pool netip.Prefix) error {
	if _, err := exec.LookPath("iptables"); err != nil {
		return nil
	}
	return iptables(append([]string{"-A"}, forwardRule(pool)...))
}

// removeForwarding deletes every copy of forwardRule.
func removeForwarding(pool netip.Prefix) error {
	if _, err := exec.LookPath("iptables"); err != nil || !pool.IsValid() {
		return nil
	}
	rule := forwardRule(pool)
	for range 10 {
		if iptables(append([]string{"-C"}, rule...)) != nil {
			return nil // none left
		}
		if err := iptables(append([]string{"-D"}, rule...)); err != nil {
			return err
		}
	}
	return fmt.Errorf("iptables rule %q is still there", rule)
}

func iptables(args []string) error {
	// -w: wait for the lock the main daemon may hold.
	out, err := exec.Command("iptables", append([]string{"-w"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
