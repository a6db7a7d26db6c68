package xfrm_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/ike/udp"
	"github.com/cygnet-ipsec/cygnet/xfrm"
)

// A program that keys a host-to-host transport SA with a peer from Go:
// the engine speaks IKEv2 on UDP 500/4500 and installs the CHILD_SA (two
// ESP states, two policies) into this host's kernel. Run as root; the peer
// (192.0.2.2) runs cygnet or strongSwan with the same pre-shared key.
func Example_engine() {
	kernel, err := xfrm.Open("/proc/self/ns/net")
	if err != nil {
		log.Fatal(err)
	}
	defer kernel.Close()
	conn, err := udp.Listen(udp.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	gcm := []ike.Encr{{ID: message.EncrAESGCM16, KeyBits: 256}}
	eng, err := ike.New(ike.Options{Transport: conn, Kernel: kernel, Config: &ike.Config{
		Connections: []ike.Connection{{Name: "peer", Mode: ike.ModeTransport, Auto: ike.AutoAdd,
			Local:  ike.Endpoint{Addr: netip.MustParseAddr("192.0.2.1"), Auth: ike.AuthPSK},
			Remote: ike.Endpoint{Addr: netip.MustParseAddr("192.0.2.2"), Auth: ike.AuthPSK},
			IKE:    []ike.Proposal{{Encr: gcm, PRF: []message.PRFID{message.PRFHMACSHA2384}, DH: []message.DHGroup{message.DHCurve25519}}},
			ESP:    []ike.Proposal{{Encr: gcm}}}},
		Credentials: ike.Credentials{SharedKeys: []ike.SharedKey{{Secret: []byte("a long and secret pre-shared key")}}},
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close() // removes what it installed from the kernel (Terminate first to tell the peer)
	go conn.Serve(eng.HandlePacket)
	if err := eng.Connect(context.Background(), "peer"); err != nil { // retries per KeyingTries
		log.Fatal(err)
	}
	for _, sa := range eng.Status().IKESAs {
		fmt.Println(sa.Conn, sa.State, sa.Proposal)
	}
}
