package ike_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/xfrm/xfrmtest"
)

// logSince returns the kernel operations logged after mark.
func logSince(k *xfrmtest.Fake, mark int) []string {
	return append([]string(nil), k.Log[mark:]...)
}

func countPrefix(ops []string, prefix string) int {
	n := 0
	for _, op := range ops {
		if strings.HasPrefix(op, prefix) {
			n++
		}
	}
	return n
}

// A routed connection's CHILD_SA going away leaves its policies in place
// as the trap: the kernel never lacks a policy for the traffic (before,
// the daemon deleted them with the CHILD_SA and installed the trap again
// later, from another goroutine, which could also land after shutdown's
// flush).
func TestRouteHandOverHasNoGap(t *testing.T) {
	p := newPair(t, nil)
	ctx := context.Background()
	if err := p.a.e.Route(ctx, "ab"); err != nil {
		t.Fatal(err)
	}
	if !p.a.e.Routed("ab") || len(p.a.kernel.Policies()) != 2 || len(p.a.kernel.States()) != 0 {
		t.Fatalf("after Route: routed %v, %d policies, %d states", p.a.e.Routed("ab"), len(p.a.kernel.Policies()), len(p.a.kernel.States()))
	}
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	if n := len(p.a.kernel.States()); n != 2 {
		t.Fatalf("%d states after initiate, want 2", n)
	}
	mark := len(p.a.kernel.Log)
	if err := p.a.e.Terminate(ctx, "ab"); err != nil {
		t.Fatal(err)
	}
	ops := logSince(p.a.kernel, mark)
	if n := countPrefix(ops, "del policy"); n != 0 {
		t.Errorf("terminating a routed conn's SA deleted %d policies: %q", n, ops)
	}
	if len(p.a.kernel.States()) != 0 || len(p.a.kernel.Policies()) != 2 {
		t.Errorf("after terminate: %d states, %d policies; want 0 and the 2 trap policies\n%s",
			len(p.a.kernel.States()), len(p.a.kernel.Policies()), strings.Join(p.a.kernel.Render(), "\n"))
	}
	// The responder never routed: its policies went with its CHILD_SA.
	if n := len(p.b.kernel.Policies()); n != 0 {
		t.Errorf("responder kept %d policies", n)
	}
	p.a.e.Close()
	if n := len(p.a.kernel.Policies()); n != 0 {
		t.Errorf("Close left %d trap policies", n)
	}
	if err := p.a.e.Route(ctx, "ab"); !errors.Is(err, ike.ErrClosed) {
		t.Errorf("Route after Close: %v, want ErrClosed", err)
	}
}

// Unroute keeps an installed CHILD_SA's policies (strongSwan's `ipsec
// unroute` does not cut an established conn); they go with the CHILD_SA.
func TestUnrouteKeepsInstalledChild(t *testing.T) {
	p := newPair(t, nil)
	ctx := context.Background()
	if err := p.a.e.Route(ctx, "ab"); err != nil {
		t.Fatal(err)
	}
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	if err := p.a.e.Unroute(ctx, "ab"); err != nil {
		t.Fatal(err)
	}
	if len(p.a.kernel.Policies()) != 2 || len(p.a.kernel.States()) != 2 {
		t.Fatalf("unroute with an installed CHILD_SA: %d policies, %d states, want 2 and 2", len(p.a.kernel.Policies()), len(p.a.kernel.States()))
	}
	if err := p.a.e.Unroute(ctx, "ab"); !errors.Is(err, ike.ErrNoConnection) {
		t.Errorf("second Unroute: %v, want ErrNoConnection", err)
	}
	if err := p.a.e.Terminate(ctx, "ab"); err != nil {
		t.Fatal(err)
	}
	if n := len(p.a.kernel.Policies()); n != 0 {
		t.Errorf("%d policies left after the unrouted conn's SA went", n)
	}
	// Without a CHILD_SA, Unroute removes the trap itself.
	if err := p.a.e.Route(ctx, "ab"); err != nil {
		t.Fatal(err)
	}
	if err := p.a.e.Unroute(ctx, "ab"); err != nil {
		t.Fatal(err)
	}
	if n := len(p.a.kernel.Policies()); n != 0 {
		t.Errorf("%d policies left after Unroute", n)
	}
	if err := p.a.e.Route(ctx, "nope"); !errors.Is(err, ike.ErrNoConnection) {
		t.Errorf("Route of an unknown conn: %v, want ErrNoConnection", err)
	}
}

// A configuration without the routed conn takes its trap away; one that
// changes its addresses moves the trap.
func TestSetConfigFollowsRoutes(t *testing.T) {
	p := newPair(t, nil)
	ctx := context.Background()
	if err := p.a.e.Route(ctx, "ab"); err != nil {
		t.Fatal(err)
	}
	moved := p.a.cfg.Clone()
	moved.Connections[0].Remote.Addr = addrA.Next().Next().Next()
	if err := p.a.e.SetConfig(moved); err != nil {
		t.Fatal(err)
	}
	pols := p.a.kernel.Policies()
	if len(pols) != 2 {
		t.Fatalf("%d policies after the conn moved, want 2", len(pols))
	}
	for _, pol := range pols {
		if pol.Selector.Dst != moved.Connections[0].Remote.Addr && pol.Selector.Src != moved.Connections[0].Remote.Addr {
			t.Errorf("policy %v still on the old peer", &pol)
		}
	}
	empty := p.a.cfg.Clone()
	empty.Connections = nil
	if err := p.a.e.SetConfig(empty); err != nil {
		t.Fatal(err)
	}
	if n := len(p.a.kernel.Policies()); n != 0 || p.a.e.Routed("ab") {
		t.Errorf("conn removed: %d policies, routed %v", n, p.a.e.Routed("ab"))
	}
}

// Route, Unroute, Terminate and Close racing each other and rekeys leave
// no policy behind once the engine is closed (run with -race).
func TestRouteStress(t *testing.T) {
	for round := 0; round < 20; round++ {
		p := newPair(t, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var wg sync.WaitGroup
		for _, f := range []func(){
			func() { p.a.e.Route(ctx, "ab") },
			func() { p.initiate(t) },
			func() { p.a.e.Unroute(ctx, "ab") },
			func() { p.a.e.Route(ctx, "ab") },
			func() { p.a.e.Terminate(ctx, "ab") },
		} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f()
			}()
		}
		wg.Wait()
		p.a.e.Close()
		cancel()
		if n := len(p.a.kernel.Policies()); n != 0 {
			t.Fatalf("round %d: %d policies after Close:\n%s", round, n, strings.Join(p.a.kernel.Render(), "\n"))
		}
		if n := len(p.a.kernel.States()); n != 0 {
			t.Fatalf("round %d: %d states after Close", round, n)
		}
	}
}

// A draining engine (a daemon stopping) keeps its SAs working but takes
// on no new one: Initiate fails with ErrClosed, and an IKE_SA_INIT request
// goes unanswered, so that the peer retransmits it to whoever answers next
// rather than authenticating towards a process about to exit.
func TestDrain(t *testing.T) {
	p := newPair(t, nil)
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	p.b.e.Drain()
	if err := p.b.e.Initiate(t.Context(), "ab"); !errors.Is(err, ike.ErrClosed) {
		t.Errorf("Initiate while draining: %v, want ErrClosed", err)
	}
	// The existing SA still answers: a delete from a completes.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := p.a.e.Terminate(ctx, "ab"); err != nil {
		t.Fatal(err)
	}
	if n := len(p.b.kernel.States()); n != 0 {
		t.Fatalf("drained responder kept %d states after the delete", n)
	}
	before := p.b.e.Status().Counters
	ictx, icancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer icancel()
	if err := p.a.e.Initiate(ictx, "ab"); err == nil {
		t.Fatal("a draining engine answered a new IKE_SA")
	}
	if n := len(p.b.e.Status().IKESAs); n != 0 {
		t.Errorf("draining responder holds %d IKE SAs", n)
	}
	if after := p.b.e.Status().Counters; after.Unexpected <= before.Unexpected {
		t.Errorf("the dropped IKE_SA_INIT was not counted: %+v", after)
	}
}
