package e2e

import (
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/capture"
	"github.com/cygnet-ipsec/cygnet/internal/nstest"
	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// natTopology puts moon behind a masquerading router (nftables) and sun on
// the router's other side: moon 10.30.1.2 -> router 10.30.1.1 | 10.30.2.1
// -> sun 10.30.2.2. Sun sees moon as the router's address.
func natTopology(t *testing.T) (moon, sun *node, router *nstest.NS) {
	t.Helper()
	moon = &node{name: "moon", ns: nstest.New(t), addr: netip.MustParseAddr("10.30.1.2"), iface: "eth-moon"}
	sun = &node{name: "sun", ns: nstest.New(t), addr: netip.MustParseAddr("10.30.2.2"), iface: "eth-sun"}
	router = nstest.New(t)
	link := func(n *node, rIface, rAddr, gw string) {
		if out, err := exec.Command("ip", "link", "add", n.iface, "netns", n.ns.Name, "type", "veth", "peer", "name", rIface, "netns", router.Name).CombinedOutput(); err != nil {
			t.Fatalf("veth: %v %s", err, out)
		}
		n.ns.Run(t, "ip", "addr", "add", n.addr.String()+"/24", "dev", n.iface)
		n.ns.Run(t, "ip", "link", "set", n.iface, "up")
		n.ns.Run(t, "ip", "route", "add", "default", "via", gw)
		router.Run(t, "ip", "addr", "add", rAddr+"/24", "dev", rIface)
		router.Run(t, "ip", "link", "set", rIface, "up")
	}
	link(moon, "r-moon", "10.30.1.1", "10.30.1.1")
	link(sun, "r-sun", "10.30.2.1", "10.30.2.1")
	router.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	router.Run(t, "nft", "add table ip nat")
	router.Run(t, "nft", "add chain ip nat post { type nat hook postrouting priority 100 ; }")
	router.Run(t, "nft", "add rule ip nat post oifname r-sun masquerade")
	return moon, sun, router
}

// TestDaemonNAT: moon behind a real NAT (nftables masquerade) initiates to
// sun; both detect the NAT (RFC 7296 2.23), move IKE to port 4500 and use
// UDP-encapsulated ESP (RFC 3948): on sun's link the ping travels as
// ESP-in-UDP on port 4500 only.
func TestDaemonNAT(t *testing.T) {
	vmtest.Require(t)
	moon, sun, router := natTopology(t)
	for _, n := range []*node{moon, sun} {
		n.dir, n.piddir = t.TempDir(), t.TempDir()
		right, auto, me, peer := "10.30.2.2", "start", "moon", "sun"
		if n == sun {
			right, auto, me, peer = "%any", "add", "sun", "moon"
		}
		writeFile(t, filepath.Join(n.dir, "ipsec.conf"), scenarioDefault+fmt.Sprintf(`
conn nat
	left=%v
	leftid=@%s.strongswan.org
	right=%s
	rightid=@%s.strongswan.org
	authby=secret
	type=transport
	ike=aes256gcm16-prfsha384-ecp384!
	esp=aes256gcm16!
	auto=%s
`, n.addr, me, right, peer, auto), 0o644)
		writeFile(t, filepath.Join(n.dir, "ipsec.secrets"), `@moon.strongswan.org @sun.strongswan.org : PSK "cygnet-nat-test-psk-0123456789abc"`+"\n", 0o600)
		t.Cleanup(func() {
			n.ipsec(t, "stop")
			if t.Failed() {
				t.Logf("%s's log:\n%s", n.name, n.log())
			}
		})
	}
	sun.start(t)
	moon.start(t)
	waitFor(t, 90*time.Second, "CHILD_SA through the NAT", func() bool {
		out, _ := moon.ipsec(t, "status")
		return strings.Contains(out, "INSTALLED, TRANSPORT")
	})
	capt, err := capture.Start(sun.ns.Path, sun.iface)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := moon.ns.Output("ping", "-c", "3", "-i", "0.2", "-W", "2", sun.addr.String()); err != nil {
		st, _ := moon.ipsec(t, "statusall")
		t.Fatalf("ping through the NAT: %v\n%s\n%s", err, out, st)
	}
	frames, err := capt.Stop()
	if err != nil {
		t.Fatal(err)
	}
	espInUDP := 0
	for _, f := range frames {
		pkt := gopacket.NewPacket(f.Data, layers.LayerTypeEthernet, gopacket.Default)
		ip, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if !ok {
			continue
		}
		switch ip.Protocol {
		case layers.IPProtocolUDP:
			udp := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if udp.SrcPort != 4500 && udp.DstPort != 4500 {
				t.Fatalf("UDP outside port 4500 after NAT detection: %v", pkt)
			}
			if len(udp.Payload) >= 8 && (udp.Payload[0]|udp.Payload[1]|udp.Payload[2]|udp.Payload[3]) != 0 {
				espInUDP++
			}
		default:
			t.Fatalf("%v on sun's link, want only ESP-in-UDP: %v", ip.Protocol, pkt)
		}
	}
	if espInUDP < 6 {
		t.Fatalf("%d ESP-in-UDP packets, want the 6 of the ping", espInUDP)
	}
	h, err := openXfrm(sun)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, s := range ownedStates(t, sun) {
		if s.Encap == nil {
			t.Errorf("sun's state 0x%08x is not UDP-encapsulated", s.SPI)
		}
	}

	// The NAT gives moon a new port: its rules now map port 4500 to 45000
	// and the old mapping is forgotten. Sun's kernel sees ESP from the new
	// port (XFRM MAPPING), and sun follows it (RFC 7296 2.23): without
	// that, sun's answers would go to the forgotten mapping and be lost.
	router.Run(t, "nft", "flush chain ip nat post")
	router.Run(t, "nft", "add rule ip nat post oifname r-sun udp sport 4500 masquerade to :45000")
	router.Run(t, "nft", "add rule ip nat post oifname r-sun masquerade")
	if out, err := router.Output("conntrack", "-D", "-p", "udp"); err != nil && !strings.Contains(out, "flow entries have been deleted") {
		t.Fatalf("conntrack -D: %v\n%s", err, out)
	}
	// The first echo may race the mapping update; the others must pass.
	out, _ := moon.ns.Output("ping", "-c", "5", "-i", "0.3", "-W", "2", sun.addr.String())
	var sent, received int
	if i := strings.Index(out, " packets transmitted, "); i >= 0 {
		fmt.Sscanf(out[strings.LastIndex(out[:i], "\n")+1:], "%d packets transmitted, %d received", &sent, &received)
	}
	if received < 4 {
		st, _ := sun.ipsec(t, "statusall")
		t.Fatalf("ping after the NAT port change: %d of %d answered\n%s\n%s", received, sent, out, st)
	}
	moved := 0
	for _, s := range ownedStates(t, sun) {
		if s.Encap != nil && (s.Encap.DstPort == 45000 || s.Encap.SrcPort == 45000) {
			moved++
		}
	}
	if moved != 2 {
		t.Errorf("%d of sun's states follow the new port 45000, want both", moved)
	}
	if !strings.Contains(sun.log(), "NAT mapping changed") {
		t.Error("sun's log does not show the mapping change")
	}
}
