package message

import (
	"fmt"
	"net/netip"

	"golang.org/x/crypto/cryptobyte"
)

// KE is the Key Exchange payload (RFC 7296 3.4).
type KE struct {
	Group DHGroup
	Data  []byte
}

// Type implements Payload.
func (*KE) Type() PayloadType { return PayloadKE }

func (k *KE) bodyLen() int { return 4 + len(k.Data) }

func (k *KE) marshalBody(b *cryptobyte.Builder) {
	b.AddUint16(uint16(k.Group))
	b.AddUint16(0)
	b.AddBytes(k.Data)
}

func decodeKE(body []byte) (*KE, error) {
	s := cryptobyte.String(body)
	var group, reserved uint16
	if !s.ReadUint16(&group) || !s.ReadUint16(&reserved) {
		return nil, syntaxf("KE payload of %d bytes", len(body))
	}
	return &KE{Group: DHGroup(group), Data: orNil(s)}, nil
}

// Identification is the content of an IDi or IDr payload (RFC 7296 3.5).
type Identification struct {
	IDType IDType
	Data   []byte
	// raw is the payload body as received, for RestOfPayload.
	raw []byte
}

// IDi is the initiator's Identification payload (RFC 7296 3.5).
type IDi Identification

// IDr is the responder's Identification payload (RFC 7296 3.5).
type IDr Identification

// Type implements Payload.
func (*IDi) Type() PayloadType { return PayloadIDi }

// Type implements Payload.
func (*IDr) Type() PayloadType { return PayloadIDr }

func (id *IDi) bodyLen() int                      { return 4 + len(id.Data) }
func (id *IDr) bodyLen() int                      { return 4 + len(id.Data) }
func (id *IDi) marshalBody(b *cryptobyte.Builder) { marshalID(b, (*Identification)(id)) }
func (id *IDr) marshalBody(b *cryptobyte.Builder) { marshalID(b, (*Identification)(id)) }

// RestOfPayload returns the payload body after the generic header, the
// bytes that RFC 7296 2.15 hashes into the AUTH octets (RestOfInitIDPayload).
// For a received payload it returns the bytes as received.
func (id *IDi) RestOfPayload() []byte { return (*Identification)(id).restOfPayload() }

// RestOfPayload returns the payload body after the generic header, the
// bytes that RFC 7296 2.15 hashes into the AUTH octets (RestOfRespIDPayload).
// For a received payload it returns the bytes as received.
func (id *IDr) RestOfPayload() []byte { return (*Identification)(id).restOfPayload() }

func (id *Identification) restOfPayload() []byte {
	if id.raw != nil {
		return id.raw
	}
	out := make([]byte, 4, 4+len(id.Data))
	out[0] = uint8(id.IDType)
	return append(out, id.Data...)
}

func marshalID(b *cryptobyte.Builder, id *Identification) {
	b.AddUint8(uint8(id.IDType))
	b.AddBytes([]byte{0, 0, 0})
	b.AddBytes(id.Data)
}

func decodeID(t PayloadType, body []byte) (*Identification, error) {
	s := cryptobyte.String(body)
	var typ uint8
	if !s.ReadUint8(&typ) || !s.Skip(3) {
		return nil, syntaxf("%v payload of %d bytes", t, len(body))
	}
	return &Identification{IDType: IDType(typ), Data: orNil(s), raw: body}, nil
}

// CertData is the content of a CERT or CERTREQ payload (RFC 7296 3.6, 3.7).
type CertData struct {
	Encoding CertEncoding
	// Data is the certificate data (CERT) or the Certification Authority
	// field (CERTREQ: concatenated SHA-1 hashes of trusted CA public keys
	// for X.509).
	Data []byte
}

// Cert is the Certificate payload (RFC 7296 3.6).
type Cert CertData

// CertReq is the Certificate Request payload (RFC 7296 3.7).
type CertReq CertData

// Type implements Payload.
func (*Cert) Type() PayloadType { return PayloadCERT }

// Type implements Payload.
func (*CertReq) Type() PayloadType { return PayloadCERTREQ }

func (c *Cert) bodyLen() int                         { return 1 + len(c.Data) }
func (c *CertReq) bodyLen() int                      { return 1 + len(c.Data) }
func (c *Cert) marshalBody(b *cryptobyte.Builder)    { marshalCert(b, (*CertData)(c)) }
func (c *CertReq) marshalBody(b *cryptobyte.Builder) { marshalCert(b, (*CertData)(c)) }

func marshalCert(b *cryptobyte.Builder, c *CertData) {
	b.AddUint8(uint8(c.Encoding))
	b.AddBytes(c.Data)
}

func decodeCertLike(t PayloadType, body []byte) (*CertData, error) {
	s := cryptobyte.String(body)
	var enc uint8
	if !s.ReadUint8(&enc) {
		return nil, syntaxf("%v payload of %d bytes", t, len(body))
	}
	return &CertData{Encoding: CertEncoding(enc), Data: orNil(s)}, nil
}

// Auth is the Authentication payload (RFC 7296 3.8).
type Auth struct {
	Method AuthMethod
	Data   []byte
}

// Type implements Payload.
func (*Auth) Type() PayloadType { return PayloadAUTH }

func (a *Auth) bodyLen() int { return 4 + len(a.Data) }

func (a *Auth) marshalBody(b *cryptobyte.Builder) {
	b.AddUint8(uint8(a.Method))
	b.AddBytes([]byte{0, 0, 0})
	b.AddBytes(a.Data)
}

func decodeAuth(body []byte) (*Auth, error) {
	s := cryptobyte.String(body)
	var m uint8
	if !s.ReadUint8(&m) || !s.Skip(3) {
		return nil, syntaxf("AUTH payload of %d bytes", len(body))
	}
	return &Auth{Method: AuthMethod(m), Data: orNil(s)}, nil
}

// Nonce lengths (RFC 7296 3.9).
const (
	MinNonceLen = 16
	MaxNonceLen = 256
)

// Nonce is the Nonce payload (RFC 7296 3.9).
type Nonce struct {
	Data []byte
}

// Type implements Payload.
func (*Nonce) Type() PayloadType { return PayloadNonce }

func (n *Nonce) bodyLen() int { return len(n.Data) }

func (n *Nonce) marshalBody(b *cryptobyte.Builder) {
	if len(n.Data) < MinNonceLen || len(n.Data) > MaxNonceLen {
		b.SetError(fmt.Errorf("message: nonce of %d bytes, want %d to %d", len(n.Data), MinNonceLen, MaxNonceLen))
		return
	}
	b.AddBytes(n.Data)
}

func decodeNonce(body []byte) (*Nonce, error) {
	// RFC 7296 3.9: "between 16 and 256 octets, inclusive".
	if len(body) < MinNonceLen || len(body) > MaxNonceLen {
		return nil, syntaxf("nonce of %d bytes, want %d to %d", len(body), MinNonceLen, MaxNonceLen)
	}
	return &Nonce{Data: body}, nil
}

// Notify is the Notify payload (RFC 7296 3.10). Protocol is zero and SPI
// empty for notifications about the IKE SA itself.
type Notify struct {
	Protocol   ProtocolID
	SPI        []byte
	NotifyType NotifyType
	Data       []byte
}

// Type implements Payload.
func (*Notify) Type() PayloadType { return PayloadNotify }

func (n *Notify) String() string {
	return fmt.Sprintf("N(%v)", n.NotifyType)
}

func (n *Notify) bodyLen() int { return 4 + len(n.SPI) + len(n.Data) }

func (n *Notify) marshalBody(b *cryptobyte.Builder) {
	if len(n.SPI) > 0xff {
		b.SetError(fmt.Errorf("message: %v notify SPI of %d bytes", n.NotifyType, len(n.SPI)))
		return
	}
	b.AddUint8(uint8(n.Protocol))
	b.AddUint8(uint8(len(n.SPI)))
	b.AddUint16(uint16(n.NotifyType))
	b.AddBytes(n.SPI)
	b.AddBytes(n.Data)
}

func decodeNotify(body []byte) (*Notify, error) {
	s := cryptobyte.String(body)
	var proto, spiSize uint8
	var typ uint16
	if !s.ReadUint8(&proto) || !s.ReadUint8(&spiSize) || !s.ReadUint16(&typ) {
		return nil, syntaxf("notify payload of %d bytes", len(body))
	}
	n := &Notify{Protocol: ProtocolID(proto), NotifyType: NotifyType(typ)}
	if spiSize > 0 && !s.ReadBytes(&n.SPI, int(spiSize)) {
		return nil, syntaxf("%v notify SPI size %d exceeds the payload", n.NotifyType, spiSize)
	}
	n.Data = orNil(s)
	return n, nil
}

// Delete is the Delete payload (RFC 7296 3.11). An IKE SA deletion has
// Protocol IKE, SPISize 0 and no SPIs; ESP and AH list 4-byte SPIs.
type Delete struct {
	Protocol ProtocolID
	// SPISize is the length of every SPI. Encode takes it from the SPIs
	// when zero.
	SPISize uint8
	SPIs    [][]byte
}

// Type implements Payload.
func (*Delete) Type() PayloadType { return PayloadDelete }

func (d *Delete) spiSize() int {
	if d.SPISize == 0 && len(d.SPIs) > 0 {
		return len(d.SPIs[0])
	}
	return int(d.SPISize)
}

func (d *Delete) bodyLen() int { return 4 + d.spiSize()*len(d.SPIs) }

func (d *Delete) marshalBody(b *cryptobyte.Builder) {
	size := d.spiSize()
	if size > 0xff || len(d.SPIs) > 0xffff {
		b.SetError(fmt.Errorf("message: delete of %d SPIs of %d bytes", len(d.SPIs), size))
		return
	}
	for _, spi := range d.SPIs {
		if len(spi) != size {
			b.SetError(fmt.Errorf("message: delete SPIs of %d and %d bytes", size, len(spi)))
			return
		}
	}
	b.AddUint8(uint8(d.Protocol))
	b.AddUint8(uint8(size))
	b.AddUint16(uint16(len(d.SPIs)))
	for _, spi := range d.SPIs {
		b.AddBytes(spi)
	}
}

func decodeDelete(body []byte) (*Delete, error) {
	s := cryptobyte.String(body)
	var proto, size uint8
	var num uint16
	if !s.ReadUint8(&proto) || !s.ReadUint8(&size) || !s.ReadUint16(&num) {
		return nil, syntaxf("delete payload of %d bytes", len(body))
	}
	d := &Delete{Protocol: ProtocolID(proto), SPISize: size}
	if len(s) != int(size)*int(num) {
		return nil, syntaxf("delete payload lists %d SPIs of %d bytes in %d bytes", num, size, len(s))
	}
	if size > 0 && num > 0 {
		d.SPIs = make([][]byte, 0, num)
		for range num {
			var spi []byte
			s.ReadBytes(&spi, int(size))
			d.SPIs = append(d.SPIs, spi)
		}
	}
	return d, nil
}

// VendorID is the Vendor ID payload (RFC 7296 3.12).
type VendorID struct {
	Data []byte
}

// Type implements Payload.
func (*VendorID) Type() PayloadType { return PayloadVendor }

func (v *VendorID) bodyLen() int { return len(v.Data) }

func (v *VendorID) marshalBody(b *cryptobyte.Builder) { b.AddBytes(v.Data) }

// TrafficSelector is one traffic selector (RFC 7296 3.13.1). For
// TS_IPV4_ADDR_RANGE and TS_IPV6_ADDR_RANGE the address and port fields are
// used; any other type keeps its content after the 4-byte selector header
// in Opaque.
type TrafficSelector struct {
	Type       TSType
	IPProtocol uint8 // 0: any protocol
	StartPort  uint16
	EndPort    uint16
	Start, End netip.Addr
	Opaque     []byte
}

func (ts *TrafficSelector) String() string {
	switch ts.Type {
	case TSIPv4AddrRange, TSIPv6AddrRange:
		return fmt.Sprintf("%v-%v proto %d ports %d-%d", ts.Start, ts.End, ts.IPProtocol, ts.StartPort, ts.EndPort)
	}
	return fmt.Sprintf("%v(%x)", ts.Type, ts.Opaque)
}

// Selector lengths (RFC 7296 3.13.1).
const (
	tsHdrLen  = 4
	tsIPv4Len = 16
	tsIPv6Len = 40
)

func (ts *TrafficSelector) encodedLen() int {
	switch ts.Type {
	case TSIPv4AddrRange:
		return tsIPv4Len
	case TSIPv6AddrRange:
		return tsIPv6Len
	}
	return tsHdrLen + len(ts.Opaque)
}

// TrafficSelectors is the content of a TSi or TSr payload (RFC 7296 3.13).
type TrafficSelectors struct {
	Selectors []TrafficSelector
}

// TSi is the initiator's Traffic Selector payload (RFC 7296 3.13).
type TSi TrafficSelectors

// TSr is the responder's Traffic Selector payload (RFC 7296 3.13).
type TSr TrafficSelectors

// Type implements Payload.
func (*TSi) Type() PayloadType { return PayloadTSi }

// Type implements Payload.
func (*TSr) Type() PayloadType { return PayloadTSr }

func (t *TSi) bodyLen() int                      { return (*TrafficSelectors)(t).bodyLen() }
func (t *TSr) bodyLen() int                      { return (*TrafficSelectors)(t).bodyLen() }
func (t *TSi) marshalBody(b *cryptobyte.Builder) { (*TrafficSelectors)(t).marshal(b) }
func (t *TSr) marshalBody(b *cryptobyte.Builder) { (*TrafficSelectors)(t).marshal(b) }

func (t *TrafficSelectors) bodyLen() int {
	n := 4
	for i := range t.Selectors {
		n += t.Selectors[i].encodedLen()
	}
	return n
}

func (t *TrafficSelectors) marshal(b *cryptobyte.Builder) {
	if len(t.Selectors) > 0xff {
		b.SetError(fmt.Errorf("message: %d traffic selectors", len(t.Selectors)))
		return
	}
	b.AddUint8(uint8(len(t.Selectors)))
	b.AddBytes([]byte{0, 0, 0})
	for i := range t.Selectors {
		ts := &t.Selectors[i]
		l := ts.encodedLen()
		if l > 0xffff {
			b.SetError(fmt.Errorf("message: %v selector of %d bytes", ts.Type, l))
			return
		}
		b.AddUint8(uint8(ts.Type))
		b.AddUint8(ts.IPProtocol)
		b.AddUint16(uint16(l))
		switch ts.Type {
		case TSIPv4AddrRange:
			if !ts.Start.Is4() || !ts.End.Is4() {
				b.SetError(fmt.Errorf("message: %v selector with addresses %v and %v", ts.Type, ts.Start, ts.End))
				return
			}
			b.AddUint16(ts.StartPort)
			b.AddUint16(ts.EndPort)
			s, e := ts.Start.As4(), ts.End.As4()
			b.AddBytes(s[:])
			b.AddBytes(e[:])
		case TSIPv6AddrRange:
			if !ts.Start.Is6() || !ts.End.Is6() || ts.Start.Zone() != "" || ts.End.Zone() != "" {
				b.SetError(fmt.Errorf("message: %v selector with addresses %v and %v", ts.Type, ts.Start, ts.End))
				return
			}
			b.AddUint16(ts.StartPort)
			b.AddUint16(ts.EndPort)
			s, e := ts.Start.As16(), ts.End.As16()
			b.AddBytes(s[:])
			b.AddBytes(e[:])
		default:
			b.AddBytes(ts.Opaque)
		}
	}
}

func decodeTS(t PayloadType, body []byte) (*TrafficSelectors, error) {
	s := cryptobyte.String(body)
	var num uint8
	if !s.ReadUint8(&num) || !s.Skip(3) {
		return nil, syntaxf("%v payload of %d bytes", t, len(body))
	}
	out := &TrafficSelectors{Selectors: make([]TrafficSelector, 0, num)}
	for i := 0; i < int(num); i++ {
		var ts TrafficSelector
		var typ uint8
		var length uint16
		if !s.ReadUint8(&typ) || !s.ReadUint8(&ts.IPProtocol) || !s.ReadUint16(&length) {
			return nil, syntaxf("%v selector %d header truncated", t, i+1)
		}
		ts.Type = TSType(typ)
		var sel cryptobyte.String
		if length < tsHdrLen || !s.ReadBytes((*[]byte)(&sel), int(length)-tsHdrLen) {
			return nil, syntaxf("%v selector %d length %d does not fit the payload", t, i+1, length)
		}
		switch ts.Type {
		case TSIPv4AddrRange, TSIPv6AddrRange:
			want := tsIPv4Len
			if ts.Type == TSIPv6AddrRange {
				want = tsIPv6Len
			}
			if int(length) != want {
				return nil, syntaxf("%v selector %d of type %v has length %d, want %d", t, i+1, ts.Type, length, want)
			}
			sel.ReadUint16(&ts.StartPort)
			sel.ReadUint16(&ts.EndPort)
			alen := (want - 8) / 2
			ts.Start, _ = netip.AddrFromSlice(sel[:alen])
			ts.End, _ = netip.AddrFromSlice(sel[alen:])
		default:
			ts.Opaque = orNil(sel)
		}
		out.Selectors = append(out.Selectors, ts)
	}
	if !s.Empty() {
		return nil, syntaxf("%v payload has %d bytes after its %d selectors", t, len(s), num)
	}
	return out, nil
}

// orNil returns nil for an empty slice, so that decoded and constructed
// payloads compare equal and absent fields read as nil.
func orNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
