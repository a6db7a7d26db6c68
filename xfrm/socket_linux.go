package xfrm

import (
	"fmt"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// BypassSocket installs per-socket policies on an IKE socket so that the
// transport-mode policies between two hosts never capture IKE itself
// (RFC 7296 2.23 traffic must stay outside the SAs it negotiates). It sets
// an "allow" policy in both directions with IP_XFRM_POLICY or
// IPV6_XFRM_POLICY; family is unix.AF_INET or unix.AF_INET6.
func BypassSocket(c syscall.RawConn, fam int) error {
	level, opt := unix.IPPROTO_IP, unix.IP_XFRM_POLICY
	if fam == unix.AF_INET6 {
		level, opt = unix.IPPROTO_IPV6, unix.IPV6_XFRM_POLICY
	}
	var serr error
	err := c.Control(func(fd uintptr) {
		for _, dir := range []uint8{0, 1} { // XFRM_POLICY_IN, XFRM_POLICY_OUT
			p := &nl.XfrmUserpolicyInfo{Dir: dir, Action: 0}
			// The kernel rejects a socket policy without a family.
			p.Sel.Family = uint16(fam)
			p.Lft = nl.XfrmLifetimeCfg{SoftByteLimit: xfrmInf, HardByteLimit: xfrmInf, SoftPacketLimit: xfrmInf, HardPacketLimit: xfrmInf}
			if serr = unix.SetsockoptString(int(fd), level, opt, string(p.Serialize())); serr != nil {
				return
			}
		}
	})
	if err != nil {
		return fmt.Errorf("xfrm: bypass policy: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("xfrm: bypass policy (setsockopt %d): %w", opt, serr)
	}
	return nil
}

// EnableUDPEncap makes the kernel decapsulate ESP-in-UDP (RFC 3948)
// arriving on a UDP socket, normally the one bound to port 4500; packets
// starting with the non-ESP marker still reach the socket as IKE.
func EnableUDPEncap(c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_ENCAP, unix.UDP_ENCAP_ESPINUDP)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("xfrm: udp encapsulation: %w", err)
	}
	return nil
}
