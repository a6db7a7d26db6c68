package ike

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// frozenClock stands still: no timer ever fires, so that what an engine
// sends in the fuzz target below is only its answer to the input.
type frozenClock struct{ now time.Time }

func (c frozenClock) Now() time.Time { return c.now }

func (frozenClock) AfterFunc(time.Duration, func()) Timer { return frozenTimer{} }

type frozenTimer struct{}

func (frozenTimer) Stop() bool { return true }

// chachaReader is a deterministic random source.
type chachaReader struct{ c *rand.ChaCha8 }

func (r chachaReader) Read(b []byte) (int, error) { return r.c.Read(b) }

// establishedPair builds two established ends that are byte-for-byte the
// same every time: seeded randomness, a frozen clock, and MODP-2048, the
// group whose keys come from Options.Rand (crypto/ecdh ignores it since
// Go 1.26). So the packets recorded on one such pair authenticate on
// every other, and the fuzzer starts from messages the SA accepts.
func establishedPair(tb testing.TB) (a, b testEnd, link *tapLink) {
	tb.Helper()
	clk := frozenClock{time.Unix(1700000000, 0)}
	var seed byte
	return tapPair(tb, FragmentationYes, FragmentationYes, func(o *Options, c *Connection) {
		seed++
		o.Clock = clk
		o.Rand = chachaReader{rand.NewChaCha8([32]byte{seed})}
		c.IKE = []Proposal{{Encr: []Encr{{ID: message.EncrAESGCM16, KeyBits: 256}},
			PRF: []message.PRFID{message.PRFHMACSHA2256}, DH: []message.DHGroup{message.DHMODP2048}}}
		c.ESP = []Proposal{{Encr: []Encr{{ID: message.EncrAESGCM16, KeyBits: 256}}}}
	})
}

// fuzzSnapshot is the state of an end that an unauthenticated message must
// not change: its kernel and its established SAs.
func fuzzSnapshot(s testEnd) string {
	var b strings.Builder
	for _, l := range s.kernel.Render() {
		fmt.Fprintln(&b, l)
	}
	for _, sa := range s.e.Status().IKESAs {
		if sa.State == "CONNECTING" {
			continue // a new half-open SA from an IKE_SA_INIT request
		}
		fmt.Fprintf(&b, "%x %x %s", sa.SPIi, sa.SPIr, sa.State)
		for _, c := range sa.Children {
			fmt.Fprintf(&b, " %x/%x", c.SPIIn, c.SPIOut)
		}
		fmt.Fprintln(&b)
	}
	return b.String()
}

// FuzzHandlePacketEstablished feeds arbitrary datagrams to an end that
// holds an established IKE SA (RFC 7383 fragmentation negotiated), as if
// from its peer; toInitiator picks which end. FuzzHandlePacket only reaches
// engines without SAs. The seeds are real messages of that SA: the
// handshake, liveness checks both ways, fragments sealed with the SA's keys
// (a retransmission of IKE_AUTH's fragment 1 and a new request in two
// fragments) and the deletes. The target must never panic, and a datagram
// that is not one of the seeds cannot authenticate, so it must neither
// change the end's kernel or established SAs nor draw any answer but an
// IKE_SA_INIT response (RFC 7296 2.1, 2.21.1; RFC 7383 2.6.1: no replayed
// response for a forged fragment).
func FuzzHandlePacketEstablished(f *testing.F) {
	la, lb := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	// The pair must be reproducible, or the seeds authenticate nowhere.
	_, _, l1 := establishedPair(f)
	_, _, l2 := establishedPair(f)
	if p1, p2 := l1.since(0), l2.since(0); len(p1) != len(p2) || !slices.EqualFunc(p1, p2, func(x, y Packet) bool { return bytes.Equal(x.Data, y.Data) }) {
		f.Fatal("established pairs differ: the seeds would not authenticate")
	}

	a, b, link := establishedPair(f)
	var seeds []Packet
	add := func(from netip.Addr, data []byte) {
		seeds = append(seeds, Packet{Local: netip.AddrPortFrom(from, 500), Data: data})
	}
	// Fragments sealed now, against the state every fuzzed pair starts in.
	add(la, initiatorFragment(f, a, message.IKEAuth, 1, 1, 1, message.PayloadNone, nil))
	note := &message.Notify{NotifyType: message.NotifyType(40000), Data: bytes.Repeat([]byte{7}, 40)}
	chain, err := message.EncodePayloads([]message.Payload{note})
	if err != nil {
		f.Fatal(err)
	}
	add(la, initiatorFragment(f, a, message.Informational, 2, 1, 2, message.PayloadNotify, chain[:20]))
	add(la, initiatorFragment(f, a, message.Informational, 2, 2, 2, message.PayloadNone, chain[20:]))
	// Real exchanges: liveness checks both ways, a CHILD_SA delete and
	// the IKE SA's.
	for _, s := range []testEnd{a, b} {
		sa := s.e.snapshot()[0]
		sa.lock()
		sa.request(message.Informational, nil, func(*message.Message, message.Payloads) {}, func() {})
		sa.unlock()
	}
	sa := a.e.snapshot()[0]
	sa.lock()
	ch := sa.children[0]
	sa.request(message.Informational, []message.Payload{&message.Delete{Protocol: message.ProtoESP, SPIs: [][]byte{spiBytes32(ch.spiIn)}}},
		func(*message.Message, message.Payloads) {}, func() {})
	sa.unlock()
	if err := a.e.Terminate(f.Context(), "ab"); err != nil {
		f.Fatal(err)
	}
	for _, p := range link.since(0) {
		add(p.Local.Addr(), p.Data)
	}
	for _, p := range seeds {
		f.Add(p.Local.Addr() == lb, p.Data)
	}
	// The seeds do authenticate on a fresh pair: the retransmitted
	// fragment draws the cached IKE_AUTH response, the new request in
	// fragments its answer.
	_, fb, fl := establishedPair(f)
	mark := fl.len()
	for _, p := range seeds[:3] {
		fb.e.HandlePacket(Packet{Local: netip.AddrPortFrom(lb, 500), Remote: p.Local, Data: p.Data})
	}
	if c := fb.e.Status().Counters; c.Replayed != 1 || c.BadICV != 0 || len(fl.since(mark)) != 2 {
		f.Fatalf("seeds do not authenticate: counters %+v, %d answers", c, len(fl.since(mark)))
	}
	f.Add(false, []byte{})
	f.Add(true, make([]byte, 28))

	f.Fuzz(func(t *testing.T, toInitiator bool, data []byte) {
		a, b, link := establishedPair(t)
		dst, at, from := b, lb, la
		if toInitiator {
			dst, at, from = a, la, lb
		}
		seed := slices.ContainsFunc(seeds, func(p Packet) bool { return p.Local.Addr() == from && bytes.Equal(p.Data, data) })
		before := [2]string{fuzzSnapshot(a), fuzzSnapshot(b)}
		mark := link.len()
		pk := Packet{Local: netip.AddrPortFrom(at, 500), Remote: netip.AddrPortFrom(from, 500), Data: data}
		dst.e.HandlePacket(pk)
		dst.e.HandlePacket(pk) // a retransmission
		for _, s := range link.since(mark) {
			m, err := message.DecodeMessage(s.Data)
			if err != nil {
				t.Fatalf("sent an undecodable message: %v", err)
			}
			if seed {
				continue // an authentic message may be answered
			}
			if m.Header.Exchange != message.IKESAInit || !m.Header.IsResponse() || m.Header.IsInitiator() {
				t.Fatalf("%v answered an unauthenticated message with %v", s.Local, m)
			}
		}
		if after := [2]string{fuzzSnapshot(a), fuzzSnapshot(b)}; !seed && after != before {
			t.Fatalf("an unauthenticated message changed the state:\nbefore %q\nafter  %q", before, after)
		}
	})
}
