package ike

import (
	"net/netip"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// natTS handles traffic selectors of a transport-mode CHILD_SA behind a
// NAT (RFC 7296 2.23.1, RFC 3948 5.2): a host behind the NAT proposes its
// private address, which the other end never sees; the addresses that
// matter are the IKE SA's (what the kernel states and policies use). When
// a NAT was detected, each host selector of the peer's list is taken to
// name addr, the IKE address of the side it describes; protocol and ports
// are kept for narrowing. Without a NAT the list is returned as it is.
func (sa *ikeSA) natTS(sel []message.TrafficSelector, addr netip.Addr) []message.TrafficSelector {
	if !sa.natDetected() {
		return sel
	}
	addr = addr.Unmap()
	out := make([]message.TrafficSelector, 0, len(sel))
	for _, ts := range sel {
		if ts.Start.Is4() == addr.Is4() && ts.Start.IsValid() {
			ts.Start, ts.End = addr, addr
		}
		out = append(out, ts)
	}
	return out
}

// withAddrs returns ts with the addresses of orig, for an answer that must
// repeat what the peer proposed for itself behind its NAT.
func withAddrs(ts, orig message.TrafficSelector) message.TrafficSelector {
	ts.Start, ts.End = orig.Start, orig.End
	return ts
}

// replyTS is the selector a responder returns: what it narrowed to, but
// behind a NAT with the addresses the initiator proposed, so that the
// initiator finds its own view of itself in the answer.
func replyTS(sa *ikeSA, narrowed message.TrafficSelector, proposed []message.TrafficSelector) message.TrafficSelector {
	if !sa.natDetected() || len(proposed) == 0 {
		return narrowed
	}
	for _, p := range proposed {
		if p.Start.Is4() == narrowed.Start.Is4() {
			return withAddrs(narrowed, p)
		}
	}
	return narrowed
}
