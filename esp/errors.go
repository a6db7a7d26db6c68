package esp

import (
	"fmt"
	"strconv"
)

// kind is the type of the sentinel errors. A kind can name a parent, so a
// more precise kind still matches the general one under errors.Is.
type kind struct {
	msg    string
	parent error
}

func (k *kind) Error() string { return "esp: " + k.msg }

// Is reports whether target is k's parent, so that errors.Is(ErrTooOld,
// ErrReplay) holds.
func (k *kind) Is(target error) bool { return k.parent != nil && target == k.parent }

// Sentinel errors, matched with errors.Is.
var (
	// ErrShortPacket: the packet cannot hold the ESP header, IV, trailer
	// and ICV.
	ErrShortPacket error = &kind{msg: "packet too short"}
	// ErrWrongSPI: the packet's SPI is not this SA's.
	ErrWrongSPI error = &kind{msg: "spi does not match this sa"}
	// ErrReplay: the sequence number was already accepted, or lies behind
	// the replay window (then the error is also ErrTooOld).
	ErrReplay error = &kind{msg: "replayed packet"}
	// ErrTooOld: the sequence number lies behind the replay window
	// (RFC 4303 3.4.3). It matches ErrReplay as well. With ESN a number
	// behind the window is read as one in the next 2^32 block
	// (RFC 4303 A2), so such a packet fails with ErrAuth instead.
	ErrTooOld error = &kind{msg: "sequence number behind replay window", parent: ErrReplay}
	// ErrAuth: the ICV did not verify (RFC 4303 3.4.4): wrong key, forged
	// or damaged packet, or with ESN a wrong guess of the high 32 bits.
	ErrAuth error = &kind{msg: "integrity check failed"}
	// ErrBadPadding: the decrypted trailer is inconsistent: a Pad Length
	// longer than the data, or padding bytes other than 1, 2, 3, ...
	// (RFC 4303 2.4).
	ErrBadPadding error = &kind{msg: "bad padding"}
	// ErrSeqExhausted: Seal would have to reuse a sequence number, and with
	// it an AES-GCM nonce (RFC 4303 3.3.3). The SA must be rekeyed.
	ErrSeqExhausted error = &kind{msg: "sequence number space exhausted"}
)

// PacketError reports why a packet was refused. SPI is the SPI the packet
// carried (0 if it was too short to have one) and Seq its full sequence
// number (0 if it was not determined; 0 is never a valid sequence number).
type PacketError struct {
	SPI    uint32
	Seq    uint64
	Err    error  // one of the sentinel errors
	Detail string // extra explanation, may be empty
}

func (e *PacketError) Error() string {
	b := make([]byte, 0, 96)
	b = append(b, "esp: "...)
	if e.SPI != 0 {
		b = append(b, "spi 0x"...)
		b = appendHex32(b, e.SPI)
	}
	if e.Seq != 0 {
		b = append(b, " seq "...)
		b = strconv.AppendUint(b, e.Seq, 10)
	}
	if e.SPI != 0 || e.Seq != 0 {
		b = append(b, ": "...)
	}
	if k, ok := e.Err.(*kind); ok {
		b = append(b, k.msg...)
	} else {
		b = append(b, fmt.Sprint(e.Err)...)
	}
	if e.Detail != "" {
		b = append(b, " ("...)
		b = append(b, e.Detail...)
		b = append(b, ')')
	}
	return string(b)
}

// Unwrap returns the sentinel error.
func (e *PacketError) Unwrap() error { return e.Err }

// appendHex32 writes v as 8 lower-case hex digits: SPIs are conventionally
// shown zero-padded, as `ip xfrm state` does.
func appendHex32(b []byte, v uint32) []byte {
	const digits = "0123456789abcdef"
	for shift := 28; shift >= 0; shift -= 4 {
		b = append(b, digits[(v>>uint(shift))&0xf])
	}
	return b
}
