// Package message is cygnet's IKEv2 wire codec: the IKE header, the payload
// chain and every payload of RFC 7296 (section 3), the Encrypted Fragment
// payload of RFC 7383, and the hash algorithm registry of RFC 7427, with the
// IANA numbers as typed constants whose String methods print the RFC names.
// It does no cryptography and no I/O. Marshalling uses cryptobyte Builders
// and unmarshalling cryptobyte Strings, as crypto/tls does.
//
// # Decoding
//
//	m, err := message.DecodeMessage(datagram) // Header, Payloads, Raw
//	h, err := message.DecodeHeader(datagram)  // header only, for SPI lookup
//
// m.Raw is a private copy of the datagram; decoded payloads alias it, and
// IKE_AUTH signs it (RFC 7296 2.15). Payloads are the concrete pointer types
// *SA, *KE, *IDi, *IDr, *Cert, *CertReq, *Auth, *Nonce, *Notify, *Delete,
// *VendorID, *TSi, *TSr, *Config (CP), *EAP, *Encrypted (SK),
// *EncryptedFragment (SKF) and *Unknown for any other type. Payloads.First, Payloads.Notify and
// Payloads.Notifies look them up.
//
// The parser never chooses the protocol reply. Errors are typed: anything
// malformed wraps ErrSyntax (INVALID_SYNTAX or drop, RFC 7296 2.21); an
// unknown payload with the critical bit set is *UnsupportedCriticalError
// (UNSUPPORTED_CRITICAL_PAYLOAD); a major version other than 2 is
// *VersionError (INVALID_MAJOR_VERSION). Unknown non-critical payloads are
// kept as *Unknown. Whenever the header parsed, DecodeMessage returns the
// *Message with Header and Raw even on error.
//
// # Protected messages
//
// The SK payload is opaque: *Encrypted holds FirstInner (the type of the
// first inner payload) and Data = IV || ciphertext || ICV. To open a
// received message the engine takes m.AssociatedData() (the IKE header
// through the SK payload header, RFC 5282 5.1), decrypts m.Encrypted().Data,
// strips the padding and calls
//
//	inner, err := message.DecodePayloads(m.Encrypted().FirstInner, plaintext)
//
// To build one it implements Sealer (SealedLen and Seal) with the SA's keys:
//
//	m := &message.Message{Header: h}
//	out, err := m.EncodeEncrypted(innerPayloads, sealer)
//
// which encodes the inner payloads, asks the sealer for the sealed length,
// writes the header and SK header with final lengths and lets the sealer
// append IV || ciphertext || ICV, with the prefix as associated data (AEAD)
// or as the start of the ICV input (encrypt-then-MAC). The same steps are
// available separately: EncodePayloads, then AppendSKHeader(dst, first,
// sealedLen), then the caller appends the sealed bytes.
//
// # Fragments (RFC 7383)
//
// Message.EncodeFragments(inner, maxLen, sealer) splits the encoded inner
// payloads into SKF messages of at most maxLen bytes, each sealed with its
// own header (through Total Fragments) as associated data; EncodeFragment and
// AppendSKFHeader do one fragment. On receipt the engine opens each
// m.Fragment() with m.AssociatedData() and feeds the plaintext to a
// Reassembly, whose Payloads method decodes the whole chain once Add
// reports completion.
//
// # Helpers
//
// Message.String and Payloads.String give log summaries such as
// "IKE_SA_INIT request 0 [ SA KE Nonce N(COOKIE) ]". IDi/IDr.RestOfPayload
// return the bytes RFC 7296 2.15 puts into the AUTH computation.
// EncodeHashAlgorithms/DecodeHashAlgorithms (RFC 7427 4), InvalidKEData and
// UnsupportedCriticalError.Notify build and read notification data.
//
// # Encoding
//
// Message.Encode computes the header's Next Payload and Length from the
// payloads; each generic header's Next Payload names its successor.
package message
