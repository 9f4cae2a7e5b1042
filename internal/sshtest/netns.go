package sshtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// nsPrefix names every namespace this package creates, so that stale ones
// (left by a test binary killed before its cleanups) can be recognised.
const nsPrefix = "jrsshtest-"

// staleAfter is the age after which a namespace of ours counts as left
// over by a dead test process and is swept.
const staleAfter = time.Hour

// netns is a network namespace joined to the test's namespace by a veth
// pair: hostIP on hostVeth here, nsIP on the peer inside.
type netns struct {
	name     string
	hostVeth string
	nsVeth   string
	hostIP   string
	nsIP     string
	cidr     string // the pair's /30
}

// routeProto marks the harness's safety routes (ip route ... proto 213).
const routeProto = "213"

// routeMetric ranks the safety route below the pair's connected route.
const routeMetric = "4242"

// newNetns creates a namespace and a veth pair on a free private /30 in
// 10.213.0.0/16. The addresses exist only on the two ends of the pair.
func newNetns() (*netns, error) {
	sweepStale()
	hostIP, nsIP, err := freeSubnet()
	if err != nil {
		return nil, err
	}
	id := randHex(4)
	n := &netns{
		name:     nsPrefix + id,
		hostVeth: "jrs" + id + "h",
		nsVeth:   "jrs" + id + "n",
		hostIP:   hostIP,
		nsIP:     nsIP,
	}
	_, cidr, _ := net.ParseCIDR(hostIP + "/30")
	n.cidr = cidr.String()
	steps := [][]string{
		{"ip", "netns", "add", n.name},
		{"ip", "link", "add", n.hostVeth, "type", "veth", "peer", "name", n.nsVeth},
		{"ip", "link", "set", n.nsVeth, "netns", n.name},
		{"ip", "addr", "add", n.hostIP + "/30", "dev", n.hostVeth},
		// The safety net: should the pair's connected route go (its link
		// down, the pair deleted), packets for the /30 are dropped here
		// instead of following the default route off this machine.
		{"ip", "route", "add", "blackhole", n.cidr, "metric", routeMetric, "proto", routeProto},
		{"ip", "link", "set", n.hostVeth, "up"},
		{"ip", "netns", "exec", n.name, "ip", "addr", "add", n.nsIP + "/30", "dev", n.nsVeth},
		{"ip", "netns", "exec", n.name, "ip", "link", "set", n.nsVeth, "up"},
		{"ip", "netns", "exec", n.name, "ip", "link", "set", "lo", "up"},
	}
	registry.add(n)
	for _, args := range steps {
		if err := run(args...); err != nil {
			_ = n.delete()
			return nil, fmt.Errorf("sshtest: creating a network namespace: %w", err)
		}
	}
	return n, nil
}

// registry remembers what this process created, for Leftovers.
var registry created

type created struct {
	mu      sync.Mutex
	nets    []*netns
	servers []*Server
}

func (c *created) add(n *netns) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nets = append(c.nets, n)
}

func (c *created) addServer(s *Server) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.servers = append(c.servers, s)
}

// Leftovers lists what servers started by this process left behind:
// servers still running, network namespaces, veth pairs and safety
// routes that still exist. Call it from TestMain after m.Run; it should
// be empty.
func Leftovers() []string {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	var left []string
	for _, s := range registry.servers {
		if pids := s.Processes(); len(pids) > 0 {
			left = append(left, fmt.Sprintf("sshd on %s (pids %v)", s.Addr, pids))
		}
	}
	for _, n := range registry.nets {
		if _, err := os.Stat(filepath.Join("/run/netns", n.name)); err == nil {
			left = append(left, "network namespace "+n.name)
		}
		if linkExists(n.hostVeth) {
			left = append(left, "veth "+n.hostVeth)
		}
		if n.cidr != "" && routeExists(n.cidr) {
			left = append(left, "route blackhole "+n.cidr)
		}
	}
	return left
}

func routeExists(cidr string) bool {
	out, err := exec.Command("ip", "route", "show", "exact", cidr, "type", "blackhole", "proto", routeProto).Output()
	return err == nil && len(strings.TrimSpace(string(out))) > 0
}

// freeSubnet picks a random /30 in 10.213.0.0/16 that overlaps no address
// configured here and returns its two usable addresses.
func freeSubnet() (hostIP, nsIP string, err error) {
	used, err := usedNets()
	if err != nil {
		return "", "", err
	}
	for range 100 {
		r, err := rand.Int(rand.Reader, big.NewInt(1<<14))
		if err != nil {
			return "", "", err
		}
		n := r.Int64() // the /30's index in 10.213.0.0/16
		base := net.IPv4(10, 213, byte(n>>6), byte(n&63)<<2)
		if overlaps(used, base) {
			continue
		}
		host := net.IPv4(10, 213, byte(n>>6), byte(n&63)<<2+1)
		ns := net.IPv4(10, 213, byte(n>>6), byte(n&63)<<2+2)
		return host.String(), ns.String(), nil
	}
	return "", "", fmt.Errorf("sshtest: no free /30 in 10.213.0.0/16")
}

func overlaps(used []*net.IPNet, base net.IP) bool {
	_, mine, _ := net.ParseCIDR(base.String() + "/30")
	for _, u := range used {
		if u.Contains(mine.IP) || mine.Contains(u.IP) {
			return true
		}
	}
	return false
}

// usedNets lists the IPv4 networks of this namespace's interfaces.
func usedNets() ([]*net.IPNet, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("sshtest: listing addresses: %w", err)
	}
	var nets []*net.IPNet
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			nets = append(nets, &net.IPNet{IP: n.IP.Mask(n.Mask), Mask: n.Mask})
		}
	}
	return nets, nil
}

// pids lists the processes in the namespace.
func (n *netns) pids() []int {
	out, err := exec.Command("ip", "netns", "pids", n.name).Output()
	if err != nil {
		return nil
	}
	return parsePids(string(out))
}

// delete kills every process in the namespace and every TCP socket to
// or in it, deletes it (which destroys the veth pair), checks that the test
// side of the pair is gone and removes the safety route.
//
// The sockets matter: a closed connection whose peer cannot be reached
// lingers in the kernel, retransmitting its FIN for minutes. Inside the
// namespace such a socket keeps the namespace, and so the veth pair, alive
// after "ip netns del"; outside it would, once the safety route is gone,
// send its retransmissions along the default route.
func (n *netns) delete() error {
	killAll(n.pids())
	var errs []string
	named := false
	if _, err := os.Stat(filepath.Join("/run/netns", n.name)); err == nil {
		named = true
		_ = run("ip", "netns", "exec", n.name, "ss", "-K", "-tan")
	}
	if n.cidr != "" {
		_ = run("ss", "-K", "-tan", "dst", n.cidr)
	}
	if named {
		if err := run("ip", "netns", "del", n.name); err != nil {
			errs = append(errs, err.Error())
		}
	}
	// Deleting the namespace destroys the peer inside and with it this end,
	// asynchronously: wait a little before deleting it by hand.
	deadline := time.Now().Add(2 * time.Second)
	for linkExists(n.hostVeth) {
		if time.Now().After(deadline) {
			if err := run("ip", "link", "del", n.hostVeth); err != nil && linkExists(n.hostVeth) {
				errs = append(errs, err.Error())
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n.cidr != "" {
		_ = run("ss", "-K", "-tan", "dst", n.cidr)
		if err := deleteRoute(n.cidr); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("deleting network namespace %s: %s", n.name, strings.Join(errs, "; "))
	}
	return nil
}

func deleteRoute(cidr string) error {
	out, err := exec.Command("ip", "route", "del", "blackhole", cidr, "metric", routeMetric, "proto", routeProto).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "No such process") {
		return fmt.Errorf("ip route del blackhole %s: %v: %s", cidr, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// CutLink takes the server's end of the veth pair down (InNetns servers
// only). Packets to and from the server vanish without an error, as when a
// laptop loses its network: established connections hang silently; new
// ones time out, or fail with "no route to host" once ARP gave up on the
// server's address (a few seconds).
//
// It is the namespace's end that goes down, not the test's: the test's end
// then only loses its carrier and keeps its route, so packets die there.
// Taking the test's end down would remove that route and send the packets
// along the default route (the safety route stops them, but connecting
// then fails at once with EINVAL instead of hanging).
func (s *Server) CutLink() error {
	if s.netns == nil {
		return fmt.Errorf("sshtest: CutLink needs a server started with InNetns")
	}
	return run("ip", "netns", "exec", s.netns.name, "ip", "link", "set", s.netns.nsVeth, "down")
}

// RestoreLink brings the link CutLink took down back up.
func (s *Server) RestoreLink() error {
	if s.netns == nil {
		return fmt.Errorf("sshtest: RestoreLink needs a server started with InNetns")
	}
	return run("ip", "netns", "exec", s.netns.name, "ip", "link", "set", s.netns.nsVeth, "up")
}

// Netns names the server's network namespace ("" without InNetns); run a
// command inside it with `ip netns exec NAME ...`.
func (s *Server) Netns() string {
	if s.netns == nil {
		return ""
	}
	return s.netns.name
}

// HostVeth names the test side of the veth pair ("" without InNetns).
func (s *Server) HostVeth() string {
	if s.netns == nil {
		return ""
	}
	return s.netns.hostVeth
}

// sweepStale deletes namespaces of ours older than staleAfter, with their
// processes, and safety routes whose veth pair is gone: what a test binary
// killed before its cleanups left behind.
func sweepStale() {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), nsPrefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleAfter {
			id := strings.TrimPrefix(e.Name(), nsPrefix)
			_ = (&netns{name: e.Name(), hostVeth: "jrs" + id + "h"}).delete()
		}
	}
	out, err := exec.Command("ip", "-o", "route", "show", "type", "blackhole", "proto", routeProto).Output()
	if err != nil {
		return
	}
	used, _ := usedNets()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		_, cidr, err := net.ParseCIDR(f[1])
		if err != nil || overlaps(used, cidr.IP) {
			continue // malformed, or its pair still exists
		}
		_ = run("ss", "-K", "-tan", "dst", cidr.String())
		_ = deleteRoute(cidr.String())
	}
}

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
