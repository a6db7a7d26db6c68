package message

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// Substructure markers and attribute numbers of the SA payload (RFC 7296 3.3).
const (
	lastSubstruc     = 0
	moreProposals    = 2 // RFC 7296 3.3.1
	moreTransforms   = 3 // RFC 7296 3.3.2
	proposalHdrLen   = 8
	transformHdrLen  = 8
	attrFormatTV     = 0x8000 // AF bit: Type/Value, RFC 7296 3.3.5
	attrKeyLength    = 14     // Key Length, RFC 7296 3.3.5
	keyLengthAttrLen = 4
)

// SA is the Security Association payload (RFC 7296 3.3): proposals in
// preference order, each with its transforms in wire order.
type SA struct {
	Proposals []Proposal
}

// Type implements Payload.
func (*SA) Type() PayloadType { return PayloadSA }

func (sa *SA) bodyLen() int {
	n := 0
	for i := range sa.Proposals {
		n += proposalLen(&sa.Proposals[i])
	}
	return n
}

func proposalLen(p *Proposal) int {
	n := proposalHdrLen + len(p.SPI)
	for _, t := range p.Transforms {
		n += transformLen(t)
	}
	return n
}

func transformLen(t Transform) int {
	if t.KeyBits != 0 {
		return transformHdrLen + keyLengthAttrLen
	}
	return transformHdrLen
}

func (sa *SA) marshalBody(b *cryptobyte.Builder) {
	if len(sa.Proposals) == 0 {
		b.SetError(fmt.Errorf("message: SA payload without proposals"))
		return
	}
	for i := range sa.Proposals {
		p := &sa.Proposals[i]
		last := uint8(moreProposals)
		if i == len(sa.Proposals)-1 {
			last = lastSubstruc
		}
		plen := proposalLen(p)
		switch {
		case len(p.SPI) > 0xff:
			b.SetError(fmt.Errorf("message: proposal %d SPI of %d bytes", p.Number, len(p.SPI)))
			return
		case len(p.Transforms) == 0 || len(p.Transforms) > 0xff:
			b.SetError(fmt.Errorf("message: proposal %d has %d transforms", p.Number, len(p.Transforms)))
			return
		case plen > 0xffff:
			b.SetError(fmt.Errorf("message: proposal %d length %d exceeds 65535", p.Number, plen))
			return
		}
		b.AddUint8(last)
		b.AddUint8(0)
		b.AddUint16(uint16(plen))
		b.AddUint8(p.Number)
		b.AddUint8(uint8(p.Protocol))
		b.AddUint8(uint8(len(p.SPI)))
		b.AddUint8(uint8(len(p.Transforms)))
		b.AddBytes(p.SPI)
		for j, t := range p.Transforms {
			last := uint8(moreTransforms)
			if j == len(p.Transforms)-1 {
				last = lastSubstruc
			}
			if t.KeyBits < 0 || t.KeyBits > 0xffff {
				b.SetError(fmt.Errorf("message: transform %v key length %d out of range", t.Type, t.KeyBits))
				return
			}
			b.AddUint8(last)
			b.AddUint8(0)
			b.AddUint16(uint16(transformLen(t)))
			b.AddUint8(uint8(t.Type))
			b.AddUint8(0)
			b.AddUint16(t.ID)
			if t.KeyBits != 0 {
				b.AddUint16(attrFormatTV | attrKeyLength)
				b.AddUint16(uint16(t.KeyBits))
			}
		}
	}
}

func decodeSA(body []byte) (*SA, error) {
	s := cryptobyte.String(body)
	if s.Empty() {
		return nil, syntaxf("SA payload without proposals")
	}
	sa := &SA{Proposals: make([]Proposal, 0, countProposals(body))}
	for !s.Empty() {
		var last, reserved, spiSize, numTransforms, proto uint8
		var length uint16
		var p Proposal
		if !s.ReadUint8(&last) || !s.ReadUint8(&reserved) || !s.ReadUint16(&length) ||
			!s.ReadUint8(&p.Number) || !s.ReadUint8(&proto) || !s.ReadUint8(&spiSize) ||
			!s.ReadUint8(&numTransforms) {
			return nil, syntaxf("SA proposal %d header truncated", len(sa.Proposals)+1)
		}
		p.Protocol = ProtocolID(proto)
		var rest cryptobyte.String
		if length < proposalHdrLen || !s.ReadBytes((*[]byte)(&rest), int(length)-proposalHdrLen) {
			return nil, syntaxf("SA proposal %d length %d does not fit the payload", p.Number, length)
		}
		if last != lastSubstruc && last != moreProposals {
			return nil, syntaxf("SA proposal %d Last Substruc %d", p.Number, last)
		}
		// RFC 7296 3.3: the total length must agree with the internal
		// lengths, so "last" must be last and "more" must have more.
		if (last == lastSubstruc) != s.Empty() {
			return nil, syntaxf("SA proposal %d Last Substruc %d disagrees with the payload length", p.Number, last)
		}
		if spiSize > 0 {
			if !rest.ReadBytes(&p.SPI, int(spiSize)) {
				return nil, syntaxf("SA proposal %d SPI size %d exceeds the proposal", p.Number, spiSize)
			}
		}
		if numTransforms == 0 {
			return nil, syntaxf("SA proposal %d has no transforms", p.Number)
		}
		p.Transforms = make([]Transform, 0, numTransforms)
		for i := 0; i < int(numTransforms); i++ {
			t, tlast, err := decodeTransform(&rest, p.Number)
			if err != nil {
				return nil, err
			}
			if (tlast == lastSubstruc) != (i == int(numTransforms)-1) {
				return nil, syntaxf("SA proposal %d transform %d Last Substruc %d disagrees with the transform count %d", p.Number, i+1, tlast, numTransforms)
			}
			p.Transforms = append(p.Transforms, t)
		}
		if !rest.Empty() {
			return nil, syntaxf("SA proposal %d has %d bytes after its %d transforms", p.Number, len(rest), numTransforms)
		}
		sa.Proposals = append(sa.Proposals, p)
	}
	return sa, nil
}

func decodeTransform(s *cryptobyte.String, num uint8) (Transform, uint8, error) {
	var t Transform
	var last, reserved, typ, reserved2 uint8
	var length uint16
	if !s.ReadUint8(&last) || !s.ReadUint8(&reserved) || !s.ReadUint16(&length) ||
		!s.ReadUint8(&typ) || !s.ReadUint8(&reserved2) || !s.ReadUint16(&t.ID) {
		return t, 0, syntaxf("SA proposal %d transform header truncated", num)
	}
	t.Type = TransformType(typ)
	if last != lastSubstruc && last != moreTransforms {
		return t, 0, syntaxf("SA proposal %d transform %v Last Substruc %d", num, t.Type, last)
	}
	var attrs cryptobyte.String
	if length < transformHdrLen || !s.ReadBytes((*[]byte)(&attrs), int(length)-transformHdrLen) {
		return t, 0, syntaxf("SA proposal %d transform %v length %d does not fit the proposal", num, t.Type, length)
	}
	for !attrs.Empty() {
		var at, val uint16
		if !attrs.ReadUint16(&at) || !attrs.ReadUint16(&val) {
			return t, 0, syntaxf("SA proposal %d transform %v attribute truncated", num, t.Type)
		}
		// RFC 7296 3.3.5: Key Length is the only attribute defined, and
		// it is always TV. Anything else cannot be understood, so the
		// transform cannot be evaluated: reject rather than guess.
		if at != attrFormatTV|attrKeyLength {
			return t, 0, syntaxf("SA proposal %d transform %v unknown attribute 0x%04x", num, t.Type, at)
		}
		if t.KeyBits != 0 {
			return t, 0, syntaxf("SA proposal %d transform %v repeats the Key Length attribute", num, t.Type)
		}
		if val == 0 {
			return t, 0, syntaxf("SA proposal %d transform %v has Key Length 0", num, t.Type)
		}
		t.KeyBits = int(val)
	}
	return t, last, nil
}

// countProposals returns how many proposal headers body holds, following
// their length fields, so decodeSA allocates once. Validation is decodeSA's.
func countProposals(body []byte) int {
	n := 0
	for len(body) >= 4 {
		n++
		l := int(body[2])<<8 | int(body[3])
		if l < proposalHdrLen || l > len(body) {
			break
		}
		body = body[l:]
	}
	return n
}
