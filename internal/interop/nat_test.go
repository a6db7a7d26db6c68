package interop

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/internal/nstest"
)

// natCases are the NAT traversal cases: UDP encapsulation forced on a
// direct link (forceencaps=yes, IPv4 and IPv6) and a real NAT namespace
// between the two, in each direction. The capture must show ESP in UDP
// only, and status "ESP in UDP SPIs".
var natCases = []tcase{
	{name: "c2s-forceencaps", moon: kCygnet, sun: kStrongSwan, auth: authPSK,
		ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16", conn: "\tforceencaps=yes\n", encap: true},
	{name: "s2c-forceencaps-v6", moon: kStrongSwan, sun: kCygnet, auth: authPSK,
		ike: "aes256gcm16-prfsha384-ecp384", esp: "aes256gcm16", conn: "\tforceencaps=yes\n", encap: true, v6: true},
	{name: "c2s-behind-nat", moon: kCygnet, sun: kStrongSwan, auth: authPSK,
		ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16", nat: true, encap: true},
	{name: "s2c-behind-nat", moon: kStrongSwan, sun: kCygnet, auth: authPSK,
		ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16", nat: true, encap: true},
}

// TestInteropNAT runs natCases.
func TestInteropNAT(t *testing.T) {
	runMatrix(t, "cygnet and strongSwan: NAT traversal", natCases)
}

// natTopology is moon — nat — sun: moon's packets leave the nat namespace
// masqueraded (nftables) to its outer address, so sun sees moon as
// natOuter, the way a node behind a home router or a cloud NAT is seen.
type natTopology struct {
	moon, nat, sun      *nstest.NS
	moonAddr, sunAddr   netip.Addr
	natOuter            netip.Addr
	moonIface, sunIface string
}

func newNATTopology(t *testing.T) *natTopology {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatalf("interop: nft not installed (Debian package nftables): %v", err)
	}
	n := &natTopology{moon: nstest.New(t), nat: nstest.New(t), sun: nstest.New(t),
		moonAddr: netip.MustParseAddr("10.70.1.1"), sunAddr: netip.MustParseAddr("10.70.2.1"),
		natOuter: netip.MustParseAddr("10.70.2.254"), moonIface: "veth-moon", sunIface: "veth-sun"}
	link := func(a *nstest.NS, ifA string, b *nstest.NS, ifB string) {
		if out, err := exec.Command("ip", "link", "add", ifA, "netns", a.Name, "type", "veth",
			"peer", "name", ifB, "netns", b.Name).CombinedOutput(); err != nil {
			t.Fatalf("interop: veth %s-%s: %v: %s", ifA, ifB, err, out)
		}
	}
	link(n.moon, n.moonIface, n.nat, "veth-nat-in")
	link(n.sun, n.sunIface, n.nat, "veth-nat-out")
	for _, c := range []struct {
		ns    *nstest.NS
		iface string
		addr  string
	}{{n.moon, n.moonIface, "10.70.1.1/24"}, {n.nat, "veth-nat-in", "10.70.1.254/24"},
		{n.nat, "veth-nat-out", n.natOuter.String() + "/24"}, {n.sun, n.sunIface, n.sunAddr.String() + "/24"}} {
		c.ns.Run(t, "ip", "addr", "add", c.addr, "dev", c.iface)
		c.ns.Run(t, "ip", "link", "set", c.iface, "up")
	}
	n.moon.Run(t, "ip", "route", "add", "default", "via", "10.70.1.254")
	n.nat.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	rules := fmt.Sprintf("table ip nat {\n chain post {\n  type nat hook postrouting priority 100;\n  oifname %q masquerade\n }\n}\n", "veth-nat-out")
	cmd := n.nat.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("interop: nft: %v: %s", err, out)
	}
	return n
}
