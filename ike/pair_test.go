package ike_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/internal/clock"
	"github.com/cygnet-ipsec/cygnet/xfrm"
	"github.com/cygnet-ipsec/cygnet/xfrm/xfrmtest"
)

var (
	addrA = netip.MustParseAddr("10.0.0.1")
	addrB = netip.MustParseAddr("10.0.0.2")
)

// link is an in-memory network between engines. Delivery is synchronous:
// Send hands the packet to the destination engine before returning (the
// engine sends only with its SA unlocked, which makes this safe). Filter
// may drop or duplicate packets.
type link struct {
	mu      sync.Mutex
	engines map[netip.Addr]*ike.Engine
	// filter decides how many times (0, 1, 2) a packet is delivered.
	filter func(p ike.Packet) int
	sent   []ike.Packet // every packet sent, copied
	// keepalives counts NAT-T keepalives per sender (RFC 3948 2.3).
	keepalives map[netip.Addr]int
}

func newLink() *link { return &link{engines: map[netip.Addr]*ike.Engine{}} }

type linkTransport struct{ l *link }

func (t linkTransport) Send(p ike.Packet) error {
	p.Data = bytes.Clone(p.Data)
	t.l.mu.Lock()
	t.l.sent = append(t.l.sent, p)
	dst := t.l.engines[p.Remote.Addr()]
	n := 1
	if t.l.filter != nil {
		n = t.l.filter(p) // under the lock: filters keep state
	}
	t.l.mu.Unlock()
	for i := 0; i < n && dst != nil; i++ {
		dst.HandlePacket(ike.Packet{Local: p.Remote, Remote: p.Local, Data: bytes.Clone(p.Data)})
	}
	return nil
}

// SendKeepalive records a NAT-T keepalive; linkTransport thereby offers
// ike.KeepaliveSender as ike/udp's Conn does.
func (t linkTransport) SendKeepalive(local, remote netip.AddrPort) error {
	t.l.mu.Lock()
	defer t.l.mu.Unlock()
	if t.l.keepalives == nil {
		t.l.keepalives = map[netip.Addr]int{}
	}
	t.l.keepalives[local.Addr()]++
	return nil
}

func (l *link) keepalivesFrom(a netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.keepalives[a]
}

func (l *link) setFilter(f func(p ike.Packet) int) {
	l.mu.Lock()
	l.filter = f
	l.mu.Unlock()
}

// sentFrom returns the packets sent from addr so far.
func (l *link) sentFrom(a netip.Addr) []ike.Packet {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []ike.Packet
	for _, p := range l.sent {
		if p.Local.Addr() == a {
			out = append(out, p)
		}
	}
	return out
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// side is one engine of a test pair.
type side struct {
	e      *ike.Engine
	kernel *xfrmtest.Fake
	cfg    *ike.Config
	log    *syncBuffer
	mu     sync.Mutex
	events []ike.Event
}

func (s *side) eventTypes() []ike.EventType {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ike.EventType
	for _, e := range s.events {
		out = append(out, e.Type)
	}
	return out
}

type pair struct {
	a, b     *side
	clk      *clock.Fake
	link     *link
	restarts int // engines restarted, see restart
	// rand, when set, gives restarted engines their random source.
	rand func() io.Reader
}

// psk is the test's pre-shared key.
var psk = []byte("a long and secret pre-shared key")

// baseConn is a PSK transport connection from local to remote.
func baseConn(local, remote netip.Addr) ike.Connection {
	return ike.Connection{
		Name: "ab", Mode: ike.ModeTransport, Auto: ike.AutoAdd,
		Local:  ike.Endpoint{Addr: local, Auth: ike.AuthPSK},
		Remote: ike.Endpoint{Addr: remote, Auth: ike.AuthPSK},
		IKE: []ike.Proposal{{Encr: []ike.Encr{{ID: message.EncrAESGCM16, KeyBits: 256}},
			PRF: []message.PRFID{message.PRFHMACSHA2256}, DH: []message.DHGroup{message.DHCurve25519}}},
		ESP: []ike.Proposal{{Encr: []ike.Encr{{ID: message.EncrAESGCM16, KeyBits: 256}}}},
	}
}

// newPair builds two engines on one link; mutate may change each
// configuration (a is the initiator's) before the engines start.
func newPair(t testing.TB, mutate func(a, b *ike.Config)) *pair {
	t.Helper()
	return newPairAt(t, addrA, addrB, mutate)
}

// newPairAt is newPair with other addresses.
func newPairAt(t testing.TB, addrA, addrB netip.Addr, mutate func(a, b *ike.Config)) *pair {
	t.Helper()
	p := &pair{clk: clock.New(clockStart()), link: newLink()}
	ca := &ike.Config{Connections: []ike.Connection{baseConn(addrA, addrB)},
		Credentials: ike.Credentials{SharedKeys: []ike.SharedKey{{Secret: psk}}}}
	cb := &ike.Config{Connections: []ike.Connection{baseConn(addrB, addrA)},
		Credentials: ike.Credentials{SharedKeys: []ike.SharedKey{{Secret: psk}}}}
	if mutate != nil {
		mutate(ca, cb)
	}
	mk := func(cfg *ike.Config, addr netip.Addr) *side {
		s := &side{kernel: &xfrmtest.Fake{}, cfg: cfg, log: &syncBuffer{}}
		e, err := ike.New(ike.Options{
			Config: cfg, Transport: linkTransport{p.link}, Kernel: s.kernel, Clock: p.clk,
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
		p.link.engines[addr] = e
		t.Cleanup(func() { e.Close() })
		return s
	}
	p.a, p.b = mk(ca, addrA), mk(cb, addrB)
	return p
}

// initiate runs Initiate on a; with a synchronous link the handshake
// completes inside the call unless packets are dropped.
func (p *pair) initiate(t testing.TB) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return p.a.e.Initiate(ctx, "ab")
}

// initiateAsync runs Initiate in the background while the test advances
// the fake clock; the returned function waits for the result.
func (p *pair) initiateAsync() func() error {
	ch := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		ch <- p.a.e.Initiate(ctx, "ab")
	}()
	return func() error { return <-ch }
}

// waitPending waits until the clock has a pending timer (the engine armed
// its retransmission), so that Advance is meaningful.
func (p *pair) waitPending(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for p.clk.Pending() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no timer armed")
		}
		time.Sleep(time.Millisecond)
	}
}

// checkCrossMatch asserts that each side's outbound state is the other's
// inbound state: same SPI, addresses and keys.
func checkCrossMatch(t testing.TB, a, b *xfrmtest.Fake) {
	t.Helper()
	sa, sb := a.States(), b.States()
	if len(sa) != 2 || len(sb) != 2 {
		t.Fatalf("states: a %d, b %d, want 2 each\n%s\n%s", len(sa), len(sb), strings.Join(a.Render(), "\n"), strings.Join(b.Render(), "\n"))
	}
	find := func(ss []xfrm.State, dir xfrm.Direction) xfrm.State {
		for _, s := range ss {
			if s.Dir == dir {
				return s
			}
		}
		t.Fatalf("no %v state", dir)
		return xfrm.State{}
	}
	for _, c := range []struct {
		name    string
		out, in xfrm.State
	}{{"a->b", find(sa, xfrm.Out), find(sb, xfrm.In)}, {"b->a", find(sb, xfrm.Out), find(sa, xfrm.In)}} {
		o, i := c.out, c.in
		if o.SPI != i.SPI || o.Src != i.Src || o.Dst != i.Dst || o.Encryption != i.Encryption || o.Integrity != i.Integrity ||
			!bytes.Equal(o.EncKey, i.EncKey) || !bytes.Equal(o.IntegKey, i.IntegKey) || o.ESN != i.ESN || o.ReqID != i.ReqID {
			t.Errorf("%s: out %v does not match in %v (keys equal: %v/%v)", c.name, &o, &i, bytes.Equal(o.EncKey, i.EncKey), bytes.Equal(o.IntegKey, i.IntegKey))
		}
		if len(o.EncKey) != o.Encryption.KeyLen() || len(o.IntegKey) != o.Integrity.KeyLen() {
			t.Errorf("%s: key lengths %d/%d", c.name, len(o.EncKey), len(o.IntegKey))
		}
		if bytes.Equal(o.EncKey, make([]byte, len(o.EncKey))) {
			t.Errorf("%s: zero key", c.name)
		}
		if !xfrm.Owned(o.ReqID) {
			t.Errorf("%s: reqid %#x outside the ownership range", c.name, o.ReqID)
		}
	}
	if ka, kb := find(sa, xfrm.Out).EncKey, find(sa, xfrm.In).EncKey; bytes.Equal(ka, kb) {
		t.Error("both directions use the same key")
	}
}

// established returns the single IKE SA of s, failing unless it is up.
func established(t testing.TB, s *side) ike.IKESAStatus {
	t.Helper()
	st := s.e.Status()
	if len(st.IKESAs) != 1 {
		t.Fatalf("%d IKE SAs, want 1: %+v", len(st.IKESAs), st.IKESAs)
	}
	sa := st.IKESAs[0]
	if sa.State != "ESTABLISHED" {
		t.Fatalf("state %s, want ESTABLISHED", sa.State)
	}
	return sa
}

// clockStart is where test clocks begin: the current minute, so that test
// certificates (valid from an hour ago) are current.
func clockStart() time.Time { return time.Now().UTC().Truncate(time.Minute) }
