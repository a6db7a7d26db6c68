package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/esp"
	"github.com/cygnet-ipsec/cygnet/internal/capture"
	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestDemo is what `make demo` shows until the daemon exists: two hosts
// (network namespaces) with an AES-GCM-256 transport-mode SA pair installed
// by cygnet's xfrm package, a ping between them, the kernel's view of the
// SAs, and the wire: ESP only, decrypted back to the ICMP echo by package esp.
func TestDemo(t *testing.T) {
	vmtest.Require(t)
	a, b := netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.9.0.2")
	s := newSetup(t, a, b)
	s.install(t)
	say := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	say("== cygnet real-kernel ESP demo: host A %v <-> host B %v (veth, two network namespaces)", a, b)
	say("== SAs installed by package xfrm (SPIs allocated by each kernel with XFRM_MSG_ALLOCSPI)")
	say("   A: in  spi 0x%08x  out spi 0x%08x  AES_GCM_16_256 transport reqid 0x%08x", s.a.child.In.SPI, s.a.child.Out.SPI, s.reqid)
	say("   B: in  spi 0x%08x  out spi 0x%08x", s.b.child.In.SPI, s.b.child.Out.SPI)
	say("== ip xfrm state / policy on A (keys elided)")
	for _, cmd := range [][]string{{"ip", "xfrm", "state"}, {"ip", "xfrm", "policy"}} {
		sc := bufio.NewScanner(strings.NewReader(s.a.ns.Run(t, cmd...)))
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, "aead ") || strings.Contains(line, "enc ") || strings.Contains(line, "auth") {
				line = "\t[key material elided]"
			}
			say("   %s", line)
		}
	}
	capt, err := capture.Start(s.a.ns.Path, s.a.iface)
	if err != nil {
		t.Fatal(err)
	}
	say("== ping from A to B")
	out, err := s.a.ns.Output("ping", "-c", "3", "-i", "0.2", "-W", "2", b.String())
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		say("   %s", l)
	}
	if err != nil {
		t.Fatalf("ping failed: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	frames, err := capt.Stop()
	if err != nil {
		t.Fatal(err)
	}
	say("== captured on A's veth, ESP decrypted with package esp")
	saAB, _ := esp.NewSA(s.b.child.In.SPI, s.keyAB, esp.WithReplayWindow(1024))
	saBA, _ := esp.NewSA(s.a.child.In.SPI, s.keyBA, esp.WithReplayWindow(1024))
	var espCount, clear int
	for _, f := range frames {
		pkt := gopacket.NewPacket(f.Data, layers.LayerTypeEthernet, gopacket.Default)
		ip, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if !ok {
			continue
		}
		if ip.Protocol != layers.IPProtocolESP {
			clear++
			say("   %v > %v %v  <-- NOT ESP", ip.SrcIP, ip.DstIP, ip.Protocol)
			continue
		}
		espCount++
		sa := saAB
		if ip.SrcIP.Equal(b.AsSlice()) {
			sa = saBA
		}
		spi, seq, _ := esp.ParseHeader(ip.Payload)
		next, inner, err := sa.Open(nil, ip.Payload)
		desc := fmt.Sprintf("decrypt failed: %v", err)
		if err == nil {
			desc = fmt.Sprintf("next header %d, %d bytes", next, len(inner))
			if next == 1 && len(inner) >= 8 {
				kind := map[byte]string{8: "ICMP echo request", 0: "ICMP echo reply"}[inner[0]]
				desc = fmt.Sprintf("%s id %d seq %d", kind, int(inner[4])<<8|int(inner[5]), int(inner[6])<<8|int(inner[7]))
			}
		}
		say("   %v > %v ESP spi 0x%08x seq %d, %d bytes  => %s", ip.SrcIP, ip.DstIP, spi, seq, len(ip.Payload), desc)
	}
	say("== %d ESP packets, %d packets in clear", espCount, clear)
	if clear != 0 || espCount < 6 {
		t.Fatalf("want only ESP (at least 6 packets), got %d ESP and %d in clear", espCount, clear)
	}
	states, err := s.a.h.States(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		say("   kernel counters on A: spi 0x%08x %v->%v: %d packets, %d bytes", st.SPI, st.Src, st.Dst, st.Packets, st.Bytes)
	}
}
