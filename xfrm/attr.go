package xfrm

import (
	"encoding/binary"
	"fmt"
)

// attr is one netlink attribute.
type attr struct {
	Type  uint16
	Value []byte
}

// parseAttrs splits netlink attributes (struct nlattr: 16-bit length
// including the 4-byte header, 16-bit type, value padded to 4 bytes). It
// checks every length against the data, unlike nl.ParseRouteAttr, which
// panics on a short or overlong attribute (found by FuzzParseState).
func parseAttrs(b []byte) ([]attr, error) {
	var out []attr
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) & 0x3fff // without NLA_F_NESTED / NET_BYTEORDER
		if l < 4 || l > len(b) {
			return out, fmt.Errorf("xfrm: netlink attribute %d claims %d bytes, %d left", typ, l, len(b))
		}
		out = append(out, attr{Type: typ, Value: b[4:l]})
		next := (l + 3) &^ 3
		if next > len(b) {
			break
		}
		b = b[next:]
	}
	return out, nil
}
