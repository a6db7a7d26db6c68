package ike_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/xfrm"
)

func reauthConn(c *ike.Connection, reauth bool) {
	c.Rekey = true
	c.Reauth = reauth
	c.IKELifetime = time.Hour
	c.Lifetime = 3 * time.Hour
	c.MarginTime = 9 * time.Minute
	c.RekeyFuzz = 0
}

// watchPolicies makes the link count the packets sent while a side has
// fewer than its two policies: reauthentication must never leave traffic
// without them (it would leave in clear).
func watchPolicies(p *pair, next func(ike.Packet) int) *int {
	holes := new(int)
	p.link.setFilter(func(pk ike.Packet) int {
		if len(p.a.kernel.Policies()) < 2 || len(p.b.kernel.Policies()) < 2 {
			*holes++
		}
		return next(pk)
	})
	return holes
}

// TestReauth: with reauth=yes the IKE SA is replaced by a new IKE_SA_INIT
// and IKE_AUTH, make-before-break (RFC 7296 2.8.3).
func TestReauth(t *testing.T) {
	cases := []struct {
		rfc, name string
		mutate    func(a, b *ike.Config)
		// who reauthenticates: "a" (the original initiator) or "b".
		by string
	}{
		{"RFC 7296 2.8.3", "by the original initiator", func(a, b *ike.Config) {
			reauthConn(&a.Connections[0], true)
			reauthConn(&b.Connections[0], false)
			b.Connections[0].IKELifetime = 3 * time.Hour
		}, "a"},
		{"RFC 7296 2.8.3", "by the original responder, whose conn has right=%any", func(a, b *ike.Config) {
			reauthConn(&a.Connections[0], false)
			a.Connections[0].IKELifetime = 3 * time.Hour
			reauthConn(&b.Connections[0], true)
			// The original responder reauthenticates half the margin
			// later: at 60 - 18/2 = 51 min, as the initiator would.
			b.Connections[0].MarginTime = 18 * time.Minute
			b.Connections[0].Remote.Addr = netip.Addr{}
		}, "b"},
		{"RFC 7296 2.8.3, 2.4", "peer with uniqueids=no keeps the old SA until the Delete", func(a, b *ike.Config) {
			reauthConn(&a.Connections[0], true)
			reauthConn(&b.Connections[0], false)
			b.Connections[0].IKELifetime = 3 * time.Hour
			b.UniqueIDs = ike.UniqueIDsNo
		}, "a"},
		{"RFC 7296 2.8.3", "peer with uniqueids=never", func(a, b *ike.Config) {
			reauthConn(&a.Connections[0], true)
			reauthConn(&b.Connections[0], false)
			b.Connections[0].IKELifetime = 3 * time.Hour
			b.UniqueIDs = ike.UniqueIDsNever
		}, "a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Logf("checks %s", c.rfc)
			p := newPair(t, c.mutate)
			if err := p.initiate(t); err != nil {
				t.Fatal(err)
			}
			old := established(t, p.a)
			oldIn := spisOf(p.a, xfrm.In)
			by, other := p.a, p.b
			if c.by == "b" {
				by, other = p.b, p.a
			}
			// One filter checks both: a second setFilter would replace
			// the first.
			gaps := 0
			holes := watchPolicies(p, func(ike.Packet) int {
				if !receivable(p.a, p.b) || !receivable(p.b, p.a) {
					gaps++
				}
				return 1
			})
			p.clk.Advance(50 * time.Minute)
			if got := established(t, p.a); got.SPIi != old.SPIi {
				t.Fatal("reauthenticated before ikelifetime - margintime")
			}
			p.clk.Advance(time.Minute + time.Second)
			na, nb := established(t, p.a), established(t, p.b)
			if na.SPIi == old.SPIi || na.SPIi != nb.SPIi || na.SPIr != nb.SPIr {
				t.Fatalf("IKE SAs after reauth: old %016x, a %016x_%016x, b %016x_%016x", old.SPIi, na.SPIi, na.SPIr, nb.SPIi, nb.SPIr)
			}
			if got := established(t, by); !got.Initiator {
				t.Error("the reauthenticating end must be the new SA's initiator")
			}
			if len(na.Children) != 1 || len(nb.Children) != 1 {
				t.Fatalf("CHILD_SAs after reauth: a %d, b %d", len(na.Children), len(nb.Children))
			}
			checkCrossMatch(t, p.a.kernel, p.b.kernel)
			if slices.Equal(spisOf(p.a, xfrm.In), oldIn) {
				t.Error("CHILD_SA not renegotiated")
			}
			if *holes != 0 {
				t.Errorf("%d packets sent while a side had no policies", *holes)
			}
			if gaps != 0 {
				t.Errorf("%d packets sent while a direction had no working SA", gaps)
			}
			for _, s := range []*side{p.a, p.b} {
				if len(s.kernel.Policies()) != 2 {
					t.Errorf("policies after reauth: %v", s.kernel.Render())
				}
				if n := countEvents(s, ike.EventIKEUp); n != 2 {
					t.Errorf("%d EventIKEUp, want 2: %v", n, s.eventTypes())
				}
				if n := countEvents(s, ike.EventIKEDown); n != 1 {
					t.Errorf("%d EventIKEDown, want 1: %v", n, s.eventTypes())
				}
			}
			if strings.Count(other.log.String(), "peer sent INITIAL_CONTACT") > 1 {
				t.Error("a reauthentication must not carry INITIAL_CONTACT")
			}
			if !strings.Contains(by.log.String(), "IKE_SA reauthenticated") {
				t.Error("no reauthentication logged")
			}
			// The new SA is reauthenticated again one lifetime later.
			p.clk.Advance(time.Hour)
			if again := established(t, p.a); again.SPIi == na.SPIi {
				t.Error("not reauthenticated a second time")
			}
			checkCrossMatch(t, p.a.kernel, p.b.kernel)
			if err := p.a.e.Terminate(t.Context(), "ab"); err != nil {
				t.Fatal(err)
			}
			for _, s := range []*side{p.a, p.b} {
				if n := len(s.e.Status().IKESAs); n != 0 || len(s.kernel.States()) != 0 || len(s.kernel.Policies()) != 0 {
					t.Errorf("left after terminate: %d IKE SAs, %v", n, s.kernel.Render())
				}
			}
		})
	}
}

// TestReauthCollision: both ends reauthenticate at the same instant, their
// IKE_SA_INIT requests crossing; they end with one IKE SA and one CHILD_SA
// pair (the simultaneous-initiation tie-break, unique.go).
func TestReauthCollision(t *testing.T) {
	t.Log("checks RFC 7296 2.8.3 with both ends reauthenticating")
	for run := range 6 {
		p := newPair(t, func(a, b *ike.Config) {
			reauthConn(&a.Connections[0], true)
			reauthConn(&b.Connections[0], true)
			// The responder's timer, half its margin later, fires with
			// the initiator's: both at 51 min.
			b.Connections[0].MarginTime = 18 * time.Minute
		})
		if err := p.initiate(t); err != nil {
			t.Fatal(err)
		}
		old := established(t, p.a)
		q := holdPackets(p.link)
		p.clk.Advance(51*time.Minute + time.Second)
		if q.len() != 2 {
			t.Fatalf("run %d: %d packets queued, want both IKE_SA_INIT requests", run, q.len())
		}
		q.duplicate = run%2 == 1
		q.pump(40)
		p.link.setFilter(nil)
		p.clk.Advance(time.Minute) // retransmissions of anything lost in the crossing
		na, nb := established(t, p.a), established(t, p.b)
		if na.SPIi == old.SPIi || na.SPIi != nb.SPIi || len(na.Children) != 1 || len(nb.Children) != 1 {
			t.Fatalf("run %d: a %+v\nb %+v", run, na, nb)
		}
		checkCrossMatch(t, p.a.kernel, p.b.kernel)
	}
}

// TestReauthFailure: while the peer does not answer, the old IKE SA and
// its CHILD_SA stay and reauthentication is retried; at ikelifetime the
// old SA is deleted and its kernel state removed.
func TestReauthFailure(t *testing.T) {
	t.Log("checks RFC 7296 2.8.3 (no answer), 2.1 (retransmission gives up)")
	p := newPair(t, func(a, b *ike.Config) {
		reauthConn(&a.Connections[0], true)
		reauthConn(&b.Connections[0], false)
		b.Connections[0].IKELifetime = 3 * time.Hour
		a.Connections[0].DPDAction = ike.ActionNone
	})
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	old := established(t, p.a)
	p.link.setFilter(func(ike.Packet) int { return 0 })
	p.clk.Advance(51*time.Minute + time.Second)
	for range 4 * 60 { // until 55 min, a second at a time
		p.clk.Advance(time.Second)
	}
	var kept bool
	for _, sa := range p.a.e.Status().IKESAs {
		kept = kept || sa.SPIi == old.SPIi && sa.State == "ESTABLISHED" && len(sa.Children) == 1
	}
	if !kept {
		t.Fatalf("old SA not kept while reauthentication fails: %+v", p.a.e.Status().IKESAs)
	}
	if len(p.a.kernel.States()) != 2 {
		t.Fatalf("states while reauthenticating: %v", p.a.kernel.Render())
	}
	for range 5 * 60 { // to ikelifetime
		p.clk.Advance(time.Second)
	}
	for _, sa := range p.a.e.Status().IKESAs {
		if sa.SPIi == old.SPIi && sa.State == "ESTABLISHED" {
			t.Fatal("old SA still established at ikelifetime")
		}
	}
	for range 10 * 60 { // the Delete's and the last attempt's retransmissions
		p.clk.Advance(time.Second)
	}
	if n := len(p.a.e.Status().IKESAs); n != 0 {
		t.Fatalf("%d IKE SAs after ikelifetime without reauthentication", n)
	}
	if len(p.a.kernel.States()) != 0 || len(p.a.kernel.Policies()) != 0 || p.a.kernel.Larval() != 0 {
		t.Errorf("kernel state left: %v (larval %d)", p.a.kernel.Render(), p.a.kernel.Larval())
	}
	la := p.a.log.String()
	if strings.Count(la, "reauthentication failed") < 2 {
		t.Error("reauthentication not retried")
	}
	if !strings.Contains(la, "lifetime expired without reauthentication") {
		t.Error("old SA not deleted at ikelifetime")
	}
}

// TestReauthInitiatorFirst: with the same settings on both ends the
// original initiator reauthenticates and the responder, whose timer is
// half the margin later, does not.
func TestReauthInitiatorFirst(t *testing.T) {
	t.Log("checks RFC 7296 2.8.3 (one end reauthenticates)")
	p := newPair(t, func(a, b *ike.Config) {
		reauthConn(&a.Connections[0], true)
		reauthConn(&b.Connections[0], true)
	})
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	p.clk.Advance(56 * time.Minute)
	if !strings.Contains(p.a.log.String(), "IKE_SA reauthenticated") || strings.Contains(p.b.log.String(), "reauthenticating IKE_SA") {
		t.Error("want A alone to reauthenticate")
	}
	checkOnePair(t, p.a, p.b)
	if sa := established(t, p.a); !sa.Initiator {
		t.Error("A is no longer the initiator")
	}
}

// TestNoReauthWithRekeyNo: rekey=no disables reauthentication too, as in
// strongSwan.
func TestNoReauthWithRekeyNo(t *testing.T) {
	p := newPair(t, func(a, b *ike.Config) {
		reauthConn(&a.Connections[0], true)
		a.Connections[0].Rekey = false
		reauthConn(&b.Connections[0], false)
		b.Connections[0].Rekey = false
	})
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	old := established(t, p.a)
	p.clk.Advance(2 * time.Hour)
	if got := established(t, p.a); got.SPIi != old.SPIi {
		t.Error("reauthenticated with rekey=no")
	}
}

// TestReauthWaitsForPeers: when the peer's reauthentication has reached
// this end (its IKE_SA_INIT was answered) before this end's own timer
// fires, this end waits instead of starting a second new IKE SA.
func TestReauthWaitsForPeers(t *testing.T) {
	t.Log("checks RFC 7296 2.8.3 (one reauthentication at a time)")
	p := newPair(t, func(a, b *ike.Config) {
		reauthConn(&a.Connections[0], true)
		reauthConn(&b.Connections[0], true)
		// B's timer fires 10 s after A's (60 min - 17m40s/2 = 51m10s),
		// while A's half-open SA at B (30 s timeout) is still there.
		b.Connections[0].MarginTime = 17*time.Minute + 40*time.Second
	})
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	q := holdPackets(p.link)
	p.clk.Advance(51*time.Minute + time.Second)
	if q.len() != 1 {
		t.Fatalf("%d packets queued, want A's IKE_SA_INIT", q.len())
	}
	q.deliver(func(pk ike.Packet) bool { return pk.Local.Addr() == addrA }) // B answers it; the answer is held
	p.clk.Advance(10 * time.Second)
	if !strings.Contains(p.b.log.String(), "the peer is reauthenticating, waiting") {
		t.Fatalf("B did not wait for A's reauthentication:\n%s", p.b.log.String())
	}
	if strings.Contains(p.b.log.String(), "initiating IKE_SA") {
		t.Error("B started a second new IKE SA")
	}
	q.pump(20)
	p.link.setFilter(nil)
	p.clk.Advance(time.Minute)
	checkOnePair(t, p.a, p.b)
	if !strings.Contains(p.a.log.String(), "IKE_SA reauthenticated") {
		t.Error("A's reauthentication did not complete")
	}
}
