package ike_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/internal/clock"
	"github.com/cygnet-ipsec/cygnet/xfrm"
	"github.com/cygnet-ipsec/cygnet/xfrm/xfrmtest"
)

// queuedNet delivers packets as a UDP socket does: into a queue per
// destination that one reader goroutine drains, calling deliver for each.
// A deliver that blocks therefore stalls every later packet to that
// engine, which is what Dispatch must prevent.
type queuedNet struct {
	mu      sync.Mutex
	inboxes map[netip.Addr]chan ike.Packet
}

type queuedTransport struct{ n *queuedNet }

func (t queuedTransport) Send(p ike.Packet) error {
	t.n.mu.Lock()
	ch := t.n.inboxes[p.Remote.Addr()]
	t.n.mu.Unlock()
	if ch != nil {
		ch <- ike.Packet{Local: p.Remote, Remote: p.Local, Data: bytes.Clone(p.Data)}
	}
	return nil
}

// attach starts addr's reader, which hands every packet to deliver until
// the test ends.
func (n *queuedNet) attach(t *testing.T, addr netip.Addr, deliver func(ike.Packet)) {
	ch := make(chan ike.Packet, 1024)
	n.mu.Lock()
	n.inboxes[addr] = ch
	n.mu.Unlock()
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			select {
			case p := <-ch:
				deliver(p)
			case <-done:
				return
			}
		}
	}()
}

// stallingKernel blocks InstallChildSA for one peer until release is
// closed, as a netlink call does that waits on a busy kernel.
type stallingKernel struct {
	*xfrmtest.Fake
	peer    netip.Addr
	stalled chan struct{} // closed when a call for peer has blocked
	release chan struct{}
	once    sync.Once
	freed   sync.Once
}

func (k *stallingKernel) free() { k.freed.Do(func() { close(k.release) }) }

func (k *stallingKernel) InstallChildSA(ctx context.Context, c *xfrm.ChildSA) error {
	if c.Remote == k.peer {
		k.once.Do(func() { close(k.stalled) })
		<-k.release
	}
	return k.Fake.InstallChildSA(ctx, c)
}

// TestDispatchKernelStallIsolated: a responder whose kernel call for one
// peer hangs still completes another peer's handshake. With the socket
// reader calling HandlePacket directly (the daemon before Dispatch), the
// second IKE_SA_INIT waited behind the stalled IKE_AUTH and timed out.
func TestDispatchKernelStallIsolated(t *testing.T) {
	var (
		resp  = netip.MustParseAddr("10.0.0.2")
		slow  = netip.MustParseAddr("10.0.0.1")
		quick = netip.MustParseAddr("10.0.0.3")
	)
	clk := clock.New(clockStart())
	net := &queuedNet{inboxes: map[netip.Addr]chan ike.Packet{}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	shared := ike.Credentials{SharedKeys: []ike.SharedKey{{Secret: psk}}}
	mk := func(cfg *ike.Config, k xfrm.Installer) *ike.Engine {
		e, err := ike.New(ike.Options{Config: cfg, Transport: queuedTransport{net}, Kernel: k, Clock: clk, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	kernel := &stallingKernel{Fake: &xfrmtest.Fake{}, peer: slow,
		stalled: make(chan struct{}), release: make(chan struct{})}
	toSlow, toQuick := baseConn(resp, slow), baseConn(resp, quick)
	toSlow.Name, toQuick.Name = "slow", "quick"
	responder := mk(&ike.Config{Connections: []ike.Connection{toSlow, toQuick}, Credentials: shared}, kernel)
	// Release before Close: Close waits for the worker stuck in the kernel.
	t.Cleanup(func() { responder.Close() })
	t.Cleanup(kernel.free)
	net.attach(t, resp, responder.Dispatch)

	initiator := func(addr netip.Addr, name string) *ike.Engine {
		c := baseConn(addr, resp)
		c.Name = name
		e := mk(&ike.Config{Connections: []ike.Connection{c}, Credentials: shared}, &xfrmtest.Fake{})
		t.Cleanup(func() { e.Close() })
		net.attach(t, addr, e.Dispatch)
		return e
	}
	slowEng, quickEng := initiator(slow, "slow"), initiator(quick, "quick")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	slowDone := make(chan error, 1)
	go func() { slowDone <- slowEng.Initiate(ctx, "slow") }()
	select {
	case <-kernel.stalled:
	case err := <-slowDone:
		t.Fatalf("slow peer's handshake ended before the kernel stalled: %v", err)
	case <-ctx.Done():
		t.Fatal("the responder never reached the slow peer's kernel call")
	}
	// The responder's worker for the slow peer is now blocked with its SA
	// locked; the quick peer must not notice.
	if err := quickEng.Initiate(ctx, "quick"); err != nil {
		t.Fatalf("quick peer's handshake while another peer's kernel call hangs: %v", err)
	}
	select {
	case err := <-slowDone:
		t.Fatalf("slow peer's handshake ended while its kernel call hung: %v", err)
	default:
	}
	kernel.free()
	if err := <-slowDone; err != nil {
		t.Fatalf("slow peer after the kernel recovered: %v", err)
	}
	if got := len(kernel.States()); got != 4 {
		t.Errorf("responder kernel holds %d states, want 4 (two SAs each way)", got)
	}
}

// TestDispatchOrderAndClose: Dispatch keeps one SA's messages in order
// (a retransmitted IKE_SA_INIT is answered from the same half-open SA, not
// a second one), and after Close it drops instead of handling.
func TestDispatchOrderAndClose(t *testing.T) {
	p := newPair(t, nil)
	// Capture a's IKE_SA_INIT request, then replay it to b through
	// Dispatch several times in a row.
	p.link.setFilter(func(ike.Packet) int { return 0 })
	go p.a.e.Initiate(context.Background(), "ab")
	var req ike.Packet
	deadline := time.Now().Add(30 * time.Second)
	for {
		if s := p.link.sentFrom(addrA); len(s) > 0 {
			req = s[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no IKE_SA_INIT sent")
		}
		time.Sleep(time.Millisecond)
	}
	h, err := message.DecodeHeader(req.Data)
	if err != nil || h.Exchange != message.IKESAInit {
		t.Fatalf("first packet is not IKE_SA_INIT: %v %v", h, err)
	}
	in := ike.Packet{Local: req.Remote, Remote: req.Local, Data: req.Data}
	for range 5 {
		p.b.e.Dispatch(in)
	}
	deadline = time.Now().Add(30 * time.Second)
	for p.b.e.Status().Counters.Replayed < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("replays answered from cache: %d, want 4", p.b.e.Status().Counters.Replayed)
		}
		time.Sleep(time.Millisecond)
	}
	if n := len(p.b.e.Status().IKESAs); n != 1 {
		t.Errorf("responder holds %d IKE SAs after 5 copies of one request, want 1", n)
	}
	p.b.e.Close()
	before := p.b.e.Status().Counters
	p.b.e.Dispatch(in)
	after := p.b.e.Status().Counters
	if after.Overrun != before.Overrun+1 || after.Received != before.Received {
		t.Errorf("after Close: overrun %d→%d, received %d→%d; want the message dropped unhandled",
			before.Overrun, after.Overrun, before.Received, after.Received)
	}
}
