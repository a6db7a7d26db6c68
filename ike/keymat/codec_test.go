package keymat

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/ike/suite"
)

// TestWithCodec runs the SK ciphers through the message codec the way the
// engine will: the initiator encodes an encrypted IKE_AUTH-like message
// with its outbound cipher as the codec's Sealer, the responder decodes it
// and opens the SK payload with the codec's associated data.
func TestWithCodec(t *testing.T) {
	for _, s := range []suite.Suite{
		{Protocol: message.ProtoIKE, Encr: message.EncrAESGCM16, EncrKeyBits: 256, PRF: message.PRFHMACSHA2384, KE: message.DHECP384},
		{Protocol: message.ProtoIKE, Encr: message.EncrAESCBC, EncrKeyBits: 128, Integ: message.IntegHMACSHA2256128, PRF: message.PRFHMACSHA2256, KE: message.DHMODP2048},
	} {
		t.Run(s.String(), func(t *testing.T) {
			ki, err := s.NewKeyExchange(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			pubR, girR, err := suite.Respond(s.KE, ki.Public(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			girI, err := ki.SharedSecret(pubR)
			if err != nil {
				t.Fatal(err)
			}
			ni, nr := bytes.Repeat([]byte{0x11}, NonceLen), bytes.Repeat([]byte{0x22}, NonceLen)
			spi, spr := []byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{8, 7, 6, 5, 4, 3, 2, 1}
			initKeys, err := NewIKE(s, girI, ni, nr, spi, spr)
			if err != nil {
				t.Fatal(err)
			}
			respKeys, err := NewIKE(s, girR, ni, nr, spi, spr)
			if err != nil {
				t.Fatal(err)
			}
			iOut, _, err := initKeys.Ciphers(s, true, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			_, rIn, err := respKeys.Ciphers(s, false, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}

			m := &message.Message{Header: message.Header{
				SPIi: 0x0102030405060708, SPIr: 0x0807060504030201,
				Exchange: message.IKEAuth, Flags: message.FlagInitiator, MessageID: 1,
			}}
			inner := []message.Payload{&message.Nonce{Data: bytes.Repeat([]byte{0x33}, 32)}}
			wire, err := m.EncodeEncrypted(inner, iOut)
			if err != nil {
				t.Fatal(err)
			}
			got, err := message.DecodeMessage(wire)
			if err != nil {
				t.Fatal(err)
			}
			sk := got.Encrypted()
			if sk == nil {
				t.Fatal("no SK payload")
			}
			pt, err := rIn.Open(nil, got.AssociatedData(), sk.Data)
			if err != nil {
				t.Fatal(err)
			}
			ps, err := message.DecodePayloads(sk.FirstInner, pt)
			if err != nil {
				t.Fatal(err)
			}
			if n, ok := ps.First(message.PayloadNonce).(*message.Nonce); !ok || !bytes.Equal(n.Data, bytes.Repeat([]byte{0x33}, 32)) {
				t.Fatalf("inner payloads %v", ps)
			}
			// The header is authenticated: a changed Message ID fails.
			wire[20] ^= 1
			got, err = message.DecodeMessage(wire)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rIn.Open(nil, got.AssociatedData(), got.Encrypted().Data); !errors.Is(err, suite.ErrAuthFailed) {
				t.Fatalf("tampered header: err = %v", err)
			}
		})
	}
}
