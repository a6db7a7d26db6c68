package suite

import (
	"crypto/mlkem"
	"fmt"
	"io"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// ML-KEM-768 (FIPS 203) as an IKEv2 key exchange method (transform ID 36,
// draft-ietf-ipsecme-ikev2-mlkem). Unlike Diffie-Hellman it is asymmetric:
// the initiator sends an encapsulation key (1184 octets), the responder
// answers with a ciphertext (1088 octets), and both obtain a 32-octet
// shared secret. The initiator uses the ordinary KeyExchange
// (NewKeyExchange: Public is the encapsulation key, SharedSecret
// decapsulates the peer's ciphertext); the responder uses Respond.
//
// It is not in the transform table: the draft negotiates ML-KEM as an
// additional key exchange of RFC 9370 (IKE_INTERMEDIATE), which cygnet does
// not implement yet, and an encapsulation key in IKE_SA_INIT would need IP
// fragmentation. crypto/mlkem draws its own randomness; rand is unused.
const (
	mlkem768PublicLen     = mlkem.EncapsulationKeySize768
	mlkem768CiphertextLen = mlkem.CiphertextSize768
)

type mlkemKE struct {
	dk *mlkem.DecapsulationKey768
}

func newMLKEM768() (KeyExchange, error) {
	dk, err := mlkem.GenerateKey768()
	if err != nil {
		return nil, fmt.Errorf("suite: generating ML-KEM-768 key: %w", err)
	}
	return &mlkemKE{dk: dk}, nil
}

func (k *mlkemKE) Group() message.DHGroup { return message.DHMLKEM768 }
func (k *mlkemKE) Public() []byte         { return k.dk.EncapsulationKey().Bytes() }

func (k *mlkemKE) SharedSecret(ciphertext []byte) ([]byte, error) {
	if len(ciphertext) != mlkem768CiphertextLen {
		return nil, fmt.Errorf("%w: ML_KEM_768 ciphertext is %d bytes, want %d", ErrInvalidPeerKey, len(ciphertext), mlkem768CiphertextLen)
	}
	// A wrong ciphertext of the right length is not an error: FIPS 203
	// implicit rejection yields an unrelated secret, and the AUTH exchange
	// fails.
	z, err := k.dk.Decapsulate(ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: ML_KEM_768: %v", ErrInvalidPeerKey, err)
	}
	return z, nil
}

// Respond is the responder's side of a key exchange for group g given the
// initiator's Key Exchange Data: it returns the responder's Key Exchange
// Data and the shared secret. For Diffie-Hellman groups it generates a key
// pair and combines it with peer; for ML-KEM-768 it checks the
// encapsulation key (FIPS 203 7.2 modulus check) and encapsulates. Peer
// errors wrap ErrInvalidPeerKey.
func Respond(g message.DHGroup, peer []byte, rand io.Reader) (public, secret []byte, err error) {
	if g == message.DHMLKEM768 {
		if len(peer) != mlkem768PublicLen {
			return nil, nil, fmt.Errorf("%w: ML_KEM_768 encapsulation key is %d bytes, want %d", ErrInvalidPeerKey, len(peer), mlkem768PublicLen)
		}
		ek, err := mlkem.NewEncapsulationKey768(peer)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: ML_KEM_768: %v", ErrInvalidPeerKey, err)
		}
		secret, ct := ek.Encapsulate()
		return ct, secret, nil
	}
	k, err := NewKeyExchange(g, rand)
	if err != nil {
		return nil, nil, err
	}
	secret, err = k.SharedSecret(peer)
	if err != nil {
		return nil, nil, err
	}
	return k.Public(), secret, nil
}
