package message

import (
	"bytes"

	"golang.org/x/crypto/cryptobyte"
)

// Message is one IKE message: the header and the unencrypted payload chain.
// In a protected message the chain ends with an *Encrypted (SK) or
// *EncryptedFragment (SKF) payload whose content the engine decrypts and
// hands to DecodePayloads.
type Message struct {
	Header   Header
	Payloads Payloads
	// Raw is the message as received, set by DecodeMessage: a private copy
	// of its input that the decoded payloads alias. IKE_AUTH signs the raw
	// IKE_SA_INIT messages (RFC 7296 2.15) and the ICV covers the raw
	// bytes, so the engine works from Raw rather than re-encoding.
	Raw []byte
}

// DecodeMessage parses a whole IKE message: the header, whose Length must
// equal len(b), and the payload chain, which must end exactly at the end.
//
// Errors: a *VersionError for a major version other than 2, an
// *UnsupportedCriticalError for a critical payload of unknown type, and an
// error wrapping ErrSyntax for anything malformed. Whenever the header itself
// could be read the returned *Message is non-nil, with Header and Raw set
// (Payloads nil on error), so the exchange layer can decide whether and how
// to answer.
func DecodeMessage(b []byte) (*Message, error) {
	if len(b) < HeaderLen {
		return nil, syntaxf("message of %d bytes is shorter than the IKE header", len(b))
	}
	raw := bytes.Clone(b)
	h, err := DecodeHeader(raw)
	m := &Message{Header: h, Raw: raw}
	if err != nil {
		return m, err
	}
	if int64(h.Length) != int64(len(raw)) {
		return m, syntaxf("header length %d, message is %d bytes", h.Length, len(raw))
	}
	ps, err := decodeChain(raw[HeaderLen:], HeaderLen, h.NextPayload, true)
	if err != nil {
		return m, err
	}
	m.Payloads = ps
	return m, nil
}

// Len returns the encoded length of m.
func (m *Message) Len() (int, error) {
	n, err := chainLen(m.Payloads, true)
	if err != nil {
		return 0, err
	}
	return HeaderLen + n, nil
}

// Encode encodes m. The header's NextPayload and Length are computed from
// the payloads, not taken from m.Header. An *Encrypted or *EncryptedFragment
// payload (already sealed, e.g. for a retransmission) is written as is and
// must be last; to seal new content use EncodeEncrypted.
func (m *Message) Encode() ([]byte, error) {
	n, err := m.Len()
	if err != nil {
		return nil, err
	}
	return m.marshal(cryptobyte.NewFixedBuilder(make([]byte, 0, n)), n)
}

// Append is Encode appending to dst.
func (m *Message) Append(dst []byte) ([]byte, error) {
	n, err := m.Len()
	if err != nil {
		return nil, err
	}
	return m.marshal(cryptobyte.NewBuilder(dst), n)
}

func (m *Message) marshal(b *cryptobyte.Builder, n int) ([]byte, error) {
	marshalHeader(b, &m.Header, FirstType(m.Payloads), n)
	marshalChain(b, m.Payloads, PayloadNone)
	return b.Bytes()
}

// Encrypted returns the message's SK payload, or nil.
func (m *Message) Encrypted() *Encrypted {
	if len(m.Payloads) == 0 {
		return nil
	}
	e, _ := m.Payloads[len(m.Payloads)-1].(*Encrypted)
	return e
}

// Fragment returns the message's SKF payload, or nil.
func (m *Message) Fragment() *EncryptedFragment {
	if len(m.Payloads) == 0 {
		return nil
	}
	f, _ := m.Payloads[len(m.Payloads)-1].(*EncryptedFragment)
	return f
}

// AssociatedData returns the bytes of a decoded message that precede the
// sealed data of its SK or SKF payload: the IKE header through the end of
// the SK payload header (RFC 5282 5.1), or through Total Fragments for SKF
// (RFC 7383 2.5). It is nil when the message has neither or was not decoded.
func (m *Message) AssociatedData() []byte {
	if e := m.Encrypted(); e != nil && m.Raw != nil {
		return m.Raw[:e.Offset+genericHeaderLen]
	}
	if f := m.Fragment(); f != nil && m.Raw != nil {
		return m.Raw[:f.Offset+genericHeaderLen+4]
	}
	return nil
}
