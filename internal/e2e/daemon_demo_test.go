package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/capture"
	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestDaemonDemo is what `make demo` shows: two hosts (network namespaces
// in a real kernel) running the cygnet daemon from strongSwan-style
// ipsec.conf and ipsec.secrets, `ipsec statusall` on both ends, and a
// capture proving the ping between them travels as ESP.
func TestDaemonDemo(t *testing.T) {
	vmtest.Require(t)
	say := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	moon, sun := newNodes(t, netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.9.0.2"))
	say("== cygnet demo: moon %v and sun %v, two hosts (network namespaces) on one link", moon.addr, sun.addr)
	for _, n := range []*node{moon, sun} {
		conf, _ := os.ReadFile(filepath.Join(n.dir, "ipsec.conf"))
		say("== %s: ipsec.conf (as a strongSwan user writes it; ipsec.secrets holds a PSK)", n.name)
		for _, l := range strings.Split(strings.TrimSpace(string(conf)), "\n") {
			say("   %s", l)
		}
	}
	say("== ipsec start on sun (auto=add), then on moon (auto=start)")
	sun.start(t)
	moon.start(t)
	moon.waitInstalled(t, 90*time.Second)
	sun.waitInstalled(t, 30*time.Second)

	capt, err := capture.Start(moon.ns.Path, moon.iface)
	if err != nil {
		t.Fatal(err)
	}
	say("== moon: ping -c 3 %v", sun.addr)
	out, err := moon.ns.Output("ping", "-c", "3", "-i", "0.2", "-W", "2", sun.addr.String())
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		say("   %s", l)
	}
	if err != nil {
		t.Fatalf("ping: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	frames, err := capt.Stop()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{moon, sun} {
		st, _ := n.ipsec(t, "statusall")
		say("== %s: ipsec statusall", n.name)
		for _, l := range strings.Split(strings.TrimRight(st, "\n"), "\n") {
			say("   %s", l)
		}
	}
	say("== captured on moon's link (tcpdump-style)")
	esp, clear := 0, 0
	for _, f := range frames {
		pkt := gopacket.NewPacket(f.Data, layers.LayerTypeEthernet, gopacket.Default)
		ip, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if !ok {
			continue
		}
		desc := ip.Protocol.String()
		if ip.Protocol == layers.IPProtocolESP && len(ip.Payload) >= 8 {
			esp++
			desc = fmt.Sprintf("ESP(spi=0x%02x%02x%02x%02x,seq=0x%x), length %d", ip.Payload[0], ip.Payload[1], ip.Payload[2], ip.Payload[3],
				uint32(ip.Payload[4])<<24|uint32(ip.Payload[5])<<16|uint32(ip.Payload[6])<<8|uint32(ip.Payload[7]), len(ip.Payload))
		} else if ip.Protocol == layers.IPProtocolICMPv4 {
			clear++
			desc += "  <-- IN CLEAR"
		}
		say("   IP %v > %v: %s", ip.SrcIP, ip.DstIP, desc)
	}
	say("== %d ESP packets, %d ICMP packets in clear", esp, clear)
	if clear != 0 || esp < 6 {
		t.Fatalf("want the ping as ESP only: %d ESP, %d in clear", esp, clear)
	}
	say("== ipsec stop on both; cygnet removes what it installed")
	moon.ipsec(t, "stop")
	sun.ipsec(t, "stop")
	for _, n := range []*node{moon, sun} {
		say("   %s: %d cygnet states, %d cygnet policies left", n.name, len(ownedStates(t, n)), ownedPolicies(t, n))
	}
}
