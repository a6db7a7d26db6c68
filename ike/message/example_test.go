package message_test

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// exampleSealer is AES-GCM with an all-zero key and a counter IV, laid out
// as RFC 5282 3 (8-byte IV, 16-byte ICV) with an RFC 7296 3.14 Pad Length
// octet. A real engine derives the key with the IKE SA (ike/suite).
type exampleSealer struct {
	aead cipher.AEAD
	iv   byte
}

func (s *exampleSealer) SealedLen(n int) int { return 8 + n + 1 + 16 }

func (s *exampleSealer) Seal(aad, plaintext []byte) ([]byte, error) {
	s.iv++
	iv := []byte{0, 0, 0, 0, 0, 0, 0, s.iv}
	nonce := append([]byte{0, 0, 0, 0}, iv...) // salt || IV
	out := append(aad, iv...)
	return s.aead.Seal(out, nonce, append(append([]byte{}, plaintext...), 0), aad), nil
}

func (s *exampleSealer) Open(aad, data []byte) ([]byte, error) {
	nonce := append([]byte{0, 0, 0, 0}, data[:8]...)
	pt, err := s.aead.Open(nil, nonce, data[8:], aad)
	if err != nil {
		return nil, err
	}
	return pt[:len(pt)-1-int(pt[len(pt)-1])], nil // strip padding
}

// Example_protected shows the engine's path for an SK-protected message:
// encode and seal inner payloads, then decode, open with the associated
// data and decode the inner chain.
func Example_protected() {
	block, _ := aes.NewCipher(make([]byte, 16))
	aead, _ := cipher.NewGCM(block)
	sealer := &exampleSealer{aead: aead}

	req := &message.Message{Header: message.Header{
		SPIi: 0x1111, SPIr: 0x2222, Exchange: message.Informational,
		Flags: message.FlagInitiator, MessageID: 2,
	}}
	wire, err := req.EncodeEncrypted([]message.Payload{
		&message.Delete{Protocol: message.ProtoESP, SPIs: [][]byte{{0xc1, 0x2e, 0x4f, 0x01}}},
	}, sealer)
	if err != nil {
		panic(err)
	}

	m, err := message.DecodeMessage(wire)
	if err != nil {
		panic(err)
	}
	sk := m.Encrypted()
	plaintext, err := sealer.Open(m.AssociatedData(), sk.Data)
	if err != nil {
		panic(err)
	}
	inner, err := message.DecodePayloads(sk.FirstInner, plaintext)
	if err != nil {
		panic(err)
	}
	fmt.Println(m)
	fmt.Println(inner)
	fmt.Printf("%x\n", inner[0].(*message.Delete).SPIs[0])
	// Output:
	// INFORMATIONAL request 2 [ SK ]
	// D
	// c12e4f01
}

// ExampleDecodeMessage shows how the exchange layer maps decoding errors
// to its reply; the codec itself never chooses one.
func ExampleDecodeMessage() {
	datagram := []byte{
		0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, // SPIi, SPIr
		200, 0x20, 34, 0x08, 0, 0, 0, 0, 0, 0, 0, 32, // next=200, 2.0, IKE_SA_INIT, I, mid 0, len 32
		0, 0x80, 0, 4, // a critical payload of unknown type 200
	}
	m, err := message.DecodeMessage(datagram)
	var critical *message.UnsupportedCriticalError
	switch {
	case err == nil:
		fmt.Println("process", m)
	case errors.As(err, &critical):
		fmt.Println("answer", critical.Notify(), "for", m.Header.Exchange)
	default:
		fmt.Println("drop:", err)
	}
	// Output:
	// answer N(UNSUPPORTED_CRITICAL_PAYLOAD) for IKE_SA_INIT
}
