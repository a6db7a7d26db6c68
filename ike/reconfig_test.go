package ike_test

import (
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// TestSetConfigKeepsAndRemoves swaps the configuration of an established
// pair: an SA whose connection keeps its name survives (rebound to the new
// definition, kernel state untouched), an invalid configuration is refused,
// and the SA of a connection that is gone is deleted with its kernel state
// on both ends.
func TestSetConfigKeepsAndRemoves(t *testing.T) {
	p := newPair(t, nil)
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	same := *p.a.cfg
	same.Connections = append([]ike.Connection(nil), p.a.cfg.Connections...)
	if err := p.a.e.SetConfig(&same); err != nil {
		t.Fatal(err)
	}
	if n := len(p.a.e.Status().IKESAs); n != 1 || len(p.a.kernel.States()) != 2 {
		t.Fatalf("after SetConfig with the same conns: %d IKE SAs, %d states", n, len(p.a.kernel.States()))
	}
	bad := same
	bad.Connections = append(append([]ike.Connection(nil), same.Connections...), same.Connections[0])
	if err := p.a.e.SetConfig(&bad); err == nil {
		t.Fatal("duplicate connection names accepted")
	}
	empty := same
	empty.Connections = nil
	if err := p.a.e.SetConfig(&empty); err != nil {
		t.Fatal(err)
	}
	if n := len(p.a.e.Status().IKESAs); n != 0 {
		t.Fatalf("SA of a removed connection kept: %d", n)
	}
	if len(p.a.kernel.States()) != 0 || len(p.b.kernel.States()) != 0 {
		t.Fatalf("kernel states left: a %d, b %d", len(p.a.kernel.States()), len(p.b.kernel.States()))
	}
}

// TestPurgeIKE deletes IKE SAs without CHILD_SAs only.
func TestPurgeIKE(t *testing.T) {
	p := newPair(t, nil)
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	if n := p.a.e.PurgeIKE(t.Context()); n != 0 {
		t.Fatalf("purged %d SAs that have a CHILD_SA", n)
	}
	if len(p.a.e.Status().IKESAs) != 1 {
		t.Fatal("SA with a CHILD_SA purged")
	}
}

// TestPurgeIKEChildless purges the IKE SA whose CHILD_SA failed.
func TestPurgeIKEChildless(t *testing.T) {
	p := newPair(t, func(a, b *ike.Config) {
		b.Connections[0].ESP = []ike.Proposal{{Encr: []ike.Encr{{ID: message.EncrAESGCM16, KeyBits: 128}}}}
	})
	if err := p.initiate(t); err == nil {
		t.Fatal("CHILD_SA with disjoint ESP proposals came up")
	}
	if len(p.a.e.Status().IKESAs) != 1 {
		t.Fatal("IKE SA not kept after the CHILD_SA failed")
	}
	if n := p.a.e.PurgeIKE(t.Context()); n != 1 {
		t.Fatalf("purged %d, want 1", n)
	}
	if n := len(p.a.e.Status().IKESAs); n != 0 {
		t.Fatalf("%d IKE SAs after purge", n)
	}
}
