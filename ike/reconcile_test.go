package ike_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/xfrm"
	"github.com/cygnet-ipsec/cygnet/xfrm/xfrmtest"
)

// installed lists a fake kernel's states as the netlink handle does.
func installed(k *xfrmtest.Fake) func(context.Context) ([]xfrm.InstalledState, error) {
	return func(context.Context) ([]xfrm.InstalledState, error) {
		var out []xfrm.InstalledState
		for _, s := range k.States() {
			out = append(out, xfrm.InstalledState{State: s})
		}
		return out, nil
	}
}

// TestReconcileStates: a CHILD_SA whose inbound state vanished from the
// kernel without an event (a lost notification, `ip xfrm state flush`) is
// found by the periodic check: rekeyed when its conn rekeys (new states on
// both ends, matching), deleted with the peer when it does not. With every
// state present the check changes nothing, and a CHILD_SA installed after
// the listing began is not judged by it.
func TestReconcileStates(t *testing.T) {
	ctx := context.Background()
	for _, rekey := range []bool{true, false} {
		t.Run(map[bool]string{true: "rekey=yes", false: "rekey=no"}[rekey], func(t *testing.T) {
			p := newPair(t, func(a, b *ike.Config) {
				rekeyConn(&a.Connections[0], rekey)
				rekeyConn(&b.Connections[0], rekey)
			})
			if err := p.initiate(t); err != nil {
				t.Fatal(err)
			}
			// A listing that began when the CHILD_SA was being installed
			// (the same instant here) does not count against it, though
			// it holds none of its states.
			if n, _ := p.a.e.ReconcileStates(ctx, installed(&xfrmtest.Fake{})); n != 0 {
				t.Fatalf("a CHILD_SA judged by a listing not older than it: %d recovered", n)
			}
			p.clk.Advance(time.Second)
			if n, err := p.a.e.ReconcileStates(ctx, installed(p.a.kernel)); n != 0 || err != nil {
				t.Fatalf("all states present: %d recovered, %v", n, err)
			}
			in := spisOf(p.a, xfrm.In)
			if err := p.a.kernel.DeleteState(ctx, xfrm.StateID{Dst: addrA, SPI: in[0]}); err != nil {
				t.Fatal(err)
			}
			n, err := p.a.e.ReconcileStates(ctx, installed(p.a.kernel))
			if n != 1 || err != nil {
				t.Fatalf("inbound state gone: %d recovered, %v", n, err)
			}
			if rekey {
				checkRekeyed(t, p, in)
				if slices.Contains(spisOf(p.a, xfrm.In), in[0]) {
					t.Fatal("the lost SPI is back")
				}
				return
			}
			for _, s := range []*side{p.a, p.b} {
				if sa := established(t, s); len(sa.Children) != 0 || len(s.kernel.States()) != 0 {
					t.Fatalf("%d CHILD_SAs and %d states left after the lost one was deleted", len(sa.Children), len(s.kernel.States()))
				}
			}
		})
	}
}
