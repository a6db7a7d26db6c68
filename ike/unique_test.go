package ike_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/internal/clock"
	"github.com/cygnet-ipsec/cygnet/xfrm"
	"github.com/cygnet-ipsec/cygnet/xfrm/xfrmtest"
)

// newNode builds an engine at addr on l, as newPair's sides are built.
func newNode(t testing.TB, l *link, clk *clock.Fake, cfg *ike.Config, addr netip.Addr, rnd ...io.Reader) *side {
	t.Helper()
	s := &side{kernel: &xfrmtest.Fake{}, cfg: cfg, log: &syncBuffer{}}
	var r io.Reader
	if len(rnd) > 0 {
		r = rnd[0]
	}
	e, err := ike.New(ike.Options{
		Config: cfg, Transport: linkTransport{l}, Kernel: s.kernel, Clock: clk, Rand: r,
		Logger: slog.New(slog.NewTextHandler(s.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnEvent: func(ev ike.Event) {
			s.mu.Lock()
			s.events = append(s.events, ev)
			s.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.e = e
	l.mu.Lock()
	l.engines[addr] = e
	l.mu.Unlock()
	t.Cleanup(func() { e.Close() })
	return s
}

// restart replaces the engine at addr with a fresh one (a kill -9 and
// restart: no SA, empty kernel), configured by cfg.
func (p *pair) restartA(t testing.TB, cfg *ike.Config) *side {
	t.Helper()
	return p.restart(t, p.a, cfg)
}

// restart replaces side s (p.a or p.b) with a fresh engine and kernel.
func (p *pair) restart(t testing.TB, s *side, cfg *ike.Config) *side {
	t.Helper()
	addr, peer := addrA, addrB
	if s == p.b {
		addr, peer = addrB, addrA
	}
	s.e.Close()
	var rnd []io.Reader
	if p.rand != nil {
		rnd = append(rnd, p.rand())
	}
	n := newNode(t, p.link, p.clk, cfg, addr, rnd...)
	// A real kernel draws SPIs at random; the fake counts from a fixed
	// start, so skip past every SPI an earlier incarnation may have used.
	p.restarts++
	for range 512 * p.restarts {
		if _, err := n.kernel.AllocSPI(t.Context(), peer, addr, 0); err != nil {
			t.Fatal(err)
		}
	}
	if s == p.a {
		p.a = n
	} else {
		p.b = n
	}
	return n
}

// queue makes the link hold every packet until pump delivers it, so that
// both ends' messages cross "at the same instant" round by round.
type queue struct {
	l       *link
	pending []ike.Packet
	// duplicate delivers every packet twice (a retransmission arriving
	// with its original).
	duplicate bool
}

func holdPackets(l *link) *queue {
	q := &queue{l: l}
	l.setFilter(func(p ike.Packet) int {
		q.pending = append(q.pending, p) // under l.mu, copied by Send
		return 0
	})
	return q
}

func (q *queue) len() int {
	q.l.mu.Lock()
	defer q.l.mu.Unlock()
	return len(q.pending)
}

// pump delivers the queued packets one round at a time until none are
// left (or maxRounds pass) and returns the number of rounds.
func (q *queue) pump(maxRounds int) int {
	rounds := 0
	for ; rounds < maxRounds; rounds++ {
		q.l.mu.Lock()
		batch := q.pending
		q.pending = nil
		q.l.mu.Unlock()
		if len(batch) == 0 {
			break
		}
		for _, p := range batch {
			q.send(p)
		}
	}
	return rounds
}

func (q *queue) send(p ike.Packet) {
	q.l.mu.Lock()
	dst := q.l.engines[p.Remote.Addr()]
	q.l.mu.Unlock()
	if dst == nil {
		return
	}
	n := 1
	if q.duplicate {
		n = 2
	}
	for range n {
		dst.HandlePacket(ike.Packet{Local: p.Remote, Remote: p.Local, Data: bytes.Clone(p.Data)})
	}
}

// deliver hands over the queued packets that match, in order, keeping the
// others queued.
func (q *queue) deliver(match func(ike.Packet) bool) {
	for _, p := range q.take(match) {
		q.send(p)
	}
}

// take removes the queued packets that match and returns them in order.
func (q *queue) take(match func(ike.Packet) bool) []ike.Packet {
	q.l.mu.Lock()
	defer q.l.mu.Unlock()
	var now, keep []ike.Packet
	for _, p := range q.pending {
		if match(p) {
			now = append(now, p)
		} else {
			keep = append(keep, p)
		}
	}
	q.pending = keep
	return now
}

// holdAsPassivePeer queues p's packets like holdPackets, and makes B play
// strongSwan: it answers Deletes but never sends any. A cygnet engine
// cannot be told to skip its tie-break, so B's own Delete requests are
// dropped instead, and counted in the returned int.
func holdAsPassivePeer(p *pair) (*queue, *int) {
	q := holdPackets(p.link)
	bDeletes := new(int)
	p.link.setFilter(func(pk ike.Packet) int {
		if pk.Local.Addr() == addrB && isInformationalRequest(pk) {
			*bDeletes++
			return 0
		}
		q.pending = append(q.pending, pk)
		return 0
	})
	return q, bDeletes
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func pskConfig(policy ike.UniqueIDPolicy, conns ...ike.Connection) *ike.Config {
	return &ike.Config{Connections: conns, UniqueIDs: policy,
		Credentials: ike.Credentials{SharedKeys: []ike.SharedKey{{Secret: psk}}}}
}

// TestUniqueIDs checks what a responder does with its old IKE SA when the
// same identity authenticates a new one, per uniqueids (strongSwan's
// meanings) and INITIAL_CONTACT.
func TestUniqueIDs(t *testing.T) {
	cases := []struct {
		rfc, name string
		policyB   ike.UniqueIDPolicy // the responder that keeps the old SA
		policyA   ike.UniqueIDPolicy // the restarted initiator (never: no INITIAL_CONTACT)
		wantErr   bool               // the new IKE_SA is refused
		wantB     int                // IKE SAs left on B
	}{
		{"RFC 7296 2.4", "restart, INITIAL_CONTACT, uniqueids=yes: old SA removed", ike.UniqueIDsYes, ike.UniqueIDsYes, false, 1},
		{"RFC 7296 2.4", "restart, INITIAL_CONTACT, uniqueids=no: old SA removed", ike.UniqueIDsNo, ike.UniqueIDsYes, false, 1},
		{"RFC 7296 2.4", "restart, INITIAL_CONTACT, uniqueids=replace: old SA removed", ike.UniqueIDsReplace, ike.UniqueIDsYes, false, 1},
		{"RFC 7296 2.4", "restart, INITIAL_CONTACT, uniqueids=never: both kept", ike.UniqueIDsNever, ike.UniqueIDsYes, false, 2},
		{"strongSwan uniqueids", "second SA without INITIAL_CONTACT, uniqueids=no: both kept", ike.UniqueIDsNo, ike.UniqueIDsNever, false, 2},
		{"strongSwan uniqueids", "second SA without INITIAL_CONTACT, uniqueids=replace: old one deleted", ike.UniqueIDsReplace, ike.UniqueIDsNever, false, 1},
		{"strongSwan uniqueids", "second SA without INITIAL_CONTACT, uniqueids=yes: old one deleted", ike.UniqueIDsYes, ike.UniqueIDsNever, false, 1},
		{"strongSwan uniqueids", "uniqueids=keep: the new SA is refused", ike.UniqueIDsKeep, ike.UniqueIDsYes, true, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Logf("checks %s", c.rfc)
			p := newPair(t, func(a, b *ike.Config) { b.UniqueIDs = c.policyB })
			if err := p.initiate(t); err != nil {
				t.Fatal(err)
			}
			old := established(t, p.b)
			a := p.restartA(t, pskConfig(c.policyA, baseConn(addrA, addrB)))
			err := a.e.Initiate(t.Context(), "ab")
			if c.wantErr != (err != nil) {
				t.Fatalf("Initiate after restart: %v, want error %v", err, c.wantErr)
			}
			if !c.wantErr && len(p.b.kernel.States()) == 3 {
				// B kept the old SA and sends on it (deferout.go) until
				// the restarted peer's ESP shows up on the new one.
				in := spisOf(p.b, xfrm.In)
				p.b.kernel.Carry(xfrm.StateID{Dst: addrB, SPI: in[len(in)-1]}, 1)
			} else if !c.wantErr && c.policyA == ike.UniqueIDsNever {
				t.Errorf("B installed the new outbound state before the restarted peer used the SA:\n%v", p.b.kernel.Render())
			}
			// A Delete to the restarted peer is never answered: let it
			// time out so that only live SAs remain.
			p.clk.Advance(10 * time.Minute)
			st := p.b.e.Status()
			if len(st.IKESAs) != c.wantB {
				t.Fatalf("B has %d IKE SAs, want %d: %+v", len(st.IKESAs), c.wantB, st.IKESAs)
			}
			if n := len(p.b.kernel.States()); n != 2*c.wantB {
				t.Fatalf("B has %d states, want %d:\n%v", n, 2*c.wantB, p.b.kernel.Render())
			}
			if len(p.b.kernel.Policies()) == 0 {
				t.Error("B lost its policies")
			}
			if c.wantB == 1 && !c.wantErr {
				if st.IKESAs[0].SPIi == old.SPIi {
					t.Error("B kept the old IKE SA")
				}
				checkCrossMatch(t, a.kernel, p.b.kernel)
			}
			if c.wantErr && st.IKESAs[0].SPIi != old.SPIi {
				t.Error("uniqueids=keep did not keep the old IKE SA")
			}
		})
	}
}

// checkOnePair asserts that x and y have exactly one IKE SA with each other,
// with one CHILD_SA whose states match.
func checkOnePair(t testing.TB, x, y *side) {
	t.Helper()
	for _, s := range []*side{x, y} {
		st := s.e.Status()
		if len(st.IKESAs) != 1 || st.IKESAs[0].State != "ESTABLISHED" || len(st.IKESAs[0].Children) != 1 {
			t.Fatalf("want one established IKE SA with one CHILD_SA, have %+v", st.IKESAs)
		}
	}
	sx, sy := x.e.Status().IKESAs[0], y.e.Status().IKESAs[0]
	if sx.SPIi != sy.SPIi || sx.SPIr != sy.SPIr {
		t.Fatalf("the ends kept different IKE SAs: %016x_%016x vs %016x_%016x", sx.SPIi, sx.SPIr, sy.SPIi, sy.SPIr)
	}
	checkCrossMatch(t, x.kernel, y.kernel)
}

// TestSimultaneousInitiationConverges: both ends initiate the same
// connection at the same instant (their messages cross in every round).
// No RFC defines the outcome; cygnet keeps exactly one IKE_SA and one
// CHILD_SA pair, for every uniqueids policy, and also when the peer applies
// no tie-break (simulated by a peer that never deletes: the cygnet end
// alone must converge).
func TestSimultaneousInitiationConverges(t *testing.T) {
	for _, policy := range []ike.UniqueIDPolicy{ike.UniqueIDsYes, ike.UniqueIDsNo, ike.UniqueIDsNever, ike.UniqueIDsReplace} {
		t.Run("uniqueids="+policy.String(), func(t *testing.T) {
			p := newPair(t, func(a, b *ike.Config) { a.UniqueIDs, b.UniqueIDs = policy, policy })
			q := holdPackets(p.link)
			errs := make(chan error, 2)
			for _, s := range []*side{p.a, p.b} {
				go func() { errs <- s.e.Initiate(t.Context(), "ab") }()
			}
			waitFor(t, "both IKE_SA_INIT requests", func() bool { return q.len() == 2 })
			rounds := q.pump(50)
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			checkOnePair(t, p.a, p.b)
			t.Logf("converged after %d message rounds", rounds)
		})
	}
}

// TestSimultaneousInitiationAgainstPassivePeer: the peer keeps duplicates
// (as strongSwan does) and drops nothing on its own; cygnet's Delete of the
// losing IKE SA is enough to converge, whichever SA loses.
func TestSimultaneousInitiationAgainstPassivePeer(t *testing.T) {
	// The nonces are random, so over the runs either SA loses.
	for run := range 8 {
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			p := newPair(t, nil)
			q, bDeletes := holdAsPassivePeer(p)
			errs := make(chan error, 2)
			for _, s := range []*side{p.a, p.b} {
				go func() { errs <- s.e.Initiate(t.Context(), "ab") }()
			}
			waitFor(t, "both IKE_SA_INIT requests", func() bool { return q.len() == 2 })
			settleOnePair(t, p, q, errs)
			if *bDeletes == 0 {
				t.Error("B never tried to delete a duplicate: the case was not exercised")
			}
		})
	}
}

// settleOnePair delivers what is queued, waits for both Initiate calls
// (errs), lets B's dropped Deletes be retransmitted until they give up (by
// then A's Delete has removed that SA on B anyway) and checks that one
// IKE SA with one CHILD_SA pair remains.
func settleOnePair(t *testing.T, p *pair, q *queue, errs <-chan error) {
	t.Helper()
	q.pump(50)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	p.clk.Advance(5 * time.Minute)
	q.pump(50)
	checkOnePair(t, p.a, p.b)
}

// isInformationalRequest recognises an INFORMATIONAL request by its IKE
// header (RFC 7296 3.1: exchange type 37 at octet 18, Response flag 0x20 in
// octet 19); after the handshake the only ones are tie-break Deletes.
func isInformationalRequest(pk ike.Packet) bool {
	if len(pk.Data) < 28 {
		return false
	}
	const informational = 37
	exchange, flags := pk.Data[18], pk.Data[19]
	return exchange == informational && flags&0x20 == 0
}

// TestFullMeshConverges: 20 nodes in one process, every node initiates
// every peer at the same instant; the mesh must end with exactly one
// IKE_SA and one CHILD_SA pair per node pair.
func TestFullMeshConverges(t *testing.T) {
	const n = 20
	l := newLink()
	clk := clock.New(clockStart())
	addrs := make([]netip.Addr, n)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, 1, 0, byte(i + 1)})
	}
	name := func(i int) string { return fmt.Sprintf("peer%02d", i) }
	nodes := make([]*side, n)
	for i := range nodes {
		cfg := pskConfig(ike.UniqueIDsYes)
		for j := range addrs {
			if j != i {
				c := baseConn(addrs[i], addrs[j])
				c.Name = name(j)
				cfg.Connections = append(cfg.Connections, c)
			}
		}
		nodes[i] = newNode(t, l, clk, cfg, addrs[i])
	}
	q := holdPackets(l)
	start := time.Now()
	errs := make(chan error, n*(n-1))
	for i := range nodes {
		for j := range nodes {
			if i != j {
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					errs <- nodes[i].e.Initiate(ctx, name(j))
				}()
			}
		}
	}
	waitFor(t, "every IKE_SA_INIT request", func() bool { return q.len() == n*(n-1) })
	rounds := q.pump(100)
	for range n * (n - 1) {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	for i := range nodes {
		st := nodes[i].e.Status()
		if len(st.IKESAs) != n-1 {
			t.Fatalf("node %d has %d IKE SAs, want %d", i, len(st.IKESAs), n-1)
		}
		if got := len(nodes[i].kernel.States()); got != 2*(n-1) {
			t.Fatalf("node %d has %d ESP states, want %d", i, got, 2*(n-1))
		}
		for _, sa := range st.IKESAs {
			if sa.State != "ESTABLISHED" || len(sa.Children) != 1 {
				t.Fatalf("node %d: %+v", i, sa)
			}
		}
	}
	// Every outbound state has its inbound twin on the peer, same keys.
	for i := range nodes {
		for _, o := range nodes[i].kernel.States() {
			if o.Dir != xfrm.Out {
				continue
			}
			j := int(o.Dst.As4()[3]) - 1
			in, ok := nodes[j].kernel.State(o.ID())
			if !ok || !bytes.Equal(in.EncKey, o.EncKey) || in.Dir != xfrm.In {
				t.Fatalf("node %d -> %d: outbound SPI %08x has no matching inbound state", i, j, o.SPI)
			}
		}
	}
	t.Logf("20-node mesh: %d IKE SAs negotiated, %d kept, converged in %d message rounds (0 s of fake time, no retransmission), %v wall time on this machine",
		2*n*(n-1)/2, n*(n-1)/2, rounds, elapsed)
}

// TestSimultaneousInitiationQueuedRequest: the peer's IKE_SA_INIT request
// arrives while our own SA to it is still in IKE_AUTH, but a busy worker
// (Dispatch) only gets to it after ours is established. The SA it creates
// must still count as overlapping ours, or, against a peer that never
// deletes duplicates (strongSwan with uniqueids=no), both SAs stay.
func TestSimultaneousInitiationQueuedRequest(t *testing.T) {
	for run := range 8 {
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			p := newPair(t, func(a, b *ike.Config) {
				a.UniqueIDs = ike.UniqueIDsNo
				b.UniqueIDs = ike.UniqueIDsNo
			})
			q, _ := holdAsPassivePeer(p)
			errs := make(chan error, 2)
			go func() { errs <- p.a.e.Initiate(t.Context(), "ab") }()
			waitFor(t, "A's IKE_SA_INIT request", func() bool { return q.len() == 1 })
			q.pump(1) // to B; B's response is queued
			q.pump(1) // to A; A's IKE_AUTH request is queued
			waitFor(t, "A's IKE_AUTH request", func() bool { return q.len() == 1 })
			go func() { errs <- p.b.e.Initiate(t.Context(), "ab") }()
			waitFor(t, "B's IKE_SA_INIT request", func() bool { return q.len() == 2 })
			// B's request reaches A now, but waits in A's queue.
			taken := q.take(func(pk ike.Packet) bool { return pk.Local.Addr() == addrB })
			if len(taken) != 1 {
				t.Fatalf("%d packets from B queued, want its IKE_SA_INIT request", len(taken))
			}
			held := taken[0]
			held = ike.StampArrival(p.a.e, ike.Packet{Local: held.Remote, Remote: held.Local, Data: bytes.Clone(held.Data)})
			// Meanwhile A's own SA completes.
			q.deliver(func(pk ike.Packet) bool { return pk.Remote.Addr() == addrB })
			q.deliver(func(pk ike.Packet) bool { return pk.Remote.Addr() == addrA })
			if n := len(p.a.e.Status().IKESAs); n != 1 {
				t.Fatalf("A has %d IKE SAs before the held request, want 1", n)
			}
			p.a.e.HandlePacket(held)
			settleOnePair(t, p, q, errs)
		})
	}
}
