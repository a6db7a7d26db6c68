package ike

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/xfrm/xfrmtest"
)

// White-box tests of RFC 7383 fragments reaching an established SA: they
// seal fragments with the initiator's keys, which no API hands out.

// tapLink is memLink that also keeps what each address sends.
type tapLink struct {
	mu      sync.Mutex
	engines map[netip.Addr]*Engine
	packets []Packet // every packet sent, copied
}

func (l *tapLink) Send(p Packet) error {
	p.Data = bytes.Clone(p.Data)
	l.mu.Lock()
	l.packets = append(l.packets, p)
	e := l.engines[p.Remote.Addr()]
	l.mu.Unlock()
	if e != nil {
		e.HandlePacket(Packet{Local: p.Remote, Remote: p.Local, Data: bytes.Clone(p.Data)})
	}
	return nil
}

func (l *tapLink) sentFrom(a netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, p := range l.packets {
		if p.Local.Addr() == a {
			n++
		}
	}
	return n
}

// since returns the packets sent after the first mark.
func (l *tapLink) since(mark int) []Packet {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Packet(nil), l.packets[mark:]...)
}

func (l *tapLink) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.packets)
}

// fragPair is internalPair with the given fragmentation policies; a has
// initiated and both ends are established.
func fragPair(t *testing.T, fragA, fragB Fragmentation) (a, b testEnd, link *tapLink) {
	t.Helper()
	return tapPair(t, fragA, fragB, nil)
}

// tapPair builds fragPair's ends; opts, if set, completes each end's
// Options and connection (a first, then b).
func tapPair(tb testing.TB, fragA, fragB Fragmentation, opts func(*Options, *Connection)) (a, b testEnd, link *tapLink) {
	tb.Helper()
	la, lb := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	link = &tapLink{engines: map[netip.Addr]*Engine{}}
	conn := func(l, r netip.Addr, f Fragmentation) Connection {
		return Connection{
			Name: "ab", Mode: ModeTransport, Auto: AutoAdd, Fragmentation: f,
			Local: Endpoint{Addr: l, Auth: AuthPSK}, Remote: Endpoint{Addr: r, Auth: AuthPSK},
		}
	}
	mk := func(c Connection, addr netip.Addr) testEnd {
		k := &xfrmtest.Fake{}
		o := Options{Transport: link, Kernel: k, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if opts != nil {
			opts(&o, &c)
		}
		o.Config = &Config{Connections: []Connection{c}, Credentials: Credentials{SharedKeys: []SharedKey{{Secret: []byte("internal test key")}}}}
		e, err := New(o)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { e.Close() })
		link.mu.Lock()
		link.engines[addr] = e
		link.mu.Unlock()
		return testEnd{e, k}
	}
	a, b = mk(conn(la, lb, fragA), la), mk(conn(lb, la, fragB), lb)
	if err := a.e.Initiate(context.Background(), "ab"); err != nil {
		tb.Fatal(err)
	}
	return a, b, link
}

// fragmentCases are pairs of policies, with whether fragmentation is
// negotiated: both ends announce IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383
// 2.3) only when neither says no.
var fragmentCases = []struct {
	a, b       Fragmentation
	negotiated bool
}{
	{FragmentationYes, FragmentationYes, true},
	{FragmentationAccept, FragmentationYes, true},
	{FragmentationNo, FragmentationYes, false}, // b announced, a did not
	{FragmentationYes, FragmentationNo, false}, // a announced, b did not
}

// toResponder delivers a packet from a's address to b.
func toResponder(b testEnd, data []byte) {
	b.e.HandlePacket(Packet{Local: netip.MustParseAddrPort("10.0.0.2:500"), Remote: netip.MustParseAddrPort("10.0.0.1:500"), Data: data})
}

// initiatorFragment seals one SKF fragment of a request from a's only SA,
// with a's real keys and SPIs.
func initiatorFragment(t testing.TB, a testEnd, ex message.ExchangeType, id uint32, number, total uint16, first message.PayloadType, chunk []byte) []byte {
	t.Helper()
	sa := a.e.snapshot()[0]
	sa.lock()
	defer sa.unlock()
	m := &message.Message{Header: message.Header{SPIi: sa.spiI, SPIr: sa.spiR, Exchange: ex, Flags: message.FlagInitiator, MessageID: id}}
	pkt, err := m.EncodeFragment(first, number, total, chunk, sa.out)
	if err != nil {
		t.Fatal(err)
	}
	return pkt
}

// A forged SKF payload, fragment 1 with the message ID of the peer's last
// request (IKE_AUTH, 1), must not make the responder resend its cached
// response: it does not authenticate, and without negotiated
// fragmentation SKF is not even looked at (RFC 7383 2.5, 2.6.1; RFC 7296
// 2.1). Otherwise anyone who sees the SPIs can make the responder send
// its whole IKE_AUTH response, a reflection with amplification.
func TestForgedFragmentNotReplayed(t *testing.T) {
	for _, c := range fragmentCases {
		t.Run(c.a.String()+"-"+c.b.String(), func(t *testing.T) {
			t.Log("checks RFC 7383 2.6.1, RFC 7296 2.1")
			a, b, link := fragPair(t, c.a, c.b)
			sa := a.e.snapshot()[0]
			sa.lock()
			h := message.Header{SPIi: sa.spiI, SPIr: sa.spiR, Exchange: message.IKEAuth, Flags: message.FlagInitiator, MessageID: 1}
			sa.unlock()
			forged := &message.Message{Header: h, Payloads: []message.Payload{&message.EncryptedFragment{
				FirstInner: message.PayloadIDi, Number: 1, Total: 1, Data: bytes.Repeat([]byte{0x5a}, 64)}}}
			pkt, err := forged.Encode()
			if err != nil {
				t.Fatal(err)
			}
			before := b.e.Status().Counters
			sentBefore := link.sentFrom(netip.MustParseAddr("10.0.0.2"))
			toResponder(b, pkt)
			toResponder(b, pkt)
			if n := link.sentFrom(netip.MustParseAddr("10.0.0.2")) - sentBefore; n != 0 {
				t.Errorf("responder sent %d packets for a forged fragment", n)
			}
			after := b.e.Status().Counters
			if after.Replayed != before.Replayed {
				t.Errorf("replayed %d responses for a forged fragment", after.Replayed-before.Replayed)
			}
			if c.negotiated && after.BadICV-before.BadICV != 2 {
				t.Errorf("BadICV %d, want 2: the fragment's integrity is checked", after.BadICV-before.BadICV)
			}
		})
	}
}

// An authentic fragment 1 of the peer's last request is a retransmission
// and is answered from the cache, once per fragment 1 and never for the
// other fragments (RFC 7383 2.6.1), but only when fragmentation was
// negotiated: otherwise SKF is ignored (RFC 7383 2.5).
func TestAuthenticFragmentReplayed(t *testing.T) {
	for _, c := range fragmentCases {
		t.Run(c.a.String()+"-"+c.b.String(), func(t *testing.T) {
			t.Log("checks RFC 7383 2.5, 2.6.1")
			a, b, link := fragPair(t, c.a, c.b)
			addrB := netip.MustParseAddr("10.0.0.2")
			before := b.e.Status().Counters
			sentBefore := link.sentFrom(addrB)
			toResponder(b, initiatorFragment(t, a, message.IKEAuth, 1, 2, 2, message.PayloadNone, []byte{1, 2, 3}))
			if n := link.sentFrom(addrB) - sentBefore; n != 0 {
				t.Errorf("responder sent %d packets for fragment 2 of a retransmission", n)
			}
			toResponder(b, initiatorFragment(t, a, message.IKEAuth, 1, 1, 2, message.PayloadIDi, []byte{1, 2, 3}))
			replayed := b.e.Status().Counters.Replayed - before.Replayed
			sent := link.sentFrom(addrB) - sentBefore
			switch {
			case c.negotiated && (replayed != 1 || sent == 0):
				t.Errorf("replayed %d, sent %d; want the cached response once", replayed, sent)
			case !c.negotiated && (replayed != 0 || sent != 0):
				t.Errorf("replayed %d, sent %d without negotiated fragmentation; want nothing", replayed, sent)
			}
		})
	}
}

// A new request in authentic fragments is processed only when
// fragmentation was negotiated (RFC 7383 2.5): an end that did not
// announce support does not receive fragments.
func TestFragmentsIgnoredUnlessNegotiated(t *testing.T) {
	for _, c := range fragmentCases {
		t.Run(c.a.String()+"-"+c.b.String(), func(t *testing.T) {
			t.Log("checks RFC 7383 2.3, 2.5")
			a, b, link := fragPair(t, c.a, c.b)
			addrB := netip.MustParseAddr("10.0.0.2")
			sentBefore := link.sentFrom(addrB)
			// An empty INFORMATIONAL request (a liveness check) in one
			// fragment, with the next message ID.
			sa := a.e.snapshot()[0]
			sa.lock()
			id := sa.myNext
			sa.myNext++ // the ID is spent, as a request of a's would spend it
			sa.unlock()
			toResponder(b, initiatorFragment(t, a, message.Informational, id, 1, 1, message.PayloadNone, nil))
			sent := link.sentFrom(addrB) - sentBefore
			if c.negotiated && sent != 1 {
				t.Errorf("responder sent %d packets, want its answer", sent)
			}
			if !c.negotiated && sent != 0 {
				t.Errorf("responder sent %d packets for a fragment without negotiated fragmentation", sent)
			}
			if len(b.e.Status().IKESAs) != 1 {
				t.Error("responder lost its IKE SA")
			}
		})
	}
}
