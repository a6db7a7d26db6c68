package ike_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// spisOf returns the SPIs of a side's states in one direction, sorted.
func spisOf(s *side, dir xfrm.Direction) []uint32 {
	var out []uint32
	for _, st := range s.kernel.States() {
		if st.Dir == dir {
			out = append(out, st.SPI)
		}
	}
	slices.Sort(out)
	return out
}

// receivable reports whether some outbound state of x has its inbound twin,
// with the same keys, on y: traffic from x to y has a working SA.
func receivable(x, y *side) bool {
	for _, o := range x.kernel.States() {
		if o.Dir != xfrm.Out {
			continue
		}
		if in, ok := y.kernel.State(o.ID()); ok && in.Dir == xfrm.In && bytes.Equal(in.EncKey, o.EncKey) {
			return true
		}
	}
	return false
}

// watchGap makes the link check, at every packet, that both directions
// have a working SA, and counts the instants where one does not.
func watchGap(p *pair, next func(ike.Packet) int) *int {
	gaps := new(int)
	p.link.setFilter(func(pk ike.Packet) int {
		if !receivable(p.a, p.b) || !receivable(p.b, p.a) {
			*gaps++
		}
		return next(pk)
	})
	return gaps
}

func countEvents(s *side, typ ike.EventType) int {
	n := 0
	for _, t := range s.eventTypes() {
		if t == typ {
			n++
		}
	}
	return n
}

func rekeyConn(c *ike.Connection, rekey bool) {
	c.Rekey = rekey
	c.Lifetime = time.Hour
	c.MarginTime = 9 * time.Minute
	c.RekeyFuzz = 0
}

// checkRekeyed asserts that both sides hold exactly one CHILD_SA, matching,
// whose SPIs differ from before.
func checkRekeyed(t *testing.T, p *pair, oldIn []uint32) {
	t.Helper()
	checkCrossMatch(t, p.a.kernel, p.b.kernel)
	if slices.Equal(spisOf(p.a, xfrm.In), oldIn) {
		t.Fatal("inbound SPI unchanged: no rekey happened")
	}
	for _, s := range []*side{p.a, p.b} {
		sa := established(t, s)
		if len(sa.Children) != 1 {
			t.Fatalf("%d CHILD_SAs, want 1", len(sa.Children))
		}
		if countEvents(s, ike.EventChildRekeyed) == 0 {
			t.Error("no EventChildRekeyed")
		}
		if n := countEvents(s, ike.EventChildDown); n != 0 {
			t.Errorf("%d EventChildDown during a rekey (updown would run)", n)
		}
	}
}

// TestChildRekey covers rekeying one CHILD_SA by the lifetime timer, by the
// kernel's soft expire and with PFS, each make-before-break.
func TestChildRekey(t *testing.T) {
	cases := []struct {
		rfc, name string
		pfsA      bool
		pfsB      bool
		trigger   string // "timer" or "kernel"
		wantRekey bool
	}{
		{"RFC 7296 1.3.3, 2.8", "lifetime - margintime timer", false, false, "timer", true},
		{"RFC 7296 1.3.3, 1.3.1", "PFS: KE in CREATE_CHILD_SA", true, true, "timer", true},
		{"RFC 7296 1.3.3", "kernel soft expire (lifebytes)", false, false, "kernel", true},
		{"RFC 7296 1.3.1, 2.7", "PFS offered, peer without: NO_PROPOSAL_CHOSEN, old SA kept", true, false, "timer", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Logf("checks %s", c.rfc)
			p := newPair(t, func(a, b *ike.Config) {
				rekeyConn(&a.Connections[0], true)
				rekeyConn(&b.Connections[0], false)
				a.Connections[0].LifeBytes, a.Connections[0].MarginBytes = 1<<30, 1<<28
				if c.pfsA {
					a.Connections[0].ESP[0].DH = []message.DHGroup{message.DHCurve25519}
				}
				if c.pfsB {
					b.Connections[0].ESP[0].DH = []message.DHGroup{message.DHCurve25519}
				}
			})
			if err := p.initiate(t); err != nil {
				t.Fatal(err)
			}
			oldIn := spisOf(p.a, xfrm.In)
			for _, st := range p.a.kernel.States() {
				if st.Limits.SoftBytes != 1<<30-1<<28 || st.Limits.HardBytes != 1<<30 {
					t.Fatalf("byte limits %+v, want soft %d hard %d", st.Limits, 1<<30-1<<28, 1<<30)
				}
			}
			gaps := watchGap(p, func(ike.Packet) int { return 1 })
			switch c.trigger {
			case "timer":
				p.clk.Advance(50 * time.Minute)
				if !slices.Equal(spisOf(p.a, xfrm.In), oldIn) {
					t.Fatal("rekeyed before lifetime - margintime")
				}
				p.clk.Advance(time.Minute + time.Second)
			case "kernel":
				out := spisOf(p.a, xfrm.Out)
				p.a.e.KernelEvent(xfrm.Event{Type: xfrm.EventSoftExpire, SPI: out[0], Src: addrA, Dst: addrB})
			}
			if !c.wantRekey {
				checkCrossMatch(t, p.a.kernel, p.b.kernel)
				if !slices.Equal(spisOf(p.a, xfrm.In), oldIn) {
					t.Fatal("SA changed although the rekey was refused")
				}
				if !strings.Contains(p.a.log.String(), "NO_PROPOSAL_CHOSEN") {
					t.Error("refusal not logged")
				}
				return
			}
			checkRekeyed(t, p, oldIn)
			if *gaps != 0 {
				t.Errorf("%d packets sent while a direction had no working SA", *gaps)
			}
			// The new SA is rekeyed in turn one lifetime later.
			again := spisOf(p.a, xfrm.In)
			p.clk.Advance(52 * time.Minute)
			checkRekeyed(t, p, again)
		})
	}
}

// TestChildHardExpire: with rekey=no the CHILD_SA is deleted at its
// lifetime, the IKE SA stays (RFC 7296 1.4.1; strongSwan's rekey=no).
func TestChildHardExpire(t *testing.T) {
	p := newPair(t, func(a, b *ike.Config) {
		rekeyConn(&a.Connections[0], false)
		rekeyConn(&b.Connections[0], false)
		b.Connections[0].Lifetime = 2 * time.Hour
	})
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	p.clk.Advance(time.Hour + time.Second)
	for _, s := range []*side{p.a, p.b} {
		sa := established(t, s)
		if len(sa.Children) != 0 || len(s.kernel.States()) != 0 {
			t.Fatalf("CHILD_SA left after its lifetime: %v", s.kernel.Render())
		}
		if countEvents(s, ike.EventChildDown) != 1 {
			t.Error("want one EventChildDown")
		}
	}
}

// TestChildRekeyCollisions stages the RFC 7296 2.8.1 / 2.25 cases with
// packets held on the link and delivered in a chosen order.
func TestChildRekeyCollisions(t *testing.T) {
	cases := []struct {
		rfc, name string
		run       func(t *testing.T, p *pair, q *queue)
	}{
		{"RFC 7296 2.8.1", "simultaneous rekey: requests cross, lowest nonce's SA deleted by its creator", func(t *testing.T, p *pair, q *queue) {
			q.pump(20)
			la, lb := p.a.log.String(), p.b.log.String()
			won := strings.Contains(la, "collision won") && strings.Contains(lb, "collision lost") ||
				strings.Contains(lb, "collision won") && strings.Contains(la, "collision lost")
			if !won {
				t.Error("want one side winning and the other losing the collision")
			}
		}},
		{"RFC 7296 2.8.1, 2.1", "simultaneous rekey with a retransmitted request during the collision", func(t *testing.T, p *pair, q *queue) {
			q.duplicate = true
			q.pump(20)
			if p.a.e.Status().Counters.Replayed+p.b.e.Status().Counters.Replayed == 0 {
				t.Error("no retransmission was answered from the cache")
			}
		}},
		{"RFC 7296 2.25, 2.8.1", "A finishes first: B's crossing request gets TEMPORARY_FAILURE", func(t *testing.T, p *pair, q *queue) {
			q.deliver(func(pk ike.Packet) bool { return pk.Local.Addr() == addrA }) // A's request to B
			q.deliver(func(pk ike.Packet) bool { return pk.Local.Addr() == addrB && isResponse(pk) })
			q.deliver(func(pk ike.Packet) bool { return pk.Local.Addr() == addrB }) // B's request to A
			q.pump(20)
			if !strings.Contains(p.b.log.String(), "TEMPORARY_FAILURE") {
				t.Error("B's rekey was not answered with TEMPORARY_FAILURE")
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Logf("checks %s", c.rfc)
			p := newPair(t, func(a, b *ike.Config) {
				rekeyConn(&a.Connections[0], true)
				rekeyConn(&b.Connections[0], true)
			})
			if err := p.initiate(t); err != nil {
				t.Fatal(err)
			}
			oldIn := spisOf(p.a, xfrm.In)
			q := holdPackets(p.link)
			p.clk.Advance(51*time.Minute + time.Second) // both rekey timers fire
			if q.len() != 2 {
				t.Fatalf("%d requests queued, want both rekeys", q.len())
			}
			c.run(t, p, q)
			p.clk.Advance(time.Minute) // retries after TEMPORARY_FAILURE, if any
			q.pump(20)
			checkRekeyed(t, p, oldIn)
		})
	}
}

// isResponse tells an IKE response by the Response flag (RFC 7296 3.1).
func isResponse(pk ike.Packet) bool { return len(pk.Data) > 19 && pk.Data[19]&0x20 != 0 }

func ikeRekeyConn(c *ike.Connection, rekey bool) {
	c.Rekey = rekey
	c.Reauth = false
	c.IKELifetime = time.Hour
	c.Lifetime = 3 * time.Hour
	c.MarginTime = 9 * time.Minute
	c.RekeyFuzz = 0
}

// TestIKERekey: the IKE SA is replaced by CREATE_CHILD_SA (RFC 7296 1.3.2,
// 2.18), its CHILD_SA moves over untouched in the kernel, and the new IKE
// SA goes on rekeying both itself and the CHILD_SA.
func TestIKERekey(t *testing.T) {
	p := newPair(t, func(a, b *ike.Config) {
		ikeRekeyConn(&a.Connections[0], true)
		ikeRekeyConn(&b.Connections[0], false)
	})
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	old := established(t, p.a)
	states := p.a.kernel.Render()
	gaps := watchGap(p, func(ike.Packet) int { return 1 })
	p.clk.Advance(51*time.Minute + time.Second)
	na, nb := established(t, p.a), established(t, p.b)
	if na.SPIi == old.SPIi || na.SPIi != nb.SPIi || na.SPIr != nb.SPIr {
		t.Fatalf("IKE SAs after rekey: old %016x, a %016x_%016x, b %016x_%016x", old.SPIi, na.SPIi, na.SPIr, nb.SPIi, nb.SPIr)
	}
	if len(na.Children) != 1 || len(nb.Children) != 1 {
		t.Fatal("CHILD_SA not carried over")
	}
	if !slices.Equal(states, p.a.kernel.Render()) {
		t.Error("kernel states changed by an IKE rekey")
	}
	for _, s := range []*side{p.a, p.b} {
		if countEvents(s, ike.EventIKERekeyed) != 1 || countEvents(s, ike.EventIKEDown) != 0 || countEvents(s, ike.EventChildDown) != 0 {
			t.Errorf("events %v", s.eventTypes())
		}
	}
	if !na.Initiator || nb.Initiator {
		t.Error("the rekey initiator must be the new SA's original initiator (RFC 7296 3.1)")
	}
	// The CHILD_SA is rekeyed over the new IKE SA.
	oldIn := spisOf(p.a, xfrm.In)
	p.clk.Advance(2 * time.Hour)
	checkRekeyed(t, p, oldIn)
	if *gaps != 0 {
		t.Errorf("%d packets sent while a direction had no working SA", *gaps)
	}
	if countEvents(p.a, ike.EventIKERekeyed) < 3 {
		t.Errorf("IKE SA not rekeyed again: %v", p.a.eventTypes())
	}
	if err := p.a.e.Terminate(t.Context(), "ab"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*side{p.a, p.b} {
		if n := len(s.e.Status().IKESAs); n != 0 || len(s.kernel.States()) != 0 {
			t.Errorf("left after terminate: %d IKE SAs, %v", n, s.kernel.Render())
		}
	}
}

// TestIKERekeyCollisions stages simultaneous IKE rekeys (RFC 7296 2.8.2)
// and an IKE rekey crossing the peer's Delete (RFC 7296 2.25).
func TestIKERekeyCollisions(t *testing.T) {
	t.Run("simultaneous rekey", func(t *testing.T) {
		t.Log("checks RFC 7296 2.8.2")
		for run := range 6 { // random nonces: either side wins
			p := newPair(t, func(a, b *ike.Config) {
				ikeRekeyConn(&a.Connections[0], true)
				ikeRekeyConn(&b.Connections[0], true)
			})
			if err := p.initiate(t); err != nil {
				t.Fatal(err)
			}
			states := p.a.kernel.Render()
			q := holdPackets(p.link)
			p.clk.Advance(51*time.Minute + time.Second)
			if q.len() != 2 {
				t.Fatalf("%d requests queued, want both rekeys", q.len())
			}
			q.duplicate = run%2 == 1 // with retransmissions crossing too
			q.pump(30)
			na, nb := established(t, p.a), established(t, p.b)
			if na.SPIi != nb.SPIi || na.SPIr != nb.SPIr || len(na.Children) != 1 || len(nb.Children) != 1 {
				t.Fatalf("run %d: a %+v\nb %+v", run, na, nb)
			}
			if !slices.Equal(states, p.a.kernel.Render()) {
				t.Error("kernel states changed")
			}
			la, lb := p.a.log.String(), p.b.log.String()
			if !(strings.Contains(la, "IKE_SA rekey collision won") && strings.Contains(lb, "IKE_SA rekey collision lost") ||
				strings.Contains(lb, "IKE_SA rekey collision won") && strings.Contains(la, "IKE_SA rekey collision lost")) {
				t.Error("want one side winning and the other losing")
			}
			checkCrossMatch(t, p.a.kernel, p.b.kernel)
		}
	})
	t.Run("CHILD_SA rekey crossing an IKE_SA rekey", func(t *testing.T) {
		t.Log("checks RFC 7296 2.25 (TEMPORARY_FAILURE both ways, then both rekeys done)")
		p := newPair(t, func(a, b *ike.Config) {
			ikeRekeyConn(&a.Connections[0], true)
			ikeRekeyConn(&b.Connections[0], true)
			b.Connections[0].IKELifetime = 3 * time.Hour // B rekeys only its CHILD_SA
			b.Connections[0].Lifetime = time.Hour
		})
		if err := p.initiate(t); err != nil {
			t.Fatal(err)
		}
		old := established(t, p.a)
		oldIn := spisOf(p.a, xfrm.In)
		q := holdPackets(p.link)
		p.clk.Advance(51*time.Minute + time.Second)
		if q.len() != 2 {
			t.Fatalf("%d requests queued, want A's IKE rekey and B's CHILD rekey", q.len())
		}
		q.pump(10)
		if !strings.Contains(p.a.log.String(), "TEMPORARY_FAILURE") && !strings.Contains(p.b.log.String(), "TEMPORARY_FAILURE") {
			t.Error("no TEMPORARY_FAILURE for the crossing exchanges")
		}
		for range 12 { // the retries, 2-10 s later
			p.clk.Advance(5 * time.Second)
			q.pump(10)
		}
		if na := established(t, p.a); na.SPIi == old.SPIi {
			t.Error("IKE SA not rekeyed after the retry")
		}
		checkRekeyed(t, p, oldIn)
	})
	t.Run("rekey against delete", func(t *testing.T) {
		t.Log("checks RFC 7296 2.25")
		p := newPair(t, func(a, b *ike.Config) {
			ikeRekeyConn(&a.Connections[0], true)
			ikeRekeyConn(&b.Connections[0], false)
		})
		if err := p.initiate(t); err != nil {
			t.Fatal(err)
		}
		q := holdPackets(p.link)
		p.clk.Advance(51*time.Minute + time.Second)
		done := make(chan error, 1)
		go func() { done <- p.b.e.Terminate(t.Context(), "ab") }()
		waitFor(t, "B's Delete", func() bool { return q.len() == 2 })
		q.pump(10)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		for _, s := range []*side{p.a, p.b} {
			if n := len(s.e.Status().IKESAs); n != 0 || len(s.kernel.States()) != 0 {
				t.Errorf("left: %d IKE SAs, %v", n, s.kernel.Render())
			}
		}
	})
}
