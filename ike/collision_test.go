package ike_test

import (
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
)

// TestDeleteCollisions stages crossing Delete exchanges (RFC 7296 1.4.1,
// 2.25) with the packets held on the link and delivered in rounds: both
// ends deleting the IKE SA at once, and a CHILD_SA rekey crossing the
// peer's Delete of that CHILD_SA.
func TestDeleteCollisions(t *testing.T) {
	t.Run("IKE_SA delete against delete", func(t *testing.T) {
		t.Log("checks RFC 7296 1.4.1, 2.25")
		for _, dup := range []bool{false, true} {
			p := newPair(t, nil)
			if err := p.initiate(t); err != nil {
				t.Fatal(err)
			}
			q := holdPackets(p.link)
			q.duplicate = dup
			done := make(chan error, 2)
			for _, s := range []*side{p.a, p.b} {
				go func() { done <- s.e.Terminate(t.Context(), "ab") }()
			}
			waitFor(t, "both Deletes", func() bool { return q.len() == 2 })
			q.pump(10)
			for range 2 {
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			for _, s := range []*side{p.a, p.b} {
				if n := len(s.e.Status().IKESAs); n != 0 || len(s.kernel.States()) != 0 || len(s.kernel.Policies()) != 0 {
					t.Errorf("left: %d IKE SAs, %v", n, s.kernel.Render())
				}
				if n := countEvents(s, ike.EventIKEDown); n != 1 {
					t.Errorf("%d EventIKEDown, want 1", n)
				}
			}
		}
	})
	t.Run("CHILD_SA rekey against the peer's CHILD_SA delete", func(t *testing.T) {
		t.Log("checks RFC 7296 2.25 (the rekey of an SA being deleted fails, the Delete wins)")
		p := newPair(t, func(a, b *ike.Config) {
			rekeyConn(&a.Connections[0], true) // rekeys at 51 min
			rekeyConn(&b.Connections[0], false)
			b.Connections[0].Lifetime = 51 * time.Minute // deletes at 51 min
			b.Connections[0].MarginTime = 9 * time.Minute
		})
		if err := p.initiate(t); err != nil {
			t.Fatal(err)
		}
		q := holdPackets(p.link)
		p.clk.Advance(51 * time.Minute)
		if q.len() != 2 {
			t.Fatalf("%d requests queued, want A's rekey and B's Delete", q.len())
		}
		q.pump(10)
		p.clk.Advance(time.Minute) // a retried rekey, if any, would go now
		q.pump(10)
		for _, s := range []*side{p.a, p.b} {
			sa := established(t, s)
			if len(sa.Children) != 0 || len(s.kernel.States()) != 0 || len(s.kernel.Policies()) != 0 || s.kernel.Larval() != 0 {
				t.Errorf("CHILD_SA state left after the Delete won: %d children, %v, larval %d", len(sa.Children), s.kernel.Render(), s.kernel.Larval())
			}
			if n := countEvents(s, ike.EventChildDown); n != 1 {
				t.Errorf("%d EventChildDown, want 1: %v", n, s.eventTypes())
			}
		}
	})
}

// TestInitiateJoinsConnecting: a second Initiate of a connection whose IKE
// SA is still being negotiated waits for that one (as charon hands `ipsec
// up` to the IKE_SA already connecting) instead of starting another.
func TestInitiateJoinsConnecting(t *testing.T) {
	p := newPair(t, nil)
	q := holdPackets(p.link)
	first := p.initiateAsync()
	waitFor(t, "the first IKE_SA_INIT", func() bool { return q.len() == 1 })
	second := p.initiateAsync()
	waitFor(t, "the second Initiate to join", func() bool {
		sas := p.a.e.Status().IKESAs
		return len(sas) == 1 && q.len() == 1
	})
	time.Sleep(50 * time.Millisecond) // a second negotiation would have sent its request by now
	if n := q.len(); n != 1 {
		t.Fatalf("%d requests queued, want the first IKE_SA_INIT only", n)
	}
	q.pump(10)
	for _, wait := range []func() error{first, second} {
		if err := wait(); err != nil {
			t.Fatal(err)
		}
	}
	checkOnePair(t, p.a, p.b)
}
