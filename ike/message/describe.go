package message

import (
	"encoding/binary"
	"strings"
)

// String lists the payload types in order, notifications with their type,
// for log lines: "SA KE Nonce N(NAT_DETECTION_SOURCE_IP)".
func (ps Payloads) String() string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(' ')
		}
		if n, ok := p.(*Notify); ok {
			b.WriteString(n.String())
			continue
		}
		b.WriteString(p.Type().String())
	}
	return b.String()
}

// String summarises m for logs the way IKE daemons usually do:
// "IKE_SA_INIT request 0 [ SA KE Nonce N(COOKIE) ]".
func (m *Message) String() string {
	dir := "request"
	if m.Header.IsResponse() {
		dir = "response"
	}
	var b strings.Builder
	b.WriteString(m.Header.Exchange.String())
	b.WriteByte(' ')
	b.WriteString(dir)
	b.WriteByte(' ')
	b.WriteString(uitoa(uint64(m.Header.MessageID)))
	b.WriteString(" [ ")
	if s := m.Payloads.String(); s != "" {
		b.WriteString(s)
		b.WriteByte(' ')
	}
	b.WriteByte(']')
	return b.String()
}

func uitoa(v uint64) string {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(buf[i:])
		}
	}
}

// Notify returns the notification that reports e to the peer: an
// UNSUPPORTED_CRITICAL_PAYLOAD whose data is the one-octet payload type
// (RFC 7296 3.10.1).
func (e *UnsupportedCriticalError) Notify() *Notify {
	return &Notify{NotifyType: UnsupportedCriticalPayload, Data: []byte{byte(e.Type)}}
}

// InvalidKEData encodes the data of an INVALID_KE_PAYLOAD notification: the
// accepted group as two octets (RFC 7296 1.3, 3.10.1).
func InvalidKEData(g DHGroup) []byte {
	return binary.BigEndian.AppendUint16(nil, uint16(g))
}

// DecodeInvalidKEData decodes the data of an INVALID_KE_PAYLOAD
// notification (RFC 7296 3.10.1).
func DecodeInvalidKEData(data []byte) (DHGroup, error) {
	if len(data) != 2 {
		return 0, syntaxf("INVALID_KE_PAYLOAD data of %d bytes", len(data))
	}
	return DHGroup(binary.BigEndian.Uint16(data)), nil
}
