package message

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// genericHeaderLen is the length of the generic payload header (RFC 7296 3.2).
const genericHeaderLen = 4

// criticalBit is the C bit of the generic payload header (RFC 7296 3.2).
const criticalBit = 0x80

// Payload is one IKE payload. The concrete types are the pointer types of
// this package (*SA, *KE, *Notify, ...); a type switch selects them.
// Payloads of a type the codec does not implement decode as *Unknown.
type Payload interface {
	// Type is the payload type written into the preceding Next Payload field.
	Type() PayloadType
	// bodyLen is the length of the payload without the generic header.
	bodyLen() int
	// marshalBody writes the payload without the generic header. It reports
	// invalid field values with b.SetError.
	marshalBody(b *cryptobyte.Builder)
}

// Payloads is a payload chain in wire order.
type Payloads []Payload

// First returns the first payload of type t, or nil.
func (ps Payloads) First(t PayloadType) Payload {
	for _, p := range ps {
		if p.Type() == t {
			return p
		}
	}
	return nil
}

// Count returns the number of payloads of type t.
func (ps Payloads) Count(t PayloadType) int {
	n := 0
	for _, p := range ps {
		if p.Type() == t {
			n++
		}
	}
	return n
}

// Notify returns the first Notify payload of type t, or nil.
func (ps Payloads) Notify(t NotifyType) *Notify {
	for _, p := range ps {
		if n, ok := p.(*Notify); ok && n.NotifyType == t {
			return n
		}
	}
	return nil
}

// Notifies returns every Notify payload in order.
func (ps Payloads) Notifies() []*Notify {
	var out []*Notify
	for _, p := range ps {
		if n, ok := p.(*Notify); ok {
			out = append(out, n)
		}
	}
	return out
}

// EncodePayloads encodes ps as a payload chain: each generic header's Next
// Payload names the payload after it, the last one says PayloadNone. The
// type of the chain's first payload, needed by whoever carries the chain
// (the IKE header, or the SK payload for encrypted payloads), is
// ps[0].Type(), or PayloadNone for an empty chain. SK and SKF payloads are
// not allowed here: build encrypted messages with Message.EncodeEncrypted.
func EncodePayloads(ps []Payload) ([]byte, error) {
	n, err := chainLen(ps, false)
	if err != nil {
		return nil, err
	}
	b := cryptobyte.NewFixedBuilder(make([]byte, 0, n))
	marshalChain(b, ps, PayloadNone)
	return b.Bytes()
}

// AppendPayloads is EncodePayloads appending to dst.
func AppendPayloads(dst []byte, ps []Payload) ([]byte, error) {
	if _, err := chainLen(ps, false); err != nil {
		return nil, err
	}
	b := cryptobyte.NewBuilder(dst)
	marshalChain(b, ps, PayloadNone)
	return b.Bytes()
}

// FirstType returns the payload type that announces the chain ps: the type
// of its first payload, or PayloadNone when ps is empty.
func FirstType(ps []Payload) PayloadType {
	if len(ps) == 0 {
		return PayloadNone
	}
	return ps[0].Type()
}

// DecodePayloads parses a payload chain whose first payload has type first,
// such as the plaintext of a decrypted SK payload (first is then the SK
// payload's FirstInner). The chain must end exactly at the end of b. SK and
// SKF payloads are a syntax error here. A payload type the codec does not
// know decodes as *Unknown, or fails with *UnsupportedCriticalError when its
// critical bit is set. The returned payloads alias b.
func DecodePayloads(first PayloadType, b []byte) (Payloads, error) {
	return decodeChain(b, 0, first, false)
}

// chainLen returns the encoded length of the chain ps.
func chainLen(ps []Payload, outer bool) (int, error) {
	n := 0
	for i, p := range ps {
		if p == nil {
			return 0, fmt.Errorf("message: nil payload at index %d", i)
		}
		switch p.Type() {
		case PayloadNone:
			return 0, fmt.Errorf("message: payload at index %d has type NONE", i)
		case PayloadSK, PayloadSKF:
			if _, ok := p.(*Unknown); ok {
				return 0, fmt.Errorf("message: raw payload at index %d cannot have type %v", i, p.Type())
			}
			if !outer {
				return 0, fmt.Errorf("message: %v payload inside a payload chain", p.Type())
			}
			if i != len(ps)-1 {
				// RFC 7296 3.14, RFC 7383 2.5: it must be the last payload.
				return 0, fmt.Errorf("message: %v payload is not the last payload", p.Type())
			}
		}
		l := genericHeaderLen + p.bodyLen()
		if l > 0xffff {
			return 0, fmt.Errorf("message: %v payload length %d exceeds 65535", p.Type(), l)
		}
		n += l
	}
	return n, nil
}

// marshalChain writes ps; chainLen must have accepted it. after is the Next
// Payload of the last payload (PayloadNone unless an SK payload follows).
func marshalChain(b *cryptobyte.Builder, ps []Payload, after PayloadType) {
	for i, p := range ps {
		next := after
		if i+1 < len(ps) {
			next = ps[i+1].Type()
		}
		var flags uint8
		switch p := p.(type) {
		case *Encrypted:
			next = p.FirstInner
		case *EncryptedFragment:
			next = p.FirstInner
		case *Unknown:
			if p.Critical {
				flags = criticalBit
			}
		}
		bodyLen := p.bodyLen()
		b.AddUint8(uint8(next))
		b.AddUint8(flags)
		b.AddUint16(uint16(genericHeaderLen + bodyLen))
		before, err := b.Bytes()
		if err != nil {
			return
		}
		p.marshalBody(b)
		after, err := b.Bytes()
		if err != nil {
			return
		}
		if got := len(after) - len(before); got != bodyLen {
			b.SetError(fmt.Errorf("message: internal error: %v body is %d bytes, expected %d", p.Type(), got, bodyLen))
			return
		}
	}
}

// decodeChain parses a payload chain from b. base is the offset of b inside
// the whole message, recorded in SK and SKF payloads. outer allows a final
// SK or SKF payload (the unencrypted chain of a message).
func decodeChain(b []byte, base int, first PayloadType, outer bool) (Payloads, error) {
	// Most messages carry a handful of payloads; one allocation covers them.
	var ps Payloads
	if first != PayloadNone {
		ps = make(Payloads, 0, 8)
	}
	s := cryptobyte.String(b)
	next := first
	for next != PayloadNone {
		offset := base + len(b) - len(s)
		var nextNext, flags uint8
		var length uint16
		if !s.ReadUint8(&nextNext) || !s.ReadUint8(&flags) || !s.ReadUint16(&length) {
			return nil, syntaxf("%v payload header truncated at offset %d", next, offset)
		}
		if length < genericHeaderLen {
			return nil, syntaxf("%v payload length %d shorter than its header", next, length)
		}
		var body []byte
		if !s.ReadBytes(&body, int(length)-genericHeaderLen) {
			return nil, syntaxf("%v payload length %d exceeds the %d bytes left", next, length, len(s)+genericHeaderLen)
		}
		typ := next
		next = PayloadType(nextNext)
		var (
			p   Payload
			err error
		)
		switch typ {
		case PayloadSK, PayloadSKF:
			if !outer {
				return nil, syntaxf("%v payload inside a payload chain", typ)
			}
			if !s.Empty() {
				// RFC 7296 3.14: the Encrypted payload is the last one; its
				// Next Payload names the first inner payload, not a
				// successor in this chain.
				return nil, syntaxf("%d bytes after the %v payload", len(s), typ)
			}
			if typ == PayloadSK {
				p = &Encrypted{FirstInner: next, Data: orNil(body), Offset: offset}
			} else {
				p, err = decodeEncryptedFragment(body, next, offset)
			}
			next = PayloadNone
		default:
			p, err = decodeBody(typ, body)
			if p == nil && err == nil {
				if flags&criticalBit != 0 {
					// RFC 7296 2.5: reject the whole message.
					return nil, &UnsupportedCriticalError{Type: typ}
				}
				p = &Unknown{PayloadType: typ, Data: orNil(body)}
			}
		}
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	if !s.Empty() {
		return nil, syntaxf("%d bytes after the last payload", len(s))
	}
	return ps, nil
}

// decodeBody decodes the body of a payload of a type the codec implements,
// or returns (nil, nil) for any other type.
func decodeBody(t PayloadType, body []byte) (Payload, error) {
	switch t {
	case PayloadSA:
		return decodeSA(body)
	case PayloadKE:
		return decodeKE(body)
	case PayloadIDi:
		id, err := decodeID(t, body)
		if err != nil {
			return nil, err
		}
		return (*IDi)(id), nil
	case PayloadIDr:
		id, err := decodeID(t, body)
		if err != nil {
			return nil, err
		}
		return (*IDr)(id), nil
	case PayloadCERT:
		c, err := decodeCertLike(t, body)
		if err != nil {
			return nil, err
		}
		return (*Cert)(c), nil
	case PayloadCERTREQ:
		c, err := decodeCertLike(t, body)
		if err != nil {
			return nil, err
		}
		return (*CertReq)(c), nil
	case PayloadAUTH:
		return decodeAuth(body)
	case PayloadNonce:
		return decodeNonce(body)
	case PayloadNotify:
		return decodeNotify(body)
	case PayloadDelete:
		return decodeDelete(body)
	case PayloadVendor:
		return &VendorID{Data: orNil(body)}, nil
	case PayloadTSi:
		ts, err := decodeTS(t, body)
		if err != nil {
			return nil, err
		}
		return (*TSi)(ts), nil
	case PayloadTSr:
		ts, err := decodeTS(t, body)
		if err != nil {
			return nil, err
		}
		return (*TSr)(ts), nil
	case PayloadCP:
		return decodeConfig(body)
	case PayloadEAP:
		return decodeEAP(body)
	}
	return nil, nil
}

// Unknown is a payload of a type the codec does not implement (RFC 7296
// 3.2), kept as raw bytes. Encoding writes it back unchanged, with the
// critical bit when Critical is set.
type Unknown struct {
	PayloadType PayloadType
	Critical    bool
	Data        []byte // the payload body after the generic header
}

// Type implements Payload.
func (u *Unknown) Type() PayloadType { return u.PayloadType }

func (u *Unknown) bodyLen() int { return len(u.Data) }

func (u *Unknown) marshalBody(b *cryptobyte.Builder) { b.AddBytes(u.Data) }
