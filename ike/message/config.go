package message

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// CfgType is the CFG Type of a Configuration payload (RFC 7296 3.15).
type CfgType uint8

// Configuration payload types.
const (
	CfgRequest CfgType = 1
	CfgReply   CfgType = 2
	CfgSet     CfgType = 3
	CfgAck     CfgType = 4
)

func (c CfgType) String() string {
	switch c {
	case CfgRequest:
		return "CFG_REQUEST"
	case CfgReply:
		return "CFG_REPLY"
	case CfgSet:
		return "CFG_SET"
	case CfgAck:
		return "CFG_ACK"
	}
	return fmt.Sprintf("CFG_%d", uint8(c))
}

// ConfigAttrType is a Configuration Attribute Type (RFC 7296 3.15.1).
type ConfigAttrType uint16

// Configuration attribute types.
const (
	InternalIP4Address    ConfigAttrType = 1  // RFC 7296
	InternalIP4Netmask    ConfigAttrType = 2  // RFC 7296
	InternalIP4DNS        ConfigAttrType = 3  // RFC 7296
	InternalIP4NBNS       ConfigAttrType = 4  // RFC 7296
	InternalIP4DHCP       ConfigAttrType = 6  // RFC 7296
	ApplicationVersion    ConfigAttrType = 7  // RFC 7296
	InternalIP6Address    ConfigAttrType = 8  // RFC 7296
	InternalIP6DNS        ConfigAttrType = 10 // RFC 7296
	InternalIP6DHCP       ConfigAttrType = 12 // RFC 7296
	InternalIP4Subnet     ConfigAttrType = 13 // RFC 7296
	SupportedAttributes   ConfigAttrType = 14 // RFC 7296
	InternalIP6Subnet     ConfigAttrType = 15 // RFC 7296
	InternalDNSDomain     ConfigAttrType = 25 // RFC 8598
	InternalDNSSECTrustAn ConfigAttrType = 26 // RFC 8598
)

func (c ConfigAttrType) String() string {
	switch c {
	case InternalIP4Address:
		return "INTERNAL_IP4_ADDRESS"
	case InternalIP4Netmask:
		return "INTERNAL_IP4_NETMASK"
	case InternalIP4DNS:
		return "INTERNAL_IP4_DNS"
	case InternalIP4NBNS:
		return "INTERNAL_IP4_NBNS"
	case InternalIP4DHCP:
		return "INTERNAL_IP4_DHCP"
	case ApplicationVersion:
		return "APPLICATION_VERSION"
	case InternalIP6Address:
		return "INTERNAL_IP6_ADDRESS"
	case InternalIP6DNS:
		return "INTERNAL_IP6_DNS"
	case InternalIP6DHCP:
		return "INTERNAL_IP6_DHCP"
	case InternalIP4Subnet:
		return "INTERNAL_IP4_SUBNET"
	case SupportedAttributes:
		return "SUPPORTED_ATTRIBUTES"
	case InternalIP6Subnet:
		return "INTERNAL_IP6_SUBNET"
	case InternalDNSDomain:
		return "INTERNAL_DNS_DOMAIN"
	case InternalDNSSECTrustAn:
		return "INTERNAL_DNSSEC_TA"
	}
	return fmt.Sprintf("CFG_ATTR_%d", uint16(c))
}

// ConfigAttribute is one configuration attribute (RFC 7296 3.15.1). The
// value is kept as bytes; an empty value in a CFG_REQUEST asks for one.
type ConfigAttribute struct {
	Type  ConfigAttrType // 15 bits; the reserved top bit is sent as zero
	Value []byte
}

// Config is the Configuration payload, CP (RFC 7296 3.15).
type Config struct {
	CfgType    CfgType
	Attributes []ConfigAttribute
}

// Type implements Payload.
func (*Config) Type() PayloadType { return PayloadCP }

func (c *Config) bodyLen() int {
	n := 4
	for _, a := range c.Attributes {
		n += 4 + len(a.Value)
	}
	return n
}

func (c *Config) marshalBody(b *cryptobyte.Builder) {
	b.AddUint8(uint8(c.CfgType))
	b.AddBytes([]byte{0, 0, 0})
	for _, a := range c.Attributes {
		if a.Type > 0x7fff || len(a.Value) > 0xffff {
			b.SetError(fmt.Errorf("message: configuration attribute %v with %d bytes", a.Type, len(a.Value)))
			return
		}
		b.AddUint16(uint16(a.Type))
		b.AddUint16(uint16(len(a.Value)))
		b.AddBytes(a.Value)
	}
}

func decodeConfig(body []byte) (*Config, error) {
	s := cryptobyte.String(body)
	var typ uint8
	if !s.ReadUint8(&typ) || !s.Skip(3) {
		return nil, syntaxf("CP payload of %d bytes", len(body))
	}
	c := &Config{CfgType: CfgType(typ)}
	for !s.Empty() {
		var at uint16
		var val cryptobyte.String
		if !s.ReadUint16(&at) || !s.ReadUint16LengthPrefixed(&val) {
			return nil, syntaxf("CP attribute %d does not fit the payload", len(c.Attributes)+1)
		}
		// RFC 7296 3.15.1: the R bit is reserved, ignored on receipt.
		c.Attributes = append(c.Attributes, ConfigAttribute{Type: ConfigAttrType(at & 0x7fff), Value: orNil(val)})
	}
	return c, nil
}

// EAP is the Extensible Authentication payload (RFC 7296 3.16). Data is
// the EAP message (RFC 3748), left to the EAP method to interpret.
type EAP struct {
	Data []byte
}

// Type implements Payload.
func (*EAP) Type() PayloadType { return PayloadEAP }

func (e *EAP) bodyLen() int { return len(e.Data) }

func (e *EAP) marshalBody(b *cryptobyte.Builder) {
	if !eapLengthOK(e.Data) {
		b.SetError(fmt.Errorf("message: EAP message of %d bytes with a bad Length field", len(e.Data)))
		return
	}
	b.AddBytes(e.Data)
}

// eapLengthOK checks the RFC 3748 4 header: Code, Identifier, and a Length
// that covers exactly the message.
func eapLengthOK(m []byte) bool {
	return len(m) >= 4 && int(m[2])<<8|int(m[3]) == len(m)
}

func decodeEAP(body []byte) (*EAP, error) {
	if !eapLengthOK(body) {
		return nil, syntaxf("EAP message of %d bytes", len(body))
	}
	return &EAP{Data: body}, nil
}
