package esp_test

import (
	"errors"
	"fmt"

	"github.com/cygnet-ipsec/cygnet/esp"
)

func Example() {
	// AES-256 key and 4-byte salt, as IKEv2 derives them for
	// ENCR_AES_GCM_16 with a 256-bit key (RFC 4106 8.1). A real SA takes
	// them from the CHILD_SA key material.
	keymat := make([]byte, 36)
	out, err := esp.NewSA(0xc1234567, keymat, esp.WithESN())
	if err != nil {
		panic(err)
	}
	in, err := esp.NewSA(0xc1234567, keymat, esp.WithESN(), esp.WithReplayWindow(1024))
	if err != nil {
		panic(err)
	}

	packet, err := out.Seal(nil, 17, []byte("a UDP datagram"))
	if err != nil {
		panic(err)
	}
	spi, seq, _ := esp.ParseHeader(packet)
	fmt.Printf("spi %#08x seq %d, %d bytes\n", spi, seq, len(packet))

	nextHeader, payload, err := in.Open(nil, packet)
	fmt.Printf("next header %d: %q %v\n", nextHeader, payload, err)

	_, _, err = in.Open(nil, packet)
	fmt.Println(err, errors.Is(err, esp.ErrReplay))
	// Output:
	// spi 0xc1234567 seq 1, 48 bytes
	// next header 17: "a UDP datagram" <nil>
	// esp: spi 0xc1234567 seq 1: replayed packet true
}
