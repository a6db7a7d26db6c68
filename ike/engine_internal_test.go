package ike

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/xfrm/xfrmtest"
)

// White-box tests of requests the engine's API does not start yet: they
// drive an established SA's request path directly.

type memLink map[netip.Addr]*Engine

func (l memLink) Send(p Packet) error {
	if e := l[p.Remote.Addr()]; e != nil {
		e.HandlePacket(Packet{Local: p.Remote, Remote: p.Local, Data: bytes.Clone(p.Data)})
	}
	return nil
}

type testEnd struct {
	e      *Engine
	kernel *xfrmtest.Fake
}

func internalPair(t *testing.T) (a, b testEnd) {
	t.Helper()
	la, lb := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	link := memLink{}
	conn := func(l, r netip.Addr) *Config {
		return &Config{Connections: []Connection{{
			Name: "ab", Mode: ModeTransport, Auto: AutoAdd,
			Local: Endpoint{Addr: l, Auth: AuthPSK}, Remote: Endpoint{Addr: r, Auth: AuthPSK},
		}}, Credentials: Credentials{SharedKeys: []SharedKey{{Secret: []byte("internal test key")}}}}
	}
	mk := func(cfg *Config, addr netip.Addr) testEnd {
		k := &xfrmtest.Fake{}
		e, err := New(Options{Config: cfg, Transport: link, Kernel: k, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		link[addr] = e
		return testEnd{e, k}
	}
	a, b = mk(conn(la, lb), la), mk(conn(lb, la), lb)
	if err := a.e.Initiate(context.Background(), "ab"); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// exchange sends one protected request from e's only SA and returns the
// response payloads.
func exchange(t *testing.T, e *Engine, ex message.ExchangeType, inner []message.Payload) message.Payloads {
	t.Helper()
	sa := e.snapshot()[0]
	var got message.Payloads
	answered := false
	sa.lock()
	sa.request(ex, inner, func(_ *message.Message, ps message.Payloads) { got, answered = ps, true }, func() { t.Error("timeout") })
	sa.unlock()
	if !answered {
		t.Fatal("no response")
	}
	return got
}

func TestLivenessCheckAnswered(t *testing.T) {
	a, b := internalPair(t)
	for i := 0; i < 3; i++ {
		if ps := exchange(t, a.e, message.Informational, nil); len(ps) != 0 {
			t.Errorf("liveness response %v", ps)
		}
	}
	if st := b.e.Status(); len(st.IKESAs) != 1 || st.IKESAs[0].State != "ESTABLISHED" {
		t.Errorf("responder %+v", st)
	}
	// The responder can check the initiator too (its own message IDs).
	if ps := exchange(t, b.e, message.Informational, nil); len(ps) != 0 {
		t.Errorf("liveness response %v", ps)
	}
}

func TestPeerDeletesChild(t *testing.T) {
	a, b := internalPair(t)
	ach := a.e.Status().IKESAs[0].Children[0]
	bch := b.e.Status().IKESAs[0].Children[0]
	// a names its inbound SPI (RFC 7296 1.4.1); b answers with its own.
	ps := exchange(t, a.e, message.Informational, []message.Payload{&message.Delete{Protocol: message.ProtoESP, SPIs: [][]byte{spiBytes32(ach.SPIIn)}}})
	d, ok := ps.First(message.PayloadDelete).(*message.Delete)
	if !ok || d.Protocol != message.ProtoESP || len(d.SPIs) != 1 || beUint32(d.SPIs[0]) != bch.SPIIn {
		t.Fatalf("response %v", ps)
	}
	if len(b.kernel.States()) != 0 || len(b.kernel.Policies()) != 0 {
		t.Errorf("responder kernel %v", b.kernel.Render())
	}
	if st := b.e.Status(); len(st.IKESAs) != 1 || len(st.IKESAs[0].Children) != 0 {
		t.Errorf("responder %+v", st)
	}
	// An unknown SPI is ignored and the answer is empty.
	if ps := exchange(t, a.e, message.Informational, []message.Payload{&message.Delete{Protocol: message.ProtoESP, SPIs: [][]byte{{1, 2, 3, 4}}}}); len(ps) != 0 {
		t.Errorf("response %v", ps)
	}
}

func TestCreateChildRefused(t *testing.T) {
	a, b := internalPair(t)
	ps := exchange(t, a.e, message.CreateChildSA, []message.Payload{&message.Nonce{Data: make([]byte, 32)}})
	if ps.Notify(message.NoAdditionalSAs) == nil {
		t.Errorf("response %v", ps)
	}
	if len(b.kernel.States()) != 2 {
		t.Error("responder lost its CHILD_SA")
	}
}

func TestUnsupportedCriticalInSK(t *testing.T) {
	a, b := internalPair(t)
	ps := exchange(t, a.e, message.Informational, []message.Payload{&message.Unknown{PayloadType: 222, Critical: true, Data: []byte{0}}})
	n := ps.Notify(message.UnsupportedCriticalPayload)
	if n == nil || !bytes.Equal(n.Data, []byte{222}) {
		t.Errorf("response %v", ps)
	}
	if len(b.e.Status().IKESAs) != 1 {
		t.Error("responder dropped the IKE SA")
	}
}
