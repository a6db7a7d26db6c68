package ike_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
)

func countSent(l *link, match func(ike.Packet) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, p := range l.sent {
		if match(p) {
			n++
		}
	}
	return n
}

func isLivenessFromA(p ike.Packet) bool {
	return p.Local.Addr() == addrA && isInformationalRequest(p)
}

func isInitFromA(p ike.Packet) bool {
	const ikeSAInit = 34
	return p.Local.Addr() == addrA && len(p.Data) > 19 && p.Data[18] == ikeSAInit && p.Data[19]&0x20 == 0
}

// TestDPD covers dead peer detection (RFC 7296 2.4) and dpdaction, with
// strongSwan's retransmission schedule (4 s x 1.8^n, 5 tries: dead 165 s
// after the check).
func TestDPD(t *testing.T) {
	const delay = 30 * time.Second
	cases := []struct {
		rfc, name string
		action    ike.PeerAction
		dead      bool
		wantSAs   int // on A at the end
		wantInits int // IKE_SA_INIT requests A sent after the peer died
	}{
		{"RFC 7296 2.4, 1.4", "idle live peer: liveness check answered, SA kept", ike.ActionClear, false, 1, 0},
		{"RFC 7296 2.4", "dead peer, dpdaction=clear: SAs removed", ike.ActionClear, true, 0, 0},
		{"RFC 7296 2.4", "dead peer, dpdaction=hold: SAs removed, their policies stay as the trap", ike.ActionHold, true, 0, 0},
		{"RFC 7296 2.4", "dead peer, dpdaction=restart: negotiated again", ike.ActionRestart, true, 1, 1},
		{"strongSwan dpdaction=none", "dpdaction=none: no checks", ike.ActionNone, false, 1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Logf("checks %s", c.rfc)
			p := newPair(t, func(a, b *ike.Config) {
				a.Connections[0].DPDDelay, a.Connections[0].DPDAction = delay, c.action
			})
			if err := p.initiate(t); err != nil {
				t.Fatal(err)
			}
			p.clk.Advance(delay - time.Second)
			if n := countSent(p.link, isLivenessFromA); n != 0 {
				t.Fatalf("%d liveness checks before dpddelay", n)
			}
			if c.dead {
				p.link.setFilter(func(ike.Packet) int { return 0 })
			}
			inits := countSent(p.link, isInitFromA)
			p.clk.Advance(2 * time.Second)
			checks := countSent(p.link, isLivenessFromA)
			if c.action == ike.ActionNone {
				if checks != 0 {
					t.Fatalf("%d liveness checks with dpdaction=none", checks)
				}
			} else if checks != 1 {
				t.Fatalf("%d liveness checks after dpddelay, want 1", checks)
			}
			if !c.dead {
				p.clk.Advance(10 * time.Minute)
				established(t, p.a)
				checkCrossMatch(t, p.a.kernel, p.b.kernel)
				if c.action != ike.ActionNone && countSent(p.link, isLivenessFromA) < 10 {
					t.Error("liveness checks not repeated while idle")
				}
				return
			}
			p.clk.Advance(164 * time.Second)
			if len(p.a.e.Status().IKESAs) != 1 {
				t.Fatal("peer declared dead before the last retransmission timed out")
			}
			p.clk.Advance(2 * time.Second)
			if c.action == ike.ActionRestart {
				if n := countSent(p.link, isInitFromA) - inits; n != c.wantInits {
					t.Fatalf("%d IKE_SA_INIT after the peer died, want %d", n, c.wantInits)
				}
				// The path heals: the new IKE SA comes up and, by its
				// INITIAL_CONTACT, replaces B's stale one.
				p.link.setFilter(nil)
				p.clk.Advance(5 * time.Second)
				checkOnePair(t, p.a, p.b)
				return
			}
			if n := len(p.a.e.Status().IKESAs); n != c.wantSAs || len(p.a.kernel.States()) != 0 {
				t.Fatalf("after death: %d IKE SAs, states %v", n, p.a.kernel.Render())
			}
			if !strings.Contains(p.a.log.String(), "dpdaction="+c.action.String()) {
				t.Error("death not logged with its action")
			}
			// strongSwan: hold routes the conn (its traffic is held and
			// renegotiated on demand); clear leaves nothing.
			hold := c.action == ike.ActionHold
			if n := len(p.a.kernel.Policies()); p.a.e.Routed("ab") != hold || (n == 2) != hold || (n == 0) == hold {
				t.Errorf("after death with dpdaction=%v: routed %v, policies %v", c.action, p.a.e.Routed("ab"), p.a.kernel.Render())
			}
		})
	}
}

// TestNATKeepalive: behind a NAT the engine sends a keepalive after every
// keep_alive interval without other traffic (RFC 3948 2.3, 4); without a
// NAT it sends none.
func TestNATKeepalive(t *testing.T) {
	for _, c := range []struct {
		name string
		nat  bool
		want int
	}{{"behind NAT (forceencaps)", true, 3}, {"no NAT", false, 0}} {
		t.Run(c.name, func(t *testing.T) {
			t.Log("checks RFC 3948 2.3")
			p := newPair(t, func(a, b *ike.Config) { a.Connections[0].ForceEncaps = c.nat })
			if err := p.initiate(t); err != nil {
				t.Fatal(err)
			}
			p.clk.Advance(61 * time.Second)
			if n := p.link.keepalivesFrom(addrA); n != c.want {
				t.Fatalf("%d keepalives in 61 s, want %d", n, c.want)
			}
		})
	}
}
