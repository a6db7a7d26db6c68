// Package keymat derives IKEv2 key material (RFC 7296 2.13-2.18): prf+,
// SKEYSEED, the seven IKE SA secrets, the keys of a rekeyed IKE SA, CHILD_SA
// KEYMAT with and without PFS, and shared-key AUTH (RFC 7296 2.15).
//
// The negotiated algorithms come from package suite; keymat only arranges
// the inputs and splits the output:
//
//	PRFPlus(prf, key, seed, n) ([]byte, error)             // RFC 7296 2.13
//	SKEYSEED(prf, ni, nr, gir) []byte                       // prf(Ni | Nr, g^ir)
//	RekeySKEYSEED(oldPRF, oldSKd, gir, ni, nr) []byte       // prf(SK_d (old), g^ir (new) | Ni | Nr)
//	DeriveIKE(s, skeyseed, ni, nr, spii, spir) (*IKEKeys, error)
//	NewIKE(s, gir, ni, nr, spii, spir) (*IKEKeys, error)   // SKEYSEED + DeriveIKE
//	RekeyIKE(oldPRF, oldSKd, s, gir, ni, nr, spii, spir) (*IKEKeys, error)
//	(*IKEKeys).Ciphers(s, initiator, rand) (out, in suite.SKCipher, error)
//	DeriveChild(prf, skd, child, gir, ni, nr) (*ChildKeys, error)
//	SignedOctets(prf, realMessage, peerNonce, skp, idBody) []byte
//	PSKAuth(prf, psk, signedOctets) []byte
//	VerifyPSKAuth(prf, psk, signedOctets, auth) bool       // constant time
//	NonceLen, CheckNonce(prf, nonce) error                  // RFC 7296 2.10, 3.9
//
// Key lengths follow the suite: SK_d, SK_pi and SK_pr are the PRF's
// preferred key length, SK_a* the integrity key length (none with AEAD),
// SK_e* the cipher's key length, which for AES-GCM includes the 4-octet
// salt (RFC 5282 7.1 for IKE; RFC 4106 8.1 for ESP): 36 octets for
// AES-GCM-256. ESP keys are split initiator-to-responder first, encryption
// before integrity (RFC 7296 2.17).
//
// Secrets never appear in errors. Clear methods overwrite derived keys when
// an SA is deleted.
package keymat
