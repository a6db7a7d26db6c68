// Package pktinfo builds and reads the IP_PKTINFO / IPV6_PKTINFO control
// messages (RFC 3542 section 6 for IPv6) with which a UDP socket bound to
// the wildcard address learns where each datagram was sent and answers
// from that same address, as IKE needs (RFC 7296 2.11: a response goes
// from the address the request was sent to). ike/udp and internal/bench
// share it.
package pktinfo

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// Control is the control message that sends a datagram from address a on
// a socket of the given family (unix.AF_INET or unix.AF_INET6).
func Control(a netip.Addr, family int) []byte {
	if family == unix.AF_INET {
		var pi unix.Inet4Pktinfo
		pi.Spec_dst = a.As4()
		return unix.PktInfo4(&pi)
	}
	var pi unix.Inet6Pktinfo
	pi.Addr = a.As16()
	return unix.PktInfo6(&pi)
}

// Dst is the destination address of a received datagram, from its control
// messages; false when they hold no packet information.
func Dst(oob []byte) (netip.Addr, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return netip.Addr{}, false
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo { int ipi_ifindex; struct in_addr
			// ipi_spec_dst; struct in_addr ipi_addr; }: ipi_addr is the
			// header's destination.
			return netip.AddrFrom4([4]byte(m.Data[8:12])), true
		case m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_PKTINFO && len(m.Data) >= unix.SizeofInet6Pktinfo:
			// struct in6_pktinfo { struct in6_addr ipi6_addr; int ipi6_ifindex; }
			return netip.AddrFrom16([16]byte(m.Data[:16])), true
		}
	}
	return netip.Addr{}, false
}
