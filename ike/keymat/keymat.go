package keymat

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/ike/suite"
)

// PRFPlus returns the first n octets of prf+(key, seed) (RFC 7296 2.13):
//
//	prf+ (K,S) = T1 | T2 | T3 | T4 | ...
//	T1 = prf (K, S | 0x01)
//	T2 = prf (K, T1 | S | 0x02)
//	...
//
// The counter is one octet, so at most 255 blocks can be produced.
func PRFPlus(prf *suite.PRF, key, seed []byte, n int) ([]byte, error) {
	if prf == nil {
		return nil, errors.New("keymat: nil PRF")
	}
	if n < 0 || n > 255*prf.Size() {
		return nil, fmt.Errorf("keymat: prf+ of %d octets exceeds 255 blocks of %d", n, prf.Size())
	}
	out := make([]byte, 0, n+prf.Size())
	h := prf.New(key)
	var prev []byte
	for i := 1; len(out) < n; i++ {
		h.Reset()
		h.Write(prev)
		h.Write(seed)
		h.Write([]byte{byte(i)})
		out = h.Sum(out)
		prev = out[len(out)-prf.Size():]
	}
	return out[:n:n], nil
}

// SKEYSEED returns prf(Ni | Nr, g^ir) (RFC 7296 2.14). The nonces are used
// whole: the 64-bit truncation RFC 7296 prescribes for AES-XCBC/CMAC PRFs
// does not apply to the HMAC PRFs cygnet implements.
func SKEYSEED(prf *suite.PRF, ni, nr, gir []byte) []byte {
	key := make([]byte, 0, len(ni)+len(nr))
	key = append(append(key, ni...), nr...)
	return prf.Sum(key, gir)
}

// RekeySKEYSEED returns prf(SK_d (old), g^ir (new) | Ni | Nr) for an IKE SA
// rekeyed with CREATE_CHILD_SA (RFC 7296 2.18). prf is the OLD IKE SA's
// PRF: "Because the rekeying exchange belongs to the old IKE SA, it is the
// old IKE SA's PRF that is used to generate SKEYSEED"; the keys are then
// derived with DeriveIKE and the new SA's suite.
func RekeySKEYSEED(oldPRF *suite.PRF, oldSKd, gir, ni, nr []byte) []byte {
	return oldPRF.Sum(oldSKd, gir, ni, nr)
}

// IKEKeys are the seven secrets of an IKE SA (RFC 7296 2.14). Keys named
// ...i protect what the original initiator sends, ...r the other direction.
type IKEKeys struct {
	SKd  []byte // derives CHILD_SA keys and the next IKE SA's SKEYSEED
	SKai []byte // integrity, initiator to responder (empty with AEAD)
	SKar []byte // integrity, responder to initiator (empty with AEAD)
	SKei []byte // encryption, initiator to responder (AES-GCM: key | salt)
	SKer []byte // encryption, responder to initiator
	SKpi []byte // the initiator's AUTH payload (RFC 7296 2.15)
	SKpr []byte // the responder's AUTH payload
}

// DeriveIKE splits {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} =
// prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) (RFC 7296 2.14) with the lengths of
// the IKE suite s: SK_d, SK_pi, SK_pr the PRF's preferred key length, SK_a*
// the integrity key length (0 for AEAD), SK_e* the encryption key length
// (for AES-GCM the AES key plus the 4-octet salt, RFC 5282 7.1). spii and
// spir are the 8-octet IKE SPIs of the SA being keyed.
func DeriveIKE(s suite.Suite, skeyseed, ni, nr, spii, spir []byte) (*IKEKeys, error) {
	if s.Protocol != message.ProtoIKE {
		return nil, fmt.Errorf("keymat: IKE keys for a %v suite", s.Protocol)
	}
	if len(spii) != 8 || len(spir) != 8 {
		return nil, fmt.Errorf("keymat: IKE SPIs of %d and %d octets, want 8", len(spii), len(spir))
	}
	prf, err := s.NewPRF()
	if err != nil {
		return nil, fmt.Errorf("keymat: %w", err)
	}
	elen, err := s.EncrKeyLen()
	if err != nil {
		return nil, fmt.Errorf("keymat: %w", err)
	}
	ilen, err := s.IntegKeyLen()
	if err != nil {
		return nil, fmt.Errorf("keymat: %w", err)
	}
	plen := prf.KeySize()
	seed := make([]byte, 0, len(ni)+len(nr)+16)
	seed = append(append(append(append(seed, ni...), nr...), spii...), spir...)
	km, err := PRFPlus(prf, skeyseed, seed, 3*plen+2*ilen+2*elen)
	if err != nil {
		return nil, err
	}
	next := func(n int) []byte {
		k := km[:n:n]
		km = km[n:]
		return k
	}
	return &IKEKeys{
		SKd:  next(plen),
		SKai: next(ilen),
		SKar: next(ilen),
		SKei: next(elen),
		SKer: next(elen),
		SKpi: next(plen),
		SKpr: next(plen),
	}, nil
}

// NewIKE derives the keys of a new IKE SA from its IKE_SA_INIT exchange:
// SKEYSEED from the nonces and g^ir, then DeriveIKE.
func NewIKE(s suite.Suite, gir, ni, nr, spii, spir []byte) (*IKEKeys, error) {
	prf, err := s.NewPRF()
	if err != nil {
		return nil, fmt.Errorf("keymat: %w", err)
	}
	return DeriveIKE(s, SKEYSEED(prf, ni, nr, gir), ni, nr, spii, spir)
}

// RekeyIKE derives the keys of the IKE SA that replaces one whose PRF is
// oldPRF and SK_d is oldSKd (RFC 7296 2.18): SKEYSEED with the old PRF, the
// split with the new suite, the new SPIs and the CREATE_CHILD_SA nonces.
func RekeyIKE(oldPRF *suite.PRF, oldSKd []byte, s suite.Suite, gir, ni, nr, spii, spir []byte) (*IKEKeys, error) {
	if oldPRF == nil {
		return nil, errors.New("keymat: nil PRF")
	}
	return DeriveIKE(s, RekeySKEYSEED(oldPRF, oldSKd, gir, ni, nr), ni, nr, spii, spir)
}

// Ciphers returns the SK payload ciphers of the IKE SA for this end: out
// protects what this end sends, in opens what it receives. initiator is
// whether this end is the ORIGINAL initiator of the IKE SA (RFC 7296 2.14:
// the keys follow the original roles, also after a rekey by the responder).
// rand supplies AES-CBC IVs.
func (k *IKEKeys) Ciphers(s suite.Suite, initiator bool, rand io.Reader) (out, in suite.SKCipher, err error) {
	ie, ia, re, ra := k.SKei, k.SKai, k.SKer, k.SKar
	if !initiator {
		ie, ia, re, ra = re, ra, ie, ia
	}
	if out, err = s.NewSKCipher(ie, ia, rand); err != nil {
		return nil, nil, fmt.Errorf("keymat: %w", err)
	}
	if in, err = s.NewSKCipher(re, ra, rand); err != nil {
		return nil, nil, fmt.Errorf("keymat: %w", err)
	}
	return out, in, nil
}

// Clear overwrites the keys. Go may have copied them elsewhere; this only
// shortens the life of the copies cygnet controls.
func (k *IKEKeys) Clear() {
	for _, b := range [][]byte{k.SKd, k.SKai, k.SKar, k.SKei, k.SKer, k.SKpi, k.SKpr} {
		clear(b)
	}
}

// ChildKeys are the keys of one CHILD_SA pair (RFC 7296 2.17). I keys
// protect traffic from the initiator of the exchange that created the
// CHILD_SA to the responder (the SA the responder installs inbound), R
// keys the other direction. For ESP AES-GCM an encryption key is the AES
// key followed by the 4-octet salt (RFC 4106 8.1), which is what the
// kernel's rfc4106(gcm(aes)) takes; Integ keys are then empty.
type ChildKeys struct {
	EncrI, IntegI []byte
	EncrR, IntegR []byte
}

// DeriveChild returns KEYMAT = prf+(SK_d, Ni | Nr), or with PFS
// prf+(SK_d, g^ir (new) | Ni | Nr), split for the ESP suite child (RFC 7296
// 2.17): initiator-to-responder encryption then integrity key, then the
// same for responder-to-initiator. prf and skd are the IKE SA's; ni and nr
// are the nonces of the exchange that creates the CHILD_SA (IKE_SA_INIT's
// for the CHILD_SA of IKE_AUTH). gir is nil without PFS.
func DeriveChild(prf *suite.PRF, skd []byte, child suite.Suite, gir, ni, nr []byte) (*ChildKeys, error) {
	if prf == nil {
		return nil, errors.New("keymat: nil PRF")
	}
	if child.Protocol != message.ProtoESP {
		return nil, fmt.Errorf("keymat: CHILD_SA keys for a %v suite", child.Protocol)
	}
	elen, err := child.EncrKeyLen()
	if err != nil {
		return nil, fmt.Errorf("keymat: %w", err)
	}
	ilen, err := child.IntegKeyLen()
	if err != nil {
		return nil, fmt.Errorf("keymat: %w", err)
	}
	seed := make([]byte, 0, len(gir)+len(ni)+len(nr))
	seed = append(append(append(seed, gir...), ni...), nr...)
	km, err := PRFPlus(prf, skd, seed, 2*(elen+ilen))
	if err != nil {
		return nil, err
	}
	next := func(n int) []byte {
		k := km[:n:n]
		km = km[n:]
		return k
	}
	return &ChildKeys{EncrI: next(elen), IntegI: next(ilen), EncrR: next(elen), IntegR: next(ilen)}, nil
}

// Clear overwrites the keys.
func (k *ChildKeys) Clear() {
	for _, b := range [][]byte{k.EncrI, k.IntegI, k.EncrR, k.IntegR} {
		clear(b)
	}
}

// NonceLen is the nonce length cygnet sends: RFC 7296 2.10 asks for at
// least 128 bits and at least half the PRF's key size (32 octets for
// PRF_HMAC_SHA2_512); 32 octets satisfy both for every PRF cygnet
// implements, as strongSwan's default does.
const NonceLen = 32

// CheckNonce checks a peer's nonce data: 16 to 256 octets (RFC 7296 3.9),
// and at least half the negotiated PRF's key size (RFC 7296 2.10) when prf
// is known (nil before the proposal is chosen).
func CheckNonce(prf *suite.PRF, nonce []byte) error {
	if len(nonce) < 16 || len(nonce) > 256 {
		return fmt.Errorf("keymat: nonce of %d octets, want 16 to 256 (RFC 7296 3.9)", len(nonce))
	}
	if prf != nil && len(nonce) < prf.KeySize()/2 {
		return fmt.Errorf("keymat: nonce of %d octets is shorter than half the %v key (RFC 7296 2.10)", len(nonce), prf.ID())
	}
	return nil
}

// keyPad is the 17 ASCII octets RFC 7296 2.15 mixes into a shared secret,
// without a terminating NUL.
const keyPad = "Key Pad for IKEv2"

// SignedOctets returns the octets an AUTH payload covers (RFC 7296 2.15):
//
//	InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI
//	MACedIDForI = prf(SK_pi, RestOfInitIDPayload)
//
// and symmetrically for the responder (RealMessage2 | NonceIData |
// prf(SK_pr, RestOfRespIDPayload)). realMessage is the sender's
// IKE_SA_INIT message exactly as sent; nonce is the PEER's nonce data;
// skp is the sender's SK_p; idBody is the sender's ID payload from the ID
// Type octet to the end (the payload without its 4-octet generic header).
func SignedOctets(prf *suite.PRF, realMessage, nonce, skp, idBody []byte) []byte {
	mac := prf.Sum(skp, idBody)
	out := make([]byte, 0, len(realMessage)+len(nonce)+len(mac))
	return append(append(append(out, realMessage...), nonce...), mac...)
}

// PSKAuth returns the AUTH data for shared-key authentication (RFC 7296
// 2.15): prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>).
func PSKAuth(prf *suite.PRF, psk, signedOctets []byte) []byte {
	return prf.Sum(prf.Sum(psk, []byte(keyPad)), signedOctets)
}

// VerifyPSKAuth reports, in constant time, whether auth is the AUTH data
// for psk over signedOctets.
func VerifyPSKAuth(prf *suite.PRF, psk, signedOctets, auth []byte) bool {
	return subtle.ConstantTimeCompare(PSKAuth(prf, psk, signedOctets), auth) == 1
}
