package ike_test

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/xfrm/xfrmtest"
)

// blackhole is a link on which nothing answers.
type blackhole struct{ sent atomic.Int64 }

func (b *blackhole) Send(ike.Packet) error { b.sent.Add(1); return nil }

func connectLoops() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "ike.(*Engine).Connect(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestStartEndsAtClose: Start keeps a connection with keyingtries=%forever
// trying towards a peer that never answers, one loop however often it is
// started, and Close ends that loop (and waits for it): nothing is sent
// after Close, and Start then refuses with ErrClosed. Connect names an
// unknown connection with ErrNoConnection.
func TestStartEndsAtClose(t *testing.T) {
	if n := connectLoops(); n != 0 {
		t.Fatalf("%d keying loops before the test", n)
	}
	local, far := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.99")
	cfg := &ike.Config{
		Connections: []ike.Connection{{
			Name: "far", Mode: ike.ModeTransport, Auto: ike.AutoStart, KeyingTries: 0,
			Local:  ike.Endpoint{Addr: local, Auth: ike.AuthPSK},
			Remote: ike.Endpoint{Addr: far, Auth: ike.AuthPSK},
			IKE: []ike.Proposal{{Encr: []ike.Encr{{ID: message.EncrAESGCM16, KeyBits: 256}},
				PRF: []message.PRFID{message.PRFHMACSHA2256}, DH: []message.DHGroup{message.DHCurve25519}}},
			ESP: []ike.Proposal{{Encr: []ike.Encr{{ID: message.EncrAESGCM16, KeyBits: 256}}}},
		}},
		Credentials: ike.Credentials{SharedKeys: []ike.SharedKey{{Secret: []byte("k")}}},
	}
	link := &blackhole{}
	e, err := ike.New(ike.Options{Config: cfg, Transport: link, Kernel: &xfrmtest.Fake{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := e.Start("far"); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for link.sent.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the started conn never initiated")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := connectLoops(); n != 1 {
		t.Fatalf("%d keying loops for one conn started three times, want 1", n)
	}
	if err := e.Connect(context.Background(), "nope"); !errors.Is(err, ike.ErrNoConnection) {
		t.Errorf("Connect of an unknown conn: %v, want ErrNoConnection", err)
	}
	e.Close()
	if n := connectLoops(); n != 0 {
		t.Fatalf("%d keying loops still running after Close", n)
	}
	sent := link.sent.Load()
	time.Sleep(100 * time.Millisecond) // looking for a send that must not happen
	if after := link.sent.Load(); after != sent {
		t.Errorf("%d IKE messages sent after Close", after-sent)
	}
	if err := e.Start("far"); !errors.Is(err, ike.ErrClosed) {
		t.Errorf("Start after Close: %v, want ErrClosed", err)
	}
}
