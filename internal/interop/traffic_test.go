package interop

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/capture"
	"github.com/cygnet-ipsec/cygnet/xfrm"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// traffic sends a ping and a TCP stream from moon to sun through the SA,
// with a capture on moon's link that must show ESP (or ESP-in-UDP) only,
// and checks that the kernels' byte counters of each SA agree.
func (r *run) traffic(t *testing.T, label string) {
	t.Helper()
	capt, err := capture.Start(r.moon.ns.Path, r.moon.iface)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := r.moon.ns.Output("ping", "-c", "3", "-i", "0.2", "-W", "3", r.sun.addr.String()); err != nil {
		t.Errorf("%s: ping %v: %v\n%s", label, r.sun.addr, err, out)
	}
	payload := bytes.Repeat([]byte(fmt.Sprintf("interop-%s-probe-", label)), 2000)
	got, terr := tcpTransfer(r.moon.ns.Path, r.sun.ns.Path, r.sun.addr, payload)
	if terr != nil || !bytes.Equal(got, payload) {
		t.Errorf("%s: tcp transfer: %d of %d bytes: %v", label, len(got), len(payload), terr)
	}
	frames, err := capt.Stop()
	if err != nil {
		t.Fatal(err)
	}
	sum := summarize(frames, r.moon.addr, r.sun.addr, payload[1000:1032])
	r.capSummary = sum.String()
	switch {
	case sum.probeInClear:
		t.Errorf("%s: the TCP payload was seen in clear on the wire", label)
	case len(sum.clear) > 0:
		t.Errorf("%s: %d packets in clear between the hosts", label, len(sum.clear))
	case r.c.encap && (sum.espInUDP < 6 || sum.esp > 0):
		t.Errorf("%s: want ESP in UDP only: %d ESP-in-UDP, %d plain ESP", label, sum.espInUDP, sum.esp)
	case !r.c.encap && (sum.esp < 6 || sum.espInUDP > 0):
		t.Errorf("%s: want plain ESP only: %d ESP, %d ESP-in-UDP", label, sum.esp, sum.espInUDP)
	}
	r.checkCounters(t, label)
	if t.Failed() {
		t.Logf("%s: capture: %s", label, r.capSummary)
	}
}

// tcpTransfer sends data from namespace a to addrB in namespace b and
// returns what b received.
func tcpTransfer(a, b string, addrB netip.Addr, data []byte) ([]byte, error) {
	var ln net.Listener
	if err := xfrm.InNamespace(b, func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(addrB, 0).String())
		return err
	}); err != nil {
		return nil, err
	}
	defer ln.Close()
	res := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			res <- nil
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		got, _ := io.ReadAll(c)
		res <- got
	}()
	var conn net.Conn
	if err := xfrm.InNamespace(a, func() (err error) {
		conn, err = net.DialTimeout("tcp", ln.Addr().String(), 20*time.Second)
		return err
	}); err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	_, werr := conn.Write(data)
	conn.Close()
	select {
	case got := <-res:
		return got, werr
	case <-time.After(90 * time.Second):
		return nil, fmt.Errorf("tcp transfer timed out")
	}
}

// wireSummary counts what crossed the link between the two hosts.
type wireSummary struct {
	esp, espInUDP, ike, keepalive, nd int
	// ikeUnreachable are ICMP "port unreachable" answers to IKE packets: a
	// host whose IKE daemon is down (a restart, a migration) answers
	// moon's retransmissions so. Like IKE itself they bypass IPsec.
	ikeUnreachable int
	clear          []string
	probeInClear   bool
}

func (w wireSummary) String() string {
	s := fmt.Sprintf("%d ESP, %d ESP-in-UDP, %d IKE, %d NAT-T keepalives, %d IPv6 neighbour discovery, %d ICMP unreachable for IKE, %d in clear",
		w.esp, w.espInUDP, w.ike, w.keepalive, w.nd, w.ikeUnreachable, len(w.clear))
	for i, c := range w.clear {
		if i == 10 {
			s += fmt.Sprintf("\n  ... %d more", len(w.clear)-10)
			break
		}
		s += "\n  " + c
	}
	return s
}

// summarize sorts captured frames between a and b. IPv6 neighbour
// discovery is allowed in clear (it must bypass IPsec for the link to
// work); anything else but ESP and IKE is not.
func summarize(frames []capture.Frame, a, b netip.Addr, probe []byte) wireSummary {
	var w wireSummary
	for _, f := range frames {
		if bytes.Contains(f.Data, probe) {
			w.probeInClear = true
		}
		pkt := gopacket.NewPacket(f.Data, layers.LayerTypeEthernet, gopacket.Default)
		var src, dst netip.Addr
		var proto layers.IPProtocol
		var payload []byte
		switch ip := pkt.NetworkLayer().(type) {
		case *layers.IPv4:
			src, _ = netip.AddrFromSlice(ip.SrcIP.To4())
			dst, _ = netip.AddrFromSlice(ip.DstIP.To4())
			proto, payload = ip.Protocol, ip.Payload
		case *layers.IPv6:
			src, _ = netip.AddrFromSlice(ip.SrcIP)
			dst, _ = netip.AddrFromSlice(ip.DstIP)
			proto, payload = ip.NextHeader, ip.Payload
		default:
			continue
		}
		if !(src == a && dst == b) && !(src == b && dst == a) {
			continue
		}
		switch proto {
		case layers.IPProtocolESP:
			w.esp++
			continue
		case layers.IPProtocolUDP:
			if udp, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
				switch {
				case udp.DstPort == 500 || udp.SrcPort == 500:
					w.ike++
					continue
				case udp.DstPort == 4500 || udp.SrcPort == 4500:
					// RFC 3948 2.2, 2.3: a one-byte 0xFF is a keepalive, a
					// zero non-ESP marker starts IKE, anything else is ESP.
					switch p := udp.Payload; {
					case len(p) == 1 && p[0] == 0xff:
						w.keepalive++
					case len(p) >= 4 && p[0]|p[1]|p[2]|p[3] == 0:
						w.ike++
					default:
						w.espInUDP++
					}
					continue
				}
			}
		case layers.IPProtocolICMPv4:
			// RFC 792: type 3 code 3, port unreachable, quoting the IP
			// header and the first 8 bytes of the datagram.
			if len(payload) >= 8 && payload[0] == 3 && payload[1] == 3 && quotesIKE(payload[8:], false) {
				w.ikeUnreachable++
				continue
			}
		case layers.IPProtocolICMPv6:
			if len(payload) > 0 && payload[0] >= 133 && payload[0] <= 137 {
				w.nd++
				continue
			}
			// RFC 4443 3.1: type 1 code 4, port unreachable.
			if len(payload) >= 8 && payload[0] == 1 && payload[1] == 4 && quotesIKE(payload[8:], true) {
				w.ikeUnreachable++
				continue
			}
		}
		w.clear = append(w.clear, fmt.Sprintf("%v > %v: %v, %d bytes", src, dst, proto, len(payload)))
	}
	return w
}

// quotesIKE reports whether the datagram an ICMP error quotes was UDP to
// the IKE ports 500 or 4500.
func quotesIKE(quoted []byte, v6 bool) bool {
	var udp []byte
	if v6 {
		// A fixed IPv6 header; IKE carries no extension headers here.
		if len(quoted) < 48 || quoted[6] != byte(layers.IPProtocolUDP) {
			return false
		}
		udp = quoted[40:]
	} else {
		if len(quoted) < 20 || quoted[9] != byte(layers.IPProtocolUDP) {
			return false
		}
		ihl := int(quoted[0]&0x0f) * 4
		if ihl < 20 || len(quoted) < ihl+8 {
			return false
		}
		udp = quoted[ihl:]
	}
	dst := uint16(udp[2])<<8 | uint16(udp[3])
	return dst == 500 || dst == 4500
}

// states lists the ESP states of a namespace.
func states(ns string) ([]xfrm.InstalledState, error) {
	h, err := xfrm.Open(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return h.States(context.Background())
}

// checkCounters compares, for every SA, the sender's and the receiver's
// kernel counters: same SPI and destination, same packets, same bytes.
func (r *run) checkCounters(t *testing.T, label string) {
	t.Helper()
	ms, err := states(r.moon.ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := states(r.sun.ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	used := 0
	for _, dir := range []struct {
		from, to     *node
		fromSt, toSt []xfrm.InstalledState
	}{{r.moon, r.sun, ms, ss}, {r.sun, r.moon, ss, ms}} {
		// Outbound states are those from this node's address; the peer's
		// inbound state has the same SPI (behind NAT its addresses differ).
		for _, out := range dir.fromSt {
			if out.Src != dir.from.addr {
				continue
			}
			if was, ok := r.stale[out.SPI]; ok {
				lines = append(lines, fmt.Sprintf("%s->%s spi %08x: left by the crashed daemon, out %d pkts (%d at the crash)",
					dir.from.name, dir.to.name, out.SPI, out.Packets, was))
				if out.Packets != was {
					t.Errorf("%s: %s's stale SA %08x, left by the crashed daemon, carried %d packets after the restart",
						label, dir.from.name, out.SPI, out.Packets-was)
				}
				continue
			}
			var in *xfrm.InstalledState
			for i := range dir.toSt {
				if dir.toSt[i].SPI == out.SPI && dir.toSt[i].Src != dir.to.addr {
					in = &dir.toSt[i]
				}
			}
			if in == nil {
				t.Errorf("%s: %s's SA %08x to %v has no counterpart in %s's kernel", label, dir.from.name, out.SPI, out.Dst, dir.to.name)
				continue
			}
			lines = append(lines, fmt.Sprintf("%s->%s spi %08x: out %d pkts %d bytes, in %d pkts %d bytes",
				dir.from.name, dir.to.name, out.SPI, out.Packets, out.Bytes, in.Packets, in.Bytes))
			if out.Packets != in.Packets || out.Bytes != in.Bytes {
				t.Errorf("%s: counters disagree: %s", label, lines[len(lines)-1])
			}
			if out.Packets > 0 {
				used++
			}
		}
	}
	if used < 2 {
		t.Errorf("%s: want traffic on an SA in each direction, counters:\n%s", label, strings.Join(lines, "\n"))
	}
	t.Logf("%s: xfrm counters:\n  %s", label, strings.Join(lines, "\n  "))
}
