package ike

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"net/netip"
	"strings"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// ParseIdentity parses an identity as strongSwan writes it in ipsec.conf and
// ipsec.secrets: "%any", an IPv4 or IPv6 address, "@fqdn", "@#hex" (key ID),
// "@@user@host" or "user@host" (RFC 822), a distinguished name
// ("C=CH, O=strongSwan, CN=moon"), or a plain host name (FQDN).
func ParseIdentity(s string) (Identity, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "" || s == "%any" || s == "%any6":
		return Identity{}, nil
	case strings.HasPrefix(s, "@#"):
		var b []byte
		if _, err := fmt.Sscanf(s[2:], "%x", &b); err != nil || len(b) == 0 {
			return Identity{}, fmt.Errorf("ike: bad key ID %q", s)
		}
		return Identity{Type: message.IDKeyID, Data: b}, nil
	case strings.HasPrefix(s, "@@"):
		return Identity{Type: message.IDRFC822, Data: []byte(s[2:])}, nil
	case strings.HasPrefix(s, "@"):
		if len(s) == 1 {
			return Identity{}, fmt.Errorf("ike: empty FQDN identity")
		}
		return Identity{Type: message.IDFQDN, Data: []byte(s[1:])}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return IdentityFromAddr(a), nil
	}
	if strings.Contains(s, "=") {
		der, err := parseDN(s)
		if err != nil {
			return Identity{}, err
		}
		return Identity{Type: message.IDDERASN1DN, Data: der}, nil
	}
	if strings.Contains(s, "@") {
		return Identity{Type: message.IDRFC822, Data: []byte(s)}, nil
	}
	return Identity{Type: message.IDFQDN, Data: []byte(s)}, nil
}

// Attribute types strongSwan accepts in distinguished names, by the short
// names it prints.
var dnAttrs = []struct {
	name string
	oid  asn1.ObjectIdentifier
}{
	{"C", asn1.ObjectIdentifier{2, 5, 4, 6}},
	{"O", asn1.ObjectIdentifier{2, 5, 4, 10}},
	{"OU", asn1.ObjectIdentifier{2, 5, 4, 11}},
	{"CN", asn1.ObjectIdentifier{2, 5, 4, 3}},
	{"L", asn1.ObjectIdentifier{2, 5, 4, 7}},
	{"ST", asn1.ObjectIdentifier{2, 5, 4, 8}},
	{"SN", asn1.ObjectIdentifier{2, 5, 4, 5}},
	{"E", asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}},
	{"DC", asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}},
	{"UID", asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}},
	{"serialNumber", asn1.ObjectIdentifier{2, 5, 4, 5}},
}

// parseDN turns "C=CH, O=strongSwan, CN=moon" into the DER of an X.501 Name,
// keeping the written order of the relative distinguished names.
func parseDN(s string) ([]byte, error) {
	var rdns pkix.RDNSequence
	for _, part := range splitDN(s) {
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Errorf("ike: bad distinguished name %q: %q is not TYPE=value", s, part)
		}
		var oid asn1.ObjectIdentifier
		for _, a := range dnAttrs {
			if strings.EqualFold(a.name, k) {
				oid = a.oid
				break
			}
		}
		if oid == nil {
			return nil, fmt.Errorf("ike: bad distinguished name %q: unknown attribute %q", s, k)
		}
		rdns = append(rdns, pkix.RelativeDistinguishedNameSET{{Type: oid, Value: v}})
	}
	if len(rdns) == 0 {
		return nil, fmt.Errorf("ike: empty distinguished name")
	}
	return asn1.Marshal(rdns)
}

// splitDN splits at commas or slashes that separate RDNs, honouring "\,".
func splitDN(s string) []string {
	var parts []string
	var cur strings.Builder
	sep := ","
	if strings.HasPrefix(s, "/") {
		sep, s = "/", s[1:]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			cur.WriteByte(s[i+1])
			i++
			continue
		}
		if string(c) == sep {
			parts = append(parts, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	if strings.TrimSpace(cur.String()) != "" {
		parts = append(parts, cur.String())
	}
	return parts
}

// dnString prints DER-encoded names the way strongSwan does:
// "C=CH, O=strongSwan, CN=moon".
func dnString(der []byte) (string, error) {
	var rdns pkix.RDNSequence
	rest, err := asn1.Unmarshal(der, &rdns)
	if err != nil || len(rest) != 0 {
		return "", fmt.Errorf("ike: bad DER distinguished name")
	}
	var parts []string
	for _, rdn := range rdns {
		for _, atv := range rdn {
			name := atv.Type.String()
			for _, a := range dnAttrs {
				if a.oid.Equal(atv.Type) {
					name = a.name
					break
				}
			}
			parts = append(parts, fmt.Sprintf("%s=%v", name, atv.Value))
		}
	}
	return strings.Join(parts, ", "), nil
}
