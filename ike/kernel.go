package ike

import "github.com/cygnet-ipsec/cygnet/xfrm"

// KernelEvent takes the kernel's XFRM notifications that concern the
// engine's CHILD_SAs (xfrm.Handle.Watch): a soft expire (a time, byte or
// packet soft limit of xfrm.Limits was reached) starts a rekey when the
// connection has rekey=yes; a hard expire means the kernel removed the
// state, and the CHILD_SA is deleted with the peer (RFC 7296 1.4.1); a
// mapping event (the peer's NAT gave it a new port) moves the IKE SA and
// the CHILD_SAs' encapsulation to the new port (mapping.go). Other events
// are ignored. It never blocks on the network.
func (e *Engine) KernelEvent(ev xfrm.Event) {
	switch ev.Type {
	case xfrm.EventSoftExpire:
		e.childExpire(ev.SPI, ev.Dst, false)
	case xfrm.EventHardExpire:
		e.childExpire(ev.SPI, ev.Dst, true)
	case xfrm.EventMapping:
		e.childMapping(ev)
	}
}
