package ike

import (
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// childMapping follows a NAT mapping change that the kernel saw on an
// authenticated ESP-in-UDP packet (its MAPPING event; the packet passed
// the ICV check, so it comes from the peer). RFC 7296 2.23: the end that
// is not behind a NAT sends to the address and port the peer's
// authenticated packets come from; the end behind the NAT keeps its own.
// A new port is followed: the IKE SA answers and sends there, and the
// CHILD_SAs' states take the new encapsulation port in place (their SPIs
// and counters go on). A new address is not followed (the traffic
// selectors of a transport-mode SA name the address): the change is
// logged and the SA left to dead peer detection.
func (e *Engine) childMapping(ev xfrm.Event) {
	for _, sa := range e.snapshot() {
		sa.lock()
		if sa.hasInboundSPI(ev.SPI) {
			sa.followMapping(ev)
			sa.unlock()
			return
		}
		sa.unlock()
	}
}

func (sa *ikeSA) hasInboundSPI(spi uint32) bool {
	for _, ch := range sa.children {
		if ch.installed && ch.spiIn == spi {
			return true
		}
	}
	return false
}

func (sa *ikeSA) followMapping(ev xfrm.Event) {
	if sa.state != stateEstablished {
		return
	}
	to := netip.AddrPortFrom(ev.Dst.Unmap(), ev.NewPort)
	log := []any{"spi_in", fmt.Sprintf("%08x", ev.SPI), "from", sa.remote.String(), "to", to.String()}
	switch {
	case !sa.natRemote:
		sa.logAt(slog.LevelWarn, "ike: ESP from a new source, but the peer is not behind a NAT: ignored (RFC 7296 2.23)", log...)
		return
	case to.Addr() != sa.remote.Addr().Unmap():
		sa.logAt(slog.LevelWarn, "ike: peer's NAT changed its address: not followed without MOBIKE", log...)
		return
	case to.Port() == sa.remote.Port() || to.Port() == 0:
		return
	}
	sa.logAt(slog.LevelInfo, "ike: peer's NAT mapping changed, following it", log...)
	sa.remote = to
	upd, ok := sa.e.kernel.(xfrm.EncapUpdater)
	if !ok {
		sa.logAt(slog.LevelWarn, "ike: the kernel installer cannot update encapsulation; ESP keeps the old port")
		return
	}
	ctx, cancel := kernelCtx()
	defer cancel()
	for _, ch := range sa.children {
		if !ch.installed {
			continue
		}
		in, out := ch.kernel.In, ch.kernel.Out
		if in.Encap == nil || out.Encap == nil {
			continue
		}
		in.Encap = &xfrm.Encap{SrcPort: to.Port(), DstPort: in.Encap.DstPort}
		out.Encap = &xfrm.Encap{SrcPort: out.Encap.SrcPort, DstPort: to.Port()}
		// Outbound first: that is what the peer now needs; the inbound
		// state's port only stops further MAPPING events.
		for _, s := range []*xfrm.State{&out, &in} {
			if err := upd.UpdateEncap(ctx, s); err != nil {
				sa.logAt(slog.LevelError, "ike: updating ESP encapsulation", "child_id", ch.uid, "spi", fmt.Sprintf("%08x", s.SPI), "err", err)
				continue
			}
			if s.Dir == xfrm.Out {
				ch.kernel.Out.Encap = s.Encap
			} else {
				ch.kernel.In.Encap = s.Encap
			}
		}
	}
}
