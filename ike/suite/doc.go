// Package suite is cygnet's table of IKEv2 transforms and the cryptography
// behind them: proposal selection, the SK payload ciphers, PRFs and key
// exchanges (RFC 7296; RFC 5282 for AES-GCM in IKE, RFC 4868 for HMAC-SHA2,
// RFC 3526 / RFC 6989 for MODP groups, RFC 5903 for ECP groups, RFC 8031 for
// Curve25519).
//
// It depends only on ike/message's wire types, never on package ike.
//
// # Transform table
//
// Table lists every transform cygnet implements (AES-GCM-16 and AES-CBC
// with 128/192/256-bit keys, HMAC-SHA2 integrity and PRFs, PRF_HMAC_SHA1 for
// interoperability only, MODP 2048/3072/4096, ECP 256/384/521, Curve25519,
// ESN); Lookup, Supported and Name query it. Preferred lists transforms of a
// type in cygnet's own preference order, whose reasons are given where it is
// defined. DefaultIKE and DefaultESP are strongSwan 5.9's default proposals
// restricted to the table.
//
//	EncrTransform(id, bits), IntegTransform(id), PRFTransform(id), KETransform(g), ESNTransform(e)
//	NewProposal(num, proto, spi, transforms...) message.Proposal
//	Numbered(proto, spi, proposals) ([]message.Proposal, error)
//	Format(p) string        // "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384"
//	FormatList(ps) string   // proposals joined with ", "
//	FormatStatus(p) string  // "ipsec statusall" CHILD_SA form: "AES_GCM_16_256"
//
// # Negotiation
//
//	Select(local, remote []message.Proposal, opts ...Option) (message.Proposal, error) // responder
//	    options: PreferPeer(), IgnoreKE() (the CHILD_SA of IKE_AUTH)
//	WithoutKE(ps) []message.Proposal                              // the initiator's IKE_AUTH offer
//	CheckReply(offered []message.Proposal, reply message.Proposal) (Suite, error)      // initiator
//	FromProposal(p message.Proposal) (Suite, error)
//	FromLists(proto, encr, integ, prf, ke, esn) message.Proposal // from the ike.Proposal shape
//	Lists(p) (encr, integ, prf, ke, esn)                          // and back
//	Groups(ps) []message.DHGroup                                  // KE groups in offer order
//
// Select picks, as responder, in the local (configured) order, transform by
// transform, echoing the peer's Proposal Num and SPI; errors wrap
// ErrNoProposalChosen and print both sides' proposals. FromProposal turns
// the chosen proposal into a Suite, which knows its key lengths and builds
// its primitives:
//
//	s.EncrKeyLen(), s.IntegKeyLen()    // SK_e*/SK_a* and ESP key lengths (GCM: key + 4-octet salt)
//	s.NewPRF() (*PRF, error)           // PRF.Sum(key, data...), PRF.KeySize()
//	s.NewKeyExchange(rand) (KeyExchange, error)
//	s.NewSKCipher(encKey, integKey, rand) (SKCipher, error)
//
// # Key exchange
//
//	NewKeyExchange(g, rand) (KeyExchange, error)       // initiator, or responder of a DH group
//	Respond(g, peerPublic, rand) (public, secret, error) // responder, any group incl. ML-KEM
//	KeyExchangeFromPrivate(g, priv) (KeyExchange, error) // known answers and replays only
//	PublicLen(g) int
//
// KeyExchange.Public returns the KE payload data; SharedSecret validates the
// peer's (exact length; MODP 1 < y < p-1 per RFC 6989; ECP point on curve,
// x|y encoding per RFC 5903; X25519 non-zero result per RFC 8031) and
// returns g^ir as RFC 7296 2.14 wants it (ECP: x coordinate only). Errors
// wrap ErrInvalidPeerKey. ML-KEM-768 (FIPS 203) is available as a
// primitive but not negotiated: see mlkem.go.
//
// # SK payload
//
// SKCipher.Seal / Open protect the Encrypted payload body IV | ciphertext |
// ICV given the message bytes up to the payload header as associated data.
// AES-GCM uses a per-key counter as explicit IV; AES-CBC draws IVs from the
// injected io.Reader. Open errors wrap ErrAuthFailed on a bad ICV.
package suite
