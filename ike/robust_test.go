package ike_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// kind classifies a packet for filters.
func kind(p ike.Packet) (message.ExchangeType, bool, uint32) {
	h, err := message.DecodeHeader(p.Data)
	if err != nil {
		return 0, false, 0
	}
	return h.Exchange, h.IsResponse(), h.MessageID
}

// waitSent waits until addr has sent n packets of the exchange (requests
// or responses): the engine arms its timer before it sends, so the
// retransmission timer of that request is pending afterwards.
func (p *pair) waitSent(t testing.TB, from netip.Addr, ex message.ExchangeType, response bool, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := 0
		for _, pk := range p.link.sentFrom(from) {
			if e, r, _ := kind(pk); e == ex && r == response {
				c++
			}
		}
		if c >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v sent %d %v (response %v), want %d", from, c, ex, response, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDeleteFromEachSide(t *testing.T) {
	for _, from := range []string{"initiator", "responder"} {
		t.Run(from, func(t *testing.T) {
			p := newPair(t, nil)
			if err := p.initiate(t); err != nil {
				t.Fatal(err)
			}
			s := p.a
			if from == "responder" {
				s = p.b
			}
			if err := s.e.Terminate(context.Background(), "ab"); err != nil {
				t.Fatal(err)
			}
			for _, x := range []*side{p.a, p.b} {
				if n := len(x.e.Status().IKESAs); n != 0 {
					t.Errorf("%d IKE SAs left", n)
				}
				if r := x.kernel.Render(); len(r) != 0 || x.kernel.Larval() != 0 {
					t.Errorf("kernel not empty:\n%s", strings.Join(r, "\n"))
				}
				want := "[ike-up child-up child-down ike-down]"
				if got := fmt.Sprint(x.eventTypes()); got != want {
					t.Errorf("events %s, want %s", got, want)
				}
				if !strings.Contains(x.log.String(), "IKE_SA deleted") {
					t.Errorf("no deletion log line:\n%s", x.log.String())
				}
			}
		})
	}
}

func TestDeleteWithoutAnswer(t *testing.T) {
	p := newPair(t, nil)
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	p.link.setFilter(func(ike.Packet) int { return 0 })
	done := make(chan error, 1)
	go func() { done <- p.a.e.Terminate(context.Background(), "ab") }()
	p.waitSent(t, addrA, message.Informational, false, 1)
	p.clk.Advance(166 * time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(p.a.kernel.States()) != 0 || len(p.a.e.Status().IKESAs) != 0 {
		t.Error("state left after an unanswered delete")
	}
	if n := p.a.e.Status().Counters.Retransmits; n != 5 {
		t.Errorf("retransmits %d, want 5", n)
	}
}

func TestRetransmitRequest(t *testing.T) {
	p := newPair(t, nil)
	dropped := false
	p.link.setFilter(func(pk ike.Packet) int {
		if ex, resp, _ := kind(pk); ex == message.IKEAuth && !resp && !dropped {
			dropped = true
			return 0
		}
		return 1
	})
	wait := p.initiateAsync()
	p.waitSent(t, addrA, message.IKEAuth, false, 1)
	p.clk.Advance(3900 * time.Millisecond)
	if len(p.link.sentFrom(addrA)) != 2 {
		t.Fatal("retransmitted before 4 s")
	}
	p.clk.Advance(100 * time.Millisecond)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	established(t, p.a)
	established(t, p.b)
	checkCrossMatch(t, p.a.kernel, p.b.kernel)
	if n := p.a.e.Status().Counters.Retransmits; n != 1 {
		t.Errorf("retransmits %d, want 1", n)
	}
}

func TestCachedResponseReplayed(t *testing.T) {
	p := newPair(t, nil)
	dropped := false
	p.link.setFilter(func(pk ike.Packet) int {
		if ex, resp, _ := kind(pk); ex == message.IKEAuth && resp && !dropped {
			dropped = true
			return 0
		}
		return 1
	})
	wait := p.initiateAsync()
	p.waitSent(t, addrB, message.IKEAuth, true, 1)
	p.clk.Advance(4 * time.Second)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if n := p.b.e.Status().Counters.Replayed; n != 1 {
		t.Errorf("responder replayed %d responses, want 1", n)
	}
	// The responder processed IKE_AUTH once: one CHILD_SA, one install.
	checkCrossMatch(t, p.a.kernel, p.b.kernel)
	if got := fmt.Sprint(p.b.eventTypes()); got != "[ike-up child-up]" {
		t.Errorf("responder events %s", got)
	}
	// The two responses are byte-identical.
	var resps [][]byte
	for _, pk := range p.link.sentFrom(addrB) {
		if ex, resp, _ := kind(pk); ex == message.IKEAuth && resp {
			resps = append(resps, pk.Data)
		}
	}
	if len(resps) != 2 || !bytes.Equal(resps[0], resps[1]) {
		t.Errorf("%d IKE_AUTH responses, identical: %v", len(resps), len(resps) == 2 && bytes.Equal(resps[0], resps[1]))
	}
}

func TestDuplicatedPackets(t *testing.T) {
	p := newPair(t, nil)
	p.link.setFilter(func(ike.Packet) int { return 2 })
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	established(t, p.a)
	established(t, p.b)
	checkCrossMatch(t, p.a.kernel, p.b.kernel)
	if c := p.b.e.Status().Counters; c.Replayed == 0 {
		t.Errorf("responder counters %+v: duplicates should be answered from the cache", c)
	}
	if c := p.a.e.Status().Counters; c.Unexpected == 0 {
		t.Errorf("initiator counters %+v: duplicate responses should be counted", c)
	}
}

func TestGiveUp(t *testing.T) {
	p := newPair(t, func(a, b *ike.Config) {})
	p.link.setFilter(func(pk ike.Packet) int {
		if pk.Local.Addr() == addrA {
			return 0
		}
		return 1
	})
	wait := p.initiateAsync()
	p.waitSent(t, addrA, message.IKESAInit, false, 1)
	// strongSwan's schedule: 4, 7.2, 12.96, 23.33, 41.99 s, then 75.58 s
	// until giving up, 165.06 s in all.
	p.clk.Advance(165 * time.Second)
	if n := len(p.link.sentFrom(addrA)); n != 6 {
		t.Errorf("sent %d IKE_SA_INIT requests, want 6", n)
	}
	if len(p.a.e.Status().IKESAs) != 1 {
		t.Fatal("gave up too early")
	}
	p.clk.Advance(100 * time.Millisecond)
	err := wait()
	if err == nil || !strings.Contains(err.Error(), "not responding") {
		t.Fatalf("Initiate: %v", err)
	}
	if len(p.a.e.Status().IKESAs) != 0 {
		t.Error("IKE SA kept after giving up")
	}
}

func TestRetransmitSettings(t *testing.T) {
	p := newPair(t, func(a, b *ike.Config) {
		a.RetransmitTries, a.RetransmitTimeout, a.RetransmitBase = 2, time.Second, 2
	})
	p.link.setFilter(func(ike.Packet) int { return 0 })
	wait := p.initiateAsync()
	p.waitSent(t, addrA, message.IKESAInit, false, 1)
	p.clk.Advance(6900 * time.Millisecond) // 1 + 2 + 4 s
	if len(p.a.e.Status().IKESAs) != 1 {
		t.Fatal("gave up too early")
	}
	p.clk.Advance(200 * time.Millisecond)
	if err := wait(); err == nil {
		t.Fatal("Initiate succeeded without a peer")
	}
	if n := len(p.link.sentFrom(addrA)); n != 3 {
		t.Errorf("sent %d, want 3", n)
	}
}

// hasReply reports whether b sent anything since mark.
func (p *pair) sentSince(from netip.Addr, mark int) int { return len(p.link.sentFrom(from)) - mark }

func TestGarbageDropped(t *testing.T) {
	p := newPair(t, nil)
	if err := p.initiate(t); err != nil {
		t.Fatal(err)
	}
	var authReq, initResp, authResp []byte
	for _, pk := range p.link.sentFrom(addrA) {
		if ex, resp, _ := kind(pk); ex == message.IKEAuth && !resp {
			authReq = pk.Data
		}
	}
	for _, pk := range p.link.sentFrom(addrB) {
		switch ex, _, _ := kind(pk); ex {
		case message.IKESAInit:
			initResp = pk.Data
		case message.IKEAuth:
			authResp = pk.Data
		}
	}
	before := p.b.e.Status()
	markB, markA := len(p.link.sentFrom(addrB)), len(p.link.sentFrom(addrA))
	toB := func(data []byte) {
		p.b.e.HandlePacket(ike.Packet{Local: netip.AddrPortFrom(addrB, 500), Remote: netip.AddrPortFrom(addrA, 500), Data: data})
	}
	toA := func(data []byte) {
		p.a.e.HandlePacket(ike.Packet{Local: netip.AddrPortFrom(addrA, 500), Remote: netip.AddrPortFrom(addrB, 500), Data: data})
	}
	// Random garbage of many lengths.
	for n := 0; n < 200; n += 7 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*31 + n)
		}
		toB(b)
	}
	// Every strict prefix of a real request.
	for n := 0; n < len(authReq); n++ {
		toB(authReq[:n])
	}
	// Unknown SPI.
	unknown := bytes.Clone(authReq)
	binary.BigEndian.PutUint64(unknown[8:], 0x1122334455667788)
	toB(unknown)
	// A forged next request: the next message ID with the old ciphertext
	// fails the integrity check, the header being associated data.
	forged := bytes.Clone(authReq)
	binary.BigEndian.PutUint32(forged[20:], 2)
	forged[18] = byte(message.Informational)
	toB(forged)
	flipped := bytes.Clone(authReq)
	binary.BigEndian.PutUint32(flipped[20:], 2)
	flipped[len(flipped)-1] ^= 1
	toB(flipped)
	// Replays of old responses to the initiator, which has no request out.
	toA(initResp)
	toA(authResp)
	// A message ID far ahead.
	ahead := bytes.Clone(authReq)
	binary.BigEndian.PutUint32(ahead[20:], 7)
	toB(ahead)

	if n := p.sentSince(addrB, markB); n != 0 {
		t.Errorf("responder answered %d garbage messages", n)
	}
	if n := p.sentSince(addrA, markA); n != 0 {
		t.Errorf("initiator answered %d garbage messages", n)
	}
	after := p.b.e.Status()
	c := after.Counters
	if c.Malformed < 30 || c.UnknownSPI < 1 || c.BadICV != 2 || c.Unexpected < 1 {
		t.Errorf("responder counters %+v", c)
	}
	if ca := p.a.e.Status().Counters; ca.Unexpected != 2 {
		t.Errorf("initiator counters %+v", ca)
	}
	if len(after.IKESAs) != 1 || after.IKESAs[0].State != "ESTABLISHED" || after.IKESAs[0].SPIr != before.IKESAs[0].SPIr {
		t.Errorf("responder state changed: %+v", after.IKESAs)
	}
	checkCrossMatch(t, p.a.kernel, p.b.kernel)

	// The last request itself, retransmitted, is answered from the cache
	// (RFC 7296 2.1), without being processed again.
	toB(authReq)
	if n := p.sentSince(addrB, markB); n != 1 {
		t.Errorf("retransmitted request answered %d times, want 1", n)
	}
	if got := fmt.Sprint(p.b.eventTypes()); got != "[ike-up child-up]" {
		t.Errorf("responder events %s", got)
	}
}

func TestUnsupportedCriticalPayload(t *testing.T) {
	p := newPair(t, nil)
	m := &message.Message{
		Header: message.Header{SPIi: 0x0102030405060708, Exchange: message.IKESAInit, Flags: message.FlagInitiator},
		Payloads: []message.Payload{
			&message.Nonce{Data: bytes.Repeat([]byte{1}, 32)},
			&message.Unknown{PayloadType: 200, Critical: true, Data: []byte{1, 2, 3}},
		},
	}
	raw, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	p.b.e.HandlePacket(ike.Packet{Local: netip.AddrPortFrom(addrB, 500), Remote: netip.AddrPortFrom(addrA, 500), Data: raw})
	sent := p.link.sentFrom(addrB)
	if len(sent) != 1 {
		t.Fatalf("responder sent %d messages, want 1", len(sent))
	}
	r, err := message.DecodeMessage(sent[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	n := r.Payloads.Notify(message.UnsupportedCriticalPayload)
	if n == nil || !bytes.Equal(n.Data, []byte{200}) || !r.Header.IsResponse() || r.Header.SPIi != m.Header.SPIi {
		t.Errorf("reply %v", r)
	}
	if len(p.b.e.Status().IKESAs) != 0 {
		t.Error("state created")
	}
}

func TestHalfOpenBound(t *testing.T) {
	p := newPair(t, func(a, b *ike.Config) { b.HalfOpenLimit, b.CookieThreshold = 2, 100 })
	// Capture A's IKE_SA_INIT request without delivering it.
	p.link.setFilter(func(ike.Packet) int { return 0 })
	wait := p.initiateAsync()
	p.waitSent(t, addrA, message.IKESAInit, false, 1)
	req := p.link.sentFrom(addrA)[0].Data
	for i := 0; i < 3; i++ {
		r := bytes.Clone(req)
		r[0] ^= byte(i + 1) // a different initiator SPI each time
		p.b.e.HandlePacket(ike.Packet{Local: netip.AddrPortFrom(addrB, 500), Remote: netip.AddrPortFrom(addrA, 500), Data: r})
	}
	st := p.b.e.Status()
	if len(st.IKESAs) != 2 || st.Counters.HalfOpenRejected != 1 {
		t.Errorf("%d half-open SAs, %d rejected; want 2 and 1", len(st.IKESAs), st.Counters.HalfOpenRejected)
	}
	for _, sa := range st.IKESAs {
		if sa.State != "CONNECTING" || sa.Initiator {
			t.Errorf("half-open SA %+v", sa)
		}
	}
	// Half-open SAs expire after 30 s; the initiator gives up later.
	p.clk.Advance(31 * time.Second)
	if n := len(p.b.e.Status().IKESAs); n != 0 {
		t.Errorf("%d half-open SAs after the timeout", n)
	}
	p.clk.Advance(200 * time.Second)
	if err := wait(); err == nil {
		t.Error("Initiate succeeded")
	}
}

func TestHigherMajorVersion(t *testing.T) {
	p := newPair(t, nil)
	m := &message.Message{Header: message.Header{SPIi: 42, MajorVersion: 3, Exchange: message.IKESAInit, Flags: message.FlagInitiator},
		Payloads: []message.Payload{&message.Nonce{Data: make([]byte, 32)}}}
	raw, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	from := netip.AddrPortFrom(addrA, 500)
	p.b.e.HandlePacket(ike.Packet{Local: netip.AddrPortFrom(addrB, 500), Remote: from, Data: raw})
	sent := p.link.sentFrom(addrB)
	if len(sent) != 1 {
		t.Fatalf("sent %d", len(sent))
	}
	r, err := message.DecodeMessage(sent[0].Data)
	if err != nil || r.Header.MajorVersion != 2 || r.Payloads.Notify(message.InvalidMajorVersion) == nil || r.Header.SPIi != 42 {
		t.Fatalf("reply %v, %v", r, err)
	}
	// A major version below 2 (IKEv1) is only dropped.
	raw[17] = 0x10
	p.b.e.HandlePacket(ike.Packet{Local: netip.AddrPortFrom(addrB, 500), Remote: from, Data: raw})
	if len(p.link.sentFrom(addrB)) != 1 || len(p.b.e.Status().IKESAs) != 0 {
		t.Error("answered IKEv1 or created state")
	}
}
