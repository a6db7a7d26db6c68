package udp

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/internal/nstest"
	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// TestRoundTrip runs in a fresh namespace (root: bypass policies need
// CAP_NET_ADMIN): messages on both ports and families arrive with the
// right local and remote address, the non-ESP marker is stripped and added,
// keepalives and garbage on the NAT-T port are dropped.
func TestRoundTrip(t *testing.T) {
	vmtest.RequireRoot(t)
	ns := nstest.New(t)
	var c *Conn
	var peers [2]*net.UDPConn
	err := xfrm.InNamespace(ns.Path, func() (err error) {
		if c, err = Listen(Config{Port: 10500, NATPort: 14500}); err != nil {
			return err
		}
		if peers[0], err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			return err
		}
		peers[1], err = net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := make(chan ike.Packet, 16)
	go c.Serve(func(p ike.Packet) { got <- p })

	for _, peer := range peers {
		defer peer.Close()
		lo := netip.MustParseAddr("127.0.0.1")
		if peer.LocalAddr().(*net.UDPAddr).IP.To4() == nil {
			lo = netip.IPv6Loopback()
		}
		paddr := peer.LocalAddr().(*net.UDPAddr).AddrPort()
		// Port 500-style: raw IKE.
		peer.WriteToUDPAddrPort([]byte("ike-message"), netip.AddrPortFrom(lo, 10500))
		p := recv(t, got)
		if p.Local != netip.AddrPortFrom(lo, 10500) || p.Remote.Port() != paddr.Port() || string(p.Data) != "ike-message" {
			t.Fatalf("got %+v", p)
		}
		// NAT-T port: keepalive and bad marker dropped, marker stripped.
		peer.WriteToUDPAddrPort([]byte{0xff}, netip.AddrPortFrom(lo, 14500))
		peer.WriteToUDPAddrPort([]byte{1, 2, 3, 4, 5}, netip.AddrPortFrom(lo, 14500))
		peer.WriteToUDPAddrPort(append([]byte{0, 0, 0, 0}, "natt"...), netip.AddrPortFrom(lo, 14500))
		p = recv(t, got)
		if p.Local.Port() != 14500 || string(p.Data) != "natt" {
			t.Fatalf("got %+v", p)
		}
		// Replies: marker added on 4500 only.
		for _, port := range []uint16{10500, 14500} {
			if err := c.Send(ike.Packet{Local: netip.AddrPortFrom(lo, port), Remote: p.Remote, Data: []byte("reply")}); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 100)
			peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := peer.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatal(err)
			}
			want := []byte("reply")
			if port == 14500 {
				want = append([]byte{0, 0, 0, 0}, want...)
			}
			if !bytes.Equal(buf[:n], want) || from.Port() != port {
				t.Fatalf("reply on %d: %x from %v", port, buf[:n], from)
			}
		}
		if err := c.SendKeepalive(netip.AddrPortFrom(lo, 14500), p.Remote); err != nil {
			t.Fatal(err)
		}
	}
	// The kernel itself swallows the 0xff keepalives on a UDP_ENCAP
	// socket; the 5-byte datagram with a non-zero marker is too short to be
	// ESP and reaches the socket, which drops it: one per family.
	if c.Dropped() != 2 {
		t.Errorf("dropped %d, want 2", c.Dropped())
	}
}

func recv(t *testing.T, ch chan ike.Packet) ike.Packet {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received")
	}
	return ike.Packet{}
}
