package ike_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/xfrm/xfrmtest"
)

// wire connects engines in memory: each packet is handed straight to the
// engine owning its destination address.
type wire map[netip.Addr]*ike.Engine

func (w wire) Send(p ike.Packet) error {
	if e := w[p.Remote.Addr()]; e != nil {
		e.HandlePacket(ike.Packet{Local: p.Remote, Remote: p.Local, Data: append([]byte(nil), p.Data...)})
	}
	return nil
}

// Two engines negotiate a transport-mode CHILD_SA with a pre-shared key
// over an in-memory link, each installing its half into a fake kernel.
func Example() {
	sun, moon := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	conn := func(local, remote netip.Addr) *ike.Config {
		return &ike.Config{
			Connections: []ike.Connection{{
				Name: "host-host", Mode: ike.ModeTransport, Auto: ike.AutoAdd,
				Local:  ike.Endpoint{Addr: local, Auth: ike.AuthPSK},
				Remote: ike.Endpoint{Addr: remote, Auth: ike.AuthPSK},
				IKE: []ike.Proposal{{Encr: []ike.Encr{{ID: message.EncrAESGCM16, KeyBits: 256}},
					PRF: []message.PRFID{message.PRFHMACSHA2384}, DH: []message.DHGroup{message.DHCurve25519}}},
				ESP: []ike.Proposal{{Encr: []ike.Encr{{ID: message.EncrAESGCM16, KeyBits: 256}}}},
			}},
			Credentials: ike.Credentials{SharedKeys: []ike.SharedKey{{Secret: []byte("an example pre-shared key")}}},
		}
	}
	w := wire{}
	quiet := slog.New(slog.DiscardHandler)
	kernelSun, kernelMoon := &xfrmtest.Fake{}, &xfrmtest.Fake{}
	a, _ := ike.New(ike.Options{Config: conn(sun, moon), Transport: w, Kernel: kernelSun, Logger: quiet,
		OnEvent: func(ev ike.Event) { fmt.Println("sun:", ev.Type, ev.Conn, ev.RemoteID) }})
	b, _ := ike.New(ike.Options{Config: conn(moon, sun), Transport: w, Kernel: kernelMoon, Logger: quiet})
	defer a.Close()
	defer b.Close()
	w[sun], w[moon] = a, b

	if err := a.Initiate(context.Background(), "host-host"); err != nil {
		fmt.Println(err)
		return
	}
	for _, sa := range b.Status().IKESAs {
		fmt.Println("moon:", sa.Conn, sa.State, sa.Proposal, "children:", len(sa.Children), sa.Children[0].Proposal)
	}
	fmt.Println("sun kernel:", len(kernelSun.States()), "states,", len(kernelSun.Policies()), "policies")
	// moon's inbound state, as `ip xfrm state` shows it (keys omitted).
	for _, line := range kernelMoon.Render()[:4] {
		fmt.Println(line)
	}
	// Output:
	// sun: ike-up host-host 192.0.2.2
	// sun: child-up host-host 192.0.2.2
	// moon: host-host ESTABLISHED AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519 children: 1 AES_GCM_16_256
	// sun kernel: 2 states, 2 policies
	// src 192.0.2.1 dst 192.0.2.2 proto esp spi 0xc0000100 reqid 3372220417 mode transport
	// 	replay-window 32
	// 	aead rfc4106(gcm(aes)) [key omitted] 128
	// 	src 192.0.2.1/32 dst 192.0.2.2/32
	// sun: child-down host-host 192.0.2.2
	// sun: ike-down host-host 192.0.2.2
}
