package message

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// HeaderLen is the length of the fixed IKE header (RFC 7296 3.1).
const HeaderLen = 28

// MaxMessageLen is the largest length the 32-bit Length field may take in
// practice: an IKE message travels in one UDP datagram (RFC 7296 2).
const MaxMessageLen = 65535

// Header is the fixed IKE header (RFC 7296 3.1, Figure 4).
type Header struct {
	SPIi uint64 // IKE SA Initiator's SPI
	SPIr uint64 // IKE SA Responder's SPI; zero in the first IKE_SA_INIT request
	// NextPayload is the type of the first payload. Encode ignores it and
	// writes the type of the first payload it encodes.
	NextPayload PayloadType
	// MajorVersion and MinorVersion of the sender. Encode writes 2.0 when
	// both are zero.
	MajorVersion, MinorVersion uint8
	Exchange                   ExchangeType
	Flags                      Flags
	MessageID                  uint32
	// Length of the whole message including the header. Encode ignores it
	// and writes the real length.
	Length uint32
}

// IsResponse reports whether the Response flag is set.
func (h Header) IsResponse() bool { return h.Flags&FlagResponse != 0 }

// IsInitiator reports whether the Initiator flag is set, i.e. the sender is
// the original initiator of the IKE SA.
func (h Header) IsInitiator() bool { return h.Flags&FlagInitiator != 0 }

func (h Header) String() string {
	return fmt.Sprintf("%v %016x/%016x mid=%d flags=%v len=%d", h.Exchange, h.SPIi, h.SPIr, h.MessageID, h.Flags, h.Length)
}

// DecodeHeader parses the fixed IKE header at the start of b. It checks only
// the header itself: that b is long enough and that the major version is 2
// (a *VersionError otherwise, with the header still returned so the caller
// can answer INVALID_MAJOR_VERSION). It does not compare Length with len(b);
// DecodeMessage does.
func DecodeHeader(b []byte) (Header, error) {
	var h Header
	s := cryptobyte.String(b)
	var next, version, exch, flags uint8
	if !s.ReadUint64(&h.SPIi) || !s.ReadUint64(&h.SPIr) ||
		!s.ReadUint8(&next) || !s.ReadUint8(&version) ||
		!s.ReadUint8(&exch) || !s.ReadUint8(&flags) ||
		!s.ReadUint32(&h.MessageID) || !s.ReadUint32(&h.Length) {
		return h, syntaxf("header truncated: %d bytes, need %d", len(b), HeaderLen)
	}
	h.NextPayload = PayloadType(next)
	h.MajorVersion, h.MinorVersion = version>>4, version&0x0f
	h.Exchange = ExchangeType(exch)
	h.Flags = Flags(flags)
	if h.MajorVersion != 2 {
		return h, &VersionError{Major: h.MajorVersion, Minor: h.MinorVersion}
	}
	return h, nil
}

// marshalHeader writes h with the given first payload type and total length.
func marshalHeader(b *cryptobyte.Builder, h *Header, first PayloadType, length int) {
	major, minor := h.MajorVersion, h.MinorVersion
	if major == 0 && minor == 0 {
		major = 2
	}
	if major > 15 || minor > 15 {
		b.SetError(fmt.Errorf("message: version %d.%d does not fit the header", major, minor))
		return
	}
	if length > MaxMessageLen {
		b.SetError(fmt.Errorf("message: message length %d exceeds %d", length, MaxMessageLen))
		return
	}
	b.AddUint64(h.SPIi)
	b.AddUint64(h.SPIr)
	b.AddUint8(uint8(first))
	b.AddUint8(major<<4 | minor)
	b.AddUint8(uint8(h.Exchange))
	b.AddUint8(uint8(h.Flags))
	b.AddUint32(h.MessageID)
	b.AddUint32(uint32(length))
}
