package udp

import (
	"fmt"
	"net/netip"
	"syscall"

	pinfo "github.com/cygnet-ipsec/cygnet/internal/pktinfo"
	"github.com/cygnet-ipsec/cygnet/xfrm"
	"golang.org/x/sys/unix"
)

// setup prepares a freshly bound socket: bypass policies, ESP-in-UDP
// decapsulation on the NAT-T port, and the local address of each datagram.
func setup(raw syscall.RawConn, family int, port uint16, nat bool) error {
	if err := xfrm.BypassSocket(raw, family); err != nil {
		return fmt.Errorf("udp: port %d: %w", port, err)
	}
	if nat {
		if err := xfrm.EnableUDPEncap(raw); err != nil {
			return fmt.Errorf("udp: port %d: %w", port, err)
		}
	}
	// Learn the local address each datagram was sent to, so replies leave
	// from the address the peer used (RFC 7296 2.11).
	var serr error
	err := raw.Control(func(fd uintptr) {
		if family == unix.AF_INET {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("udp: pktinfo on port %d: %w", port, err)
	}
	return nil
}

// truncated reports whether the kernel cut a datagram short (MSG_TRUNC).
func truncated(flags int) bool { return flags&unix.MSG_TRUNC != 0 }

// localAddr is the address a datagram was sent to, from its IP_PKTINFO or
// IPV6_PKTINFO control message.
func localAddr(oob []byte, _ int) (netip.Addr, bool) { return pinfo.Dst(oob) }

// pktinfo is the control message that sends a datagram from address a.
func pktinfo(a netip.Addr, family int) []byte { return pinfo.Control(a, family) }
