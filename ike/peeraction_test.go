package ike_test

import (
	"context"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// TestCloseAction: when the peer deletes the CHILD_SA (here: its hard
// lifetime) or the IKE_SA, closeaction applies as in strongSwan: none and
// clear leave nothing, hold routes the conn (the CHILD_SA's policies stay
// as the trap, the traffic is held), restart negotiates again. A CHILD_SA
// replaced by a rekey is no close.
func TestCloseAction(t *testing.T) {
	for _, what := range []string{"CHILD_SA", "IKE_SA"} {
		for _, action := range []ike.PeerAction{ike.ActionNone, ike.ActionClear, ike.ActionHold, ike.ActionRestart} {
			t.Run(what+"/"+action.String(), func(t *testing.T) {
				p := newPair(t, func(a, b *ike.Config) {
					a.Connections[0].CloseAction = action
					a.Connections[0].Rekey, b.Connections[0].Rekey = true, true
				})
				if err := p.initiate(t); err != nil {
					t.Fatal(err)
				}
				// A rekey by the peer deletes the old CHILD_SA: no close.
				rekeyB(t, p)
				if n := len(p.a.kernel.States()); n != 2 || p.a.e.Routed("ab") {
					t.Fatalf("after the peer's rekey: %d states, routed %v", n, p.a.e.Routed("ab"))
				}
				inits := countSent(p.link, isInitFromA)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if what == "IKE_SA" {
					if err := p.b.e.Terminate(ctx, "ab"); err != nil {
						t.Fatal(err)
					}
				} else {
					ch := established(t, p.b).Children[0]
					p.b.e.KernelEvent(xfrm.Event{Type: xfrm.EventHardExpire, SPI: ch.SPIOut, Src: addrB, Dst: addrA})
				}
				deadline := time.Now().Add(5 * time.Second)
				done := func() bool {
					switch action {
					case ike.ActionRestart:
						return countSent(p.link, isInitFromA) > inits && len(p.a.kernel.States()) == 2
					case ike.ActionHold:
						return len(p.a.kernel.States()) == 0 && p.a.e.Routed("ab")
					}
					return len(p.a.kernel.States()) == 0
				}
				for !done() {
					if time.Now().After(deadline) {
						t.Fatalf("closeaction=%v after the peer deleted the %s: routed %v, %d IKE_SA_INIT, kernel:\n%v",
							action, what, p.a.e.Routed("ab"), countSent(p.link, isInitFromA)-inits, p.a.kernel.Render())
					}
					time.Sleep(time.Millisecond)
				}
				pols := len(p.a.kernel.Policies())
				switch action {
				case ike.ActionHold:
					if pols != 2 {
						t.Errorf("hold: %d policies, want the 2 of the trap:\n%v", pols, p.a.kernel.Render())
					}
				case ike.ActionRestart:
					if pols != 2 || p.a.e.Routed("ab") {
						t.Errorf("restart: %d policies, routed %v", pols, p.a.e.Routed("ab"))
					}
				default:
					if pols != 0 || p.a.e.Routed("ab") || countSent(p.link, isInitFromA) != inits {
						t.Errorf("%v: %d policies, routed %v, %d IKE_SA_INIT", action, pols, p.a.e.Routed("ab"), countSent(p.link, isInitFromA)-inits)
					}
				}
			})
		}
	}
}

// rekeyB has B rekey its CHILD_SA (as its soft lifetime would) and waits
// until A holds only the new one.
func rekeyB(t *testing.T, p *pair) {
	t.Helper()
	old := established(t, p.b).Children[0]
	was := established(t, p.a).Children[0].SPIIn
	p.b.e.KernelEvent(xfrm.Event{Type: xfrm.EventSoftExpire, SPI: old.SPIOut, Src: addrB, Dst: addrA})
	deadline := time.Now().Add(5 * time.Second)
	for {
		ch := established(t, p.a).Children
		if len(ch) == 1 && ch[0].SPIIn != was && len(p.a.kernel.States()) == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("B's rekey did not complete: %+v", ch)
		}
		time.Sleep(time.Millisecond)
	}
}
