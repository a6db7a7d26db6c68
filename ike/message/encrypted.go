package message

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// Encrypted is the Encrypted and Authenticated payload, SK (RFC 7296 3.14).
// The codec does not look inside: Data is Initialization Vector ||
// Encrypted IKE Payloads (with padding and Pad Length) || Integrity Checksum
// Data, exactly as on the wire.
type Encrypted struct {
	// FirstInner is the SK payload's Next Payload field: the type of the
	// first payload inside the ciphertext (PayloadNone if it is empty).
	FirstInner PayloadType
	Data       []byte
	// Offset is where the SK generic payload header starts in Message.Raw.
	// DecodeMessage sets it; encoding ignores it.
	Offset int
}

// Type implements Payload.
func (*Encrypted) Type() PayloadType { return PayloadSK }

func (e *Encrypted) bodyLen() int { return len(e.Data) }

func (e *Encrypted) marshalBody(b *cryptobyte.Builder) { b.AddBytes(e.Data) }

// EncryptedFragment is the Encrypted and Authenticated Fragment payload, SKF
// (RFC 7383 2.5). Data is opaque like Encrypted.Data.
type EncryptedFragment struct {
	// FirstInner is the type of the first inner payload in fragment 1 and
	// PayloadNone in every other fragment (RFC 7383 2.5).
	FirstInner PayloadType
	Number     uint16 // Fragment Number, 1..Total
	Total      uint16 // Total Fragments
	Data       []byte
	// Offset is where the SKF generic payload header starts in Message.Raw.
	Offset int
}

// Type implements Payload.
func (*EncryptedFragment) Type() PayloadType { return PayloadSKF }

func (f *EncryptedFragment) bodyLen() int { return 4 + len(f.Data) }

func (f *EncryptedFragment) marshalBody(b *cryptobyte.Builder) {
	if err := checkFragment(f.Number, f.Total); err != nil {
		b.SetError(err)
		return
	}
	b.AddUint16(f.Number)
	b.AddUint16(f.Total)
	b.AddBytes(f.Data)
}

// checkFragment applies RFC 7383 2.5: neither field is zero and the number
// does not exceed the total.
func checkFragment(number, total uint16) error {
	if number == 0 || total == 0 || number > total {
		return syntaxf("fragment %d of %d", number, total)
	}
	return nil
}

func decodeEncryptedFragment(body []byte, first PayloadType, offset int) (*EncryptedFragment, error) {
	s := cryptobyte.String(body)
	f := &EncryptedFragment{FirstInner: first, Offset: offset}
	if !s.ReadUint16(&f.Number) || !s.ReadUint16(&f.Total) {
		return nil, syntaxf("SKF payload of %d bytes", len(body))
	}
	if err := checkFragment(f.Number, f.Total); err != nil {
		return nil, err
	}
	f.Data = orNil(s)
	return f, nil
}

// Sealer encrypts and integrity-protects the inner payloads of an SK or SKF
// payload. The IKE engine implements it with the keys of the IKE SA; the
// codec calls it once the lengths of the message are known, so that the
// associated data it passes is final.
type Sealer interface {
	// SealedLen returns the exact length of IV || ciphertext || ICV that
	// Seal produces for a plaintext of n bytes (padding and Pad Length
	// included, RFC 7296 3.14).
	SealedLen(n int) int
	// Seal pads and encrypts plaintext and appends IV || ciphertext || ICV
	// to aad, returning the extended slice. aad is the message from the
	// first byte of the IKE header through the end of the SK payload header
	// (SKF: through Total Fragments), with every length field final. An
	// AEAD uses it as associated data (RFC 5282 5.1); an encrypt-then-MAC
	// suite computes the ICV over aad || IV || ciphertext (RFC 7296 3.14).
	Seal(aad, plaintext []byte) ([]byte, error)
}

// EncodeEncrypted encodes m with an SK payload carrying inner: m.Payloads
// are the unencrypted payloads before SK (usually none) and must not contain
// SK or SKF. It encodes inner with EncodePayloads, asks s for the sealed
// length, writes the IKE header and the SK header with final lengths and
// lets s append the sealed data.
func (m *Message) EncodeEncrypted(inner []Payload, s Sealer) ([]byte, error) {
	plaintext, err := EncodePayloads(inner)
	if err != nil {
		return nil, err
	}
	return m.seal(FirstType(inner), 0, 0, false, plaintext, s)
}

// EncodeFragment encodes m with an SKF payload (RFC 7383 2.5) carrying chunk,
// one piece of the encoded inner payloads of the original message. firstInner
// is the type of the first inner payload for fragment 1 and PayloadNone for
// the others.
func (m *Message) EncodeFragment(firstInner PayloadType, number, total uint16, chunk []byte, s Sealer) ([]byte, error) {
	return m.seal(firstInner, number, total, true, chunk, s)
}

func (m *Message) seal(first PayloadType, number, total uint16, frag bool, plaintext []byte, s Sealer) ([]byte, error) {
	sealedLen := s.SealedLen(len(plaintext))
	var prefix []byte
	var err error
	n, err := m.encryptedLen(frag, sealedLen)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 0, n)
	if frag {
		prefix, err = m.AppendSKFHeader(buf, first, number, total, sealedLen)
	} else {
		prefix, err = m.AppendSKHeader(buf, first, sealedLen)
	}
	if err != nil {
		return nil, err
	}
	out, err := s.Seal(prefix, plaintext)
	if err != nil {
		return nil, fmt.Errorf("message: sealing %v: %w", m.Header.Exchange, err)
	}
	if len(out) != n {
		return nil, fmt.Errorf("message: sealer produced %d bytes, announced %d", len(out)-len(prefix), sealedLen)
	}
	return out, nil
}

// encryptedLen is the total length of m with an SK (or SKF) payload of
// sealedLen bytes of data.
func (m *Message) encryptedLen(frag bool, sealedLen int) (int, error) {
	n, err := chainLen(m.Payloads, false)
	if err != nil {
		return 0, err
	}
	if sealedLen < 0 {
		return 0, fmt.Errorf("message: negative sealed length %d", sealedLen)
	}
	skLen := genericHeaderLen + sealedLen
	if frag {
		skLen += 4
	}
	if skLen > 0xffff {
		return 0, fmt.Errorf("message: encrypted payload length %d exceeds 65535", skLen)
	}
	return HeaderLen + n + skLen, nil
}

// AppendSKHeader is the first step of the two-step encoding of an encrypted
// message: it appends to dst the IKE header, the unencrypted payloads
// m.Payloads and the SK generic payload header, with the Length fields set
// for sealedLen bytes of IV || ciphertext || ICV to follow. The appended
// bytes are the associated data of RFC 5282 5.1; the caller then appends
// the sealed data itself (and, for encrypt-then-MAC, the ICV over
// everything before it).
func (m *Message) AppendSKHeader(dst []byte, firstInner PayloadType, sealedLen int) ([]byte, error) {
	return m.appendEncryptedHeader(dst, firstInner, 0, 0, false, sealedLen)
}

// AppendSKFHeader is AppendSKHeader for an SKF payload (RFC 7383 2.5); the
// appended bytes end after Total Fragments.
func (m *Message) AppendSKFHeader(dst []byte, firstInner PayloadType, number, total uint16, sealedLen int) ([]byte, error) {
	if err := checkFragment(number, total); err != nil {
		return nil, err
	}
	return m.appendEncryptedHeader(dst, firstInner, number, total, true, sealedLen)
}

func (m *Message) appendEncryptedHeader(dst []byte, first PayloadType, number, total uint16, frag bool, sealedLen int) ([]byte, error) {
	n, err := m.encryptedLen(frag, sealedLen)
	if err != nil {
		return nil, err
	}
	b := cryptobyte.NewBuilder(dst)
	typ := PayloadSK
	if frag {
		typ = PayloadSKF
	}
	firstOuter := typ
	if len(m.Payloads) > 0 {
		firstOuter = m.Payloads[0].Type()
	}
	marshalHeader(b, &m.Header, firstOuter, n)
	// The unencrypted chain: its last Next Payload names the SK payload.
	marshalChain(b, m.Payloads, typ)
	skLen := genericHeaderLen + sealedLen
	if frag {
		skLen += 4
	}
	b.AddUint8(uint8(first))
	b.AddUint8(0)
	b.AddUint16(uint16(skLen))
	if frag {
		b.AddUint16(number)
		b.AddUint16(total)
	}
	return b.Bytes()
}
