package ike

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// Kernel notifications can be lost (a full netlink socket buffer, a watch
// that failed and was opened again), and an administrator can delete
// states by hand (ip xfrm state flush). Either way the engine would keep
// a CHILD_SA the kernel no longer carries: traffic stops, or leaves in
// clear once a policy without state is gone too, while status says
// INSTALLED. ReconcileStates is the periodic check that recovers from it.

type stateKey struct {
	dst netip.Addr
	spi uint32
}

// ReconcileStates lists the kernel's states with list and recovers every
// installed CHILD_SA whose state is missing there, as if its hard
// lifetime had been reached and the kernel had said so: it is rekeyed when
// its connection rekeys (fresh states, the policies untouched), deleted
// with the peer otherwise. Only CHILD_SAs installed before the listing
// began are checked, so one being installed meanwhile is not mistaken
// for a lost one. It returns how many CHILD_SAs it recovered.
func (e *Engine) ReconcileStates(ctx context.Context, list func(context.Context) ([]xfrm.InstalledState, error)) (int, error) {
	before := e.clock.Now()
	states, err := list(ctx)
	if err != nil {
		return 0, fmt.Errorf("ike: reconciling with the kernel: %w", err)
	}
	have := make(map[stateKey]bool, len(states))
	for _, s := range states {
		if !s.Larval {
			have[stateKey{s.Dst.Unmap(), s.SPI}] = true
		}
	}
	n := 0
	for _, sa := range e.snapshot() {
		sa.lock()
		if sa.state == stateEstablished {
			for _, ch := range append([]*childSA(nil), sa.children...) {
				if !ch.installed || ch.deleting || ch.replaced || ch.rekeying != nil || !ch.created.Before(before) {
					continue
				}
				in := have[stateKey{sa.local.Addr().Unmap(), ch.spiIn}]
				out := ch.pendingOut != nil || have[stateKey{sa.remote.Addr().Unmap(), ch.spiOut}]
				if in && out {
					continue
				}
				n++
				sa.logAt(slog.LevelWarn, "ike: CHILD_SA state missing from the kernel", "child_id", ch.uid,
					"spi_in", fmt.Sprintf("%08x", ch.spiIn), "in", in, "spi_out", fmt.Sprintf("%08x", ch.spiOut), "out", out)
				if sa.conn != nil && sa.conn.Rekey {
					sa.childRekeyDue(ch, "state missing from the kernel")
				} else {
					sa.deleteChild(ch, "state missing from the kernel")
				}
			}
		}
		sa.unlock()
	}
	return n, nil
}
