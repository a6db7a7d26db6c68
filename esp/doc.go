// Package esp encodes and decodes IPsec Encapsulating Security Payload
// packets (RFC 4303) protected with AES-GCM (RFC 4106), and keeps the
// receiver's anti-replay window as a bitmap of 64-bit blocks (RFC 6479),
// with Extended Sequence Numbers (RFC 4303 2.2.1, Appendix A). For
// decoding traffic of peers that chose it, it also speaks AES-CBC
// (RFC 3602) with HMAC-SHA-256/384/512 (RFC 4868).
//
// The daemon itself never moves ESP traffic: the kernel does, through the
// SAs package xfrm installs. This package serves the tests that decrypt
// traffic captured on a veth with the keys the daemon negotiated, and any
// userspace data path.
//
// # Packets
//
// An SA holds one direction of one ESP SA. Seal builds a whole ESP packet,
// from the SPI to the ICV, and Open takes one back, starting at the SPI.
// With AES-GCM:
//
//	SPI (4) | Sequence Number (4) | IV (8) | ciphertext | ICV (16)
//	ciphertext = payload | padding | Pad Length (1) | Next Header (1)
//
// The AES-GCM nonce is the 4-byte salt from the end of the key material
// followed by the 8-byte IV (RFC 4106 4). Seal uses the full 64-bit
// sequence number as the IV (RFC 4106 3.1: a counter is the natural
// choice), so an IV is never repeated under one key as long as the
// sequence number never repeats, which Seal enforces: it refuses to send
// past 2^32-1, or past 2^64-1 with ESN, instead of wrapping (RFC 4303
// 3.3.3). Open accepts whatever IV the peer chose. The additional data is
// the SPI and the 32-bit sequence number, or with ESN the SPI and both
// halves of the 64-bit number, high first (RFC 4106 5).
//
// An AES-CBC SA (NewCBCSA) carries a random 16-byte IV and a truncated
// HMAC-SHA-2 ICV computed over header, IV and ciphertext, with the high
// ESN half appended implicitly (RFC 4303 2.2.1); Open verifies it before
// decrypting.
//
// Padding follows RFC 4303 2.4: the fewest bytes that bring Pad Length and
// Next Header to the end of a 4-byte word (a 16-byte block for AES-CBC),
// holding 1, 2, 3, ... Open checks those values after the ICV has verified.
//
// # Anti-replay
//
// Open checks the sequence number against the window before it spends any
// work on decryption, and moves the window only once the ICV has verified
// and the trailer is well formed (RFC 4303 3.4.3), so forged packets never
// advance it. With ESN the high 32 bits are inferred from the low 32 on the
// wire and the window position (RFC 4303 Appendix A2); a wrong guess fails
// the ICV, because the high bits are part of the additional data. The
// resynchronisation of RFC 4303 A3 after long losses is not implemented: an
// SA that loses more than 2^32 packets in a row must be rekeyed.
//
// An SA is safe for concurrent use: sequence numbers are taken atomically
// and the window is guarded by a mutex that is not held during decryption.
//
// # Errors
//
// Every error about a packet is a *PacketError naming the SPI and, where it
// is known, the sequence number, and wraps one of ErrShortPacket,
// ErrWrongSPI, ErrReplay (ErrTooOld is a kind of it), ErrAuth,
// ErrBadPadding or ErrSeqExhausted, for errors.Is. No error text carries
// key material or plaintext.
package esp
