package ike_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// TestManualRekeyTerminate drives the operator's rekey and terminate by
// name and by unique id (swanctl --rekey, --terminate): a CHILD_SA rekey
// make-before-break, an IKE_SA rekey, a reauthentication, a CHILD_SA
// deleted with its IKE_SA left up, and one IKE_SA deleted by id; unknown
// names and ids match nothing.
func TestManualRekeyTerminate(t *testing.T) {
	p := newPair(t, nil)
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	if n := p.a.e.RekeyChild("nosuch", 0) + p.a.e.RekeyChild("", 999) + p.a.e.RekeyIKE("nosuch", 0, false) +
		p.a.e.RekeyIKE("", 999, false); n != 0 {
		t.Fatalf("unknown names and ids matched %d SAs", n)
	}
	oldIn := spisOf(p.a, xfrm.In)
	if n := p.a.e.RekeyChild("ab", 0); n != 1 {
		t.Fatalf("RekeyChild matched %d", n)
	}
	checkRekeyed(t, p, oldIn)

	sa := established(t, p.a)
	oldIn = spisOf(p.a, xfrm.In)
	if n := p.a.e.RekeyChild("", sa.Children[0].UniqueID); n != 1 {
		t.Fatalf("RekeyChild by id matched %d", n)
	}
	if slices.Equal(spisOf(p.a, xfrm.In), oldIn) {
		t.Fatal("RekeyChild by id: inbound SPI unchanged")
	}

	sa = established(t, p.a)
	if n := p.a.e.RekeyIKE("", sa.UniqueID, false); n != 1 {
		t.Fatalf("RekeyIKE by id matched %d", n)
	}
	now := established(t, p.a)
	if now.SPIi == sa.SPIi || len(now.Children) != 1 || countEvents(p.a, ike.EventIKERekeyed) == 0 {
		t.Fatalf("IKE_SA not rekeyed: %+v", now)
	}
	if n := p.a.e.RekeyIKE("ab", 0, true); n != 1 {
		t.Fatalf("RekeyIKE reauth matched %d", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := p.a.e.Status().IKESAs
		if len(st) == 1 && st[0].State == "ESTABLISHED" && st[0].UniqueID != now.UniqueID && len(st[0].Children) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reauthentication did not replace the IKE_SA: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n, err := p.a.e.TerminateChild(ctx, "ab", 0); err != nil || n != 1 {
		t.Fatalf("TerminateChild: %d, %v", n, err)
	}
	sa = established(t, p.a)
	if len(sa.Children) != 0 || len(p.a.kernel.States()) != 0 {
		t.Fatalf("after TerminateChild: %d CHILD_SAs, %d kernel states", len(sa.Children), len(p.a.kernel.States()))
	}
	if found, err := p.a.e.TerminateIKE(ctx, 999); found || err != nil {
		t.Fatalf("TerminateIKE of an unknown id: %v %v", found, err)
	}
	if found, err := p.a.e.TerminateIKE(ctx, sa.UniqueID); !found || err != nil {
		t.Fatalf("TerminateIKE: %v %v", found, err)
	}
	if st := p.a.e.Status().IKESAs; len(st) != 0 {
		t.Fatalf("after TerminateIKE: %+v", st)
	}
}
