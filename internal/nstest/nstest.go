// Package nstest makes throw-away network namespaces for tests that need
// root: each test gets its own namespaces (named cyg-<random>) so tests
// never touch the host's network and can run in parallel.
package nstest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// NS is one network namespace.
type NS struct {
	Name string
	// Path is the namespace's bind mount, for xfrm.Open.
	Path string
}

// New creates a namespace with loopback up, removed when the test ends.
func New(t testing.TB) *NS {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := "cyg-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("nstest: ip netns add %s: %v: %s", name, err, out)
	}
	ns := &NS{Name: name, Path: "/run/netns/" + name}
	t.Cleanup(func() {
		// Kill leftovers (ping, tcpdump) before removing the namespace.
		if pids, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
			for _, p := range strings.Fields(string(pids)) {
				exec.Command("kill", "-9", p).Run()
			}
		}
		exec.Command("ip", "netns", "del", name).Run()
	})
	ns.Run(t, "ip", "link", "set", "lo", "up")
	return ns
}

// Run runs a command inside the namespace and fails the test if it fails.
func (ns *NS) Run(t testing.TB, argv ...string) string {
	t.Helper()
	out, err := ns.Output(argv...)
	if err != nil {
		t.Fatalf("nstest: in %s: %s: %v\n%s", ns.Name, strings.Join(argv, " "), err, out)
	}
	return out
}

// Output runs a command inside the namespace and returns its combined output.
func (ns *NS) Output(argv ...string) (string, error) {
	out, err := ns.Command(argv...).CombinedOutput()
	return string(out), err
}

// Command returns an unstarted command that runs inside the namespace.
func (ns *NS) Command(argv ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name}, argv...)...)
	cmd.Env = os.Environ()
	return cmd
}

// Pair is two namespaces joined by a veth link.
type Pair struct {
	A, B           *NS
	AddrA, AddrB   netip.Addr
	IfaceA, IfaceB string // the veth ends, in A and B
}

// NewPair makes two namespaces joined by veth with the given addresses
// (both IPv4 or both IPv6, /24 or /64 prefixes). IPv6 duplicate address
// detection is disabled so the addresses are usable at once.
func NewPair(t testing.TB, a, b netip.Addr) *Pair {
	t.Helper()
	p := &Pair{A: New(t), B: New(t), AddrA: a, AddrB: b, IfaceA: "veth-a", IfaceB: "veth-b"}
	if out, err := exec.Command("ip", "link", "add", p.IfaceA, "netns", p.A.Name, "type", "veth",
		"peer", "name", p.IfaceB, "netns", p.B.Name).CombinedOutput(); err != nil {
		t.Fatalf("nstest: veth: %v: %s", err, out)
	}
	bits := 24
	if a.Is6() {
		bits = 64
	}
	for _, side := range []struct {
		ns    *NS
		iface string
		addr  netip.Addr
	}{{p.A, p.IfaceA, a}, {p.B, p.IfaceB, b}} {
		if a.Is6() {
			side.ns.Run(t, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
			side.ns.Run(t, "sysctl", "-qw", fmt.Sprintf("net.ipv6.conf.%s.accept_dad=0", side.iface))
			side.ns.Run(t, "ip", "addr", "add", fmt.Sprintf("%v/%d", side.addr, bits), "dev", side.iface, "nodad")
		} else {
			side.ns.Run(t, "ip", "addr", "add", fmt.Sprintf("%v/%d", side.addr, bits), "dev", side.iface)
		}
		side.ns.Run(t, "ip", "link", "set", side.iface, "up")
	}
	return p
}
