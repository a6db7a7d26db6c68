package ike_test

import (
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/internal/clock"
	"github.com/cygnet-ipsec/cygnet/xfrm/xfrmtest"
)

// recorder is a Transport that keeps what is sent.
type recorder struct {
	mu   sync.Mutex
	sent []ike.Packet
}

func (r *recorder) Send(p ike.Packet) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	p.Data = append([]byte(nil), p.Data...)
	r.sent = append(r.sent, p)
	return nil
}

// FuzzHandlePacket feeds arbitrary datagrams to a responder. It must never
// panic, and since no input can authenticate, it may only ever answer with
// an IKE_SA_INIT response (RFC 7296 1.2, 2.5, 2.6, 2.21:
// INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN, COOKIE, INVALID_SYNTAX,
// INVALID_MAJOR_VERSION, UNSUPPORTED_CRITICAL_PAYLOAD or the IKE_SA_INIT
// answer itself), and never touch the kernel.
func FuzzHandlePacket(f *testing.F) {
	// Seeds: every message of a real handshake and delete.
	p := newPair(f, nil)
	if err := p.initiate(f); err != nil {
		f.Fatal(err)
	}
	if err := p.a.e.Terminate(f.Context(), "ab"); err != nil {
		f.Fatal(err)
	}
	for _, pk := range p.link.sentFrom(addrA) {
		f.Add(pk.Data)
	}
	for _, pk := range p.link.sentFrom(addrB) {
		f.Add(pk.Data)
	}
	f.Add([]byte{})
	f.Add(make([]byte, 28))
	cfg := &ike.Config{Connections: []ike.Connection{baseConn(addrB, addrA)},
		Credentials: ike.Credentials{SharedKeys: []ike.SharedKey{{Secret: psk}}}}
	cfg.Connections[0].IKE[0].DH = []message.DHGroup{message.DHCurve25519, message.DHECP256}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec := &recorder{}
		kernel := &xfrmtest.Fake{}
		e, err := ike.New(ike.Options{Config: cfg, Transport: rec, Kernel: kernel,
			Clock: clock.New(time.Unix(0, 0)), Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		pk := ike.Packet{Local: netip.AddrPortFrom(addrB, 500), Remote: netip.AddrPortFrom(addrA, 500), Data: data}
		e.HandlePacket(pk)
		e.HandlePacket(pk) // a retransmission
		for _, s := range rec.sent {
			m, err := message.DecodeMessage(s.Data)
			if err != nil {
				t.Fatalf("sent an undecodable message: %v", err)
			}
			if m.Header.Exchange != message.IKESAInit || !m.Header.IsResponse() || m.Header.IsInitiator() {
				t.Fatalf("answered with %v", m)
			}
		}
		if len(kernel.States()) != 0 || kernel.Larval() != 0 {
			t.Fatal("kernel touched")
		}
		if c := e.Status().Counters; c.Received != 2 {
			t.Fatalf("received %d", c.Received)
		}
	})
}
