package auth

import (
	"bytes"
	"cmp"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// MatchCertID checks that cert vouches for the IKE identity (idType,
// idData), the peer's IDi/IDr or a configured remote ID (RFC 7296 3.5,
// RFC 4945 3.1):
//
//   - ID_DER_ASN1_DN must equal the certificate's subject, compared as
//     canonical RDN sequences (see EqualDN), not as raw octets.
//   - ID_FQDN must be a subjectAltName dNSName (where RFC 4945 3.1.2 puts
//     it), compared case-insensitively as DNS names are. A trailing dot is
//     ignored on either side.
//   - ID_RFC822_ADDR must be a subjectAltName rfc822Name: the local part is
//     compared exactly, the domain case-insensitively (RFC 5280 4.2.1.6).
//   - ID_IPV4_ADDR / ID_IPV6_ADDR must be a subjectAltName iPAddress.
//   - ID_KEY_ID matches when it equals the certificate's subjectKeyIdentifier
//     or the SHA-1 of its subjectPublicKeyInfo or of its public key bits (the
//     key identifiers strongSwan accepts for a key).
//
// The subject's CN is never used for FQDN or e-mail identities, as
// strongSwan does not use it either. ID_DER_ASN1_GN is not supported.
func MatchCertID(cert *x509.Certificate, idType message.IDType, idData []byte) error {
	if cert == nil {
		return errors.New("auth: no certificate to match the identity against")
	}
	switch idType {
	case message.IDDERASN1DN:
		eq, err := EqualDN(cert.RawSubject, idData)
		if err != nil {
			return fmt.Errorf("auth: %v identity: %w", idType, err)
		}
		if !eq {
			return fmt.Errorf("auth: identity %q is not the subject %q of the certificate", printDN(idData), printDN(cert.RawSubject))
		}
		return nil

	case message.IDFQDN:
		id := strings.TrimSuffix(string(idData), ".")
		if id == "" || !utf8.ValidString(id) {
			return fmt.Errorf("auth: empty or invalid %v identity", idType)
		}
		for _, n := range cert.DNSNames {
			if strings.EqualFold(strings.TrimSuffix(n, "."), id) {
				return nil
			}
		}
		return fmt.Errorf("auth: identity %q is not among the certificate's subjectAltName DNS names %q", id, cert.DNSNames)

	case message.IDRFC822:
		id := string(idData)
		local, domain, ok := strings.Cut(id, "@")
		if !ok || local == "" || domain == "" {
			// strongSwan lets a bare user name be an RFC822 identity;
			// only an exact match can then succeed.
			local, domain = id, ""
		}
		for _, e := range cert.EmailAddresses {
			l, d, _ := strings.Cut(e, "@")
			if l == local && strings.EqualFold(d, domain) {
				return nil
			}
		}
		return fmt.Errorf("auth: identity %q is not among the certificate's subjectAltName e-mail addresses %q", id, cert.EmailAddresses)

	case message.IDIPv4, message.IDIPv6:
		want := 4
		if idType == message.IDIPv6 {
			want = 16
		}
		if len(idData) != want {
			return fmt.Errorf("auth: %v identity of %d octets, want %d", idType, len(idData), want)
		}
		a, _ := netip.AddrFromSlice(idData)
		for _, ip := range cert.IPAddresses {
			b, ok := netip.AddrFromSlice(ip)
			if !ok {
				continue
			}
			// crypto/x509 may hold IPv4 addresses in 16 octets; an IPv6
			// ID of ::ffff:a.b.c.d is not an IPv4 identity, so only the
			// certificate side is unmapped.
			if idType == message.IDIPv4 {
				b = b.Unmap()
			}
			if a == b {
				return nil
			}
		}
		return fmt.Errorf("auth: identity %s is not among the certificate's subjectAltName IP addresses %v", a, cert.IPAddresses)

	case message.IDKeyID:
		if len(idData) == 0 {
			return fmt.Errorf("auth: empty %v identity", idType)
		}
		for _, kid := range certKeyIDs(cert) {
			if bytes.Equal(kid, idData) {
				return nil
			}
		}
		return fmt.Errorf("auth: %v identity %x is not a key identifier of the certificate", idType, idData)
	}
	return fmt.Errorf("auth: identity type %v cannot be matched against a certificate", idType)
}

// certKeyIDs lists the key identifiers an ID_KEY_ID may use for cert.
func certKeyIDs(cert *x509.Certificate) [][]byte {
	var out [][]byte
	if len(cert.SubjectKeyId) > 0 {
		out = append(out, cert.SubjectKeyId)
	}
	spki := sha1.Sum(cert.RawSubjectPublicKeyInfo)
	out = append(out, spki[:])
	var info struct {
		Algorithm asn1.RawValue
		PublicKey asn1.BitString
	}
	if rest, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &info); err == nil && len(rest) == 0 {
		k := sha1.Sum(info.PublicKey.Bytes)
		out = append(out, k[:])
	}
	return out
}

// CertID returns the identity a certificate implies when none is
// configured: its subject DN as ID_DER_ASN1_DN, as strongSwan does. A
// certificate with an empty subject (SAN-only, RFC 5280 4.2.1.6) gives its
// first subjectAltName instead: DNS name, then IP address, then e-mail.
func CertID(cert *x509.Certificate) (message.IDType, []byte) {
	if !isEmptyName(cert.RawSubject) {
		return message.IDDERASN1DN, bytes.Clone(cert.RawSubject)
	}
	if len(cert.DNSNames) > 0 {
		return message.IDFQDN, []byte(cert.DNSNames[0])
	}
	if len(cert.IPAddresses) > 0 {
		if a, ok := netip.AddrFromSlice(cert.IPAddresses[0]); ok {
			a = a.Unmap()
			if a.Is4() {
				return message.IDIPv4, a.AsSlice()
			}
			return message.IDIPv6, a.AsSlice()
		}
	}
	if len(cert.EmailAddresses) > 0 {
		return message.IDRFC822, []byte(cert.EmailAddresses[0])
	}
	return message.IDDERASN1DN, bytes.Clone(cert.RawSubject)
}

func isEmptyName(der []byte) bool {
	var seq asn1.RawValue
	rest, err := asn1.Unmarshal(der, &seq)
	return err == nil && len(rest) == 0 && len(seq.Bytes) == 0
}

// attrTypeAndValue is AttributeTypeAndValue (RFC 5280 4.1.2.4) with the
// value kept raw, so its string type can be decoded here.
type attrTypeAndValue struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// dnAttr is one attribute of a decoded DN: its type and its value, decoded
// from its string type when it is a string, else its DER marked with a
// leading NUL so it never equals a string.
type dnAttr struct {
	oid   string
	value string
}

// decodeDN decodes a DER Name (RFC 5280 4.1.2.4), keeping RDN order and
// decoding every directory string. fold applies the canonical folding.
func decodeDN(der []byte, fold bool) ([][]dnAttr, error) {
	var rdns []asn1.RawValue
	rest, err := asn1.Unmarshal(der, &rdns)
	if err != nil || len(rest) != 0 {
		return nil, errors.New("malformed distinguished name")
	}
	out := make([][]dnAttr, 0, len(rdns))
	for _, rdn := range rdns {
		if rdn.Class != asn1.ClassUniversal || rdn.Tag != asn1.TagSet {
			return nil, errors.New("malformed distinguished name: RDN is not a SET")
		}
		var set []dnAttr
		b := rdn.Bytes
		for len(b) > 0 {
			var atv attrTypeAndValue
			b, err = asn1.Unmarshal(b, &atv)
			if err != nil {
				return nil, errors.New("malformed distinguished name attribute")
			}
			v, isString := decodeDirectoryString(atv.Value)
			if fold && isString {
				v = strings.ToLower(strings.Join(strings.Fields(v), " "))
			}
			set = append(set, dnAttr{atv.Type.String(), v})
		}
		if len(set) == 0 {
			return nil, errors.New("malformed distinguished name: empty RDN")
		}
		if fold {
			slices.SortFunc(set, func(a, b dnAttr) int {
				return cmp.Or(cmp.Compare(a.oid, b.oid), cmp.Compare(a.value, b.value))
			})
		}
		out = append(out, set)
	}
	return out, nil
}

// decodeDirectoryString decodes a string-typed attribute value; other
// values come back as "\x00" + DER and false.
func decodeDirectoryString(v asn1.RawValue) (string, bool) {
	raw := "\x00" + string(v.FullBytes)
	if v.Class != asn1.ClassUniversal {
		return raw, false
	}
	switch v.Tag {
	case asn1.TagPrintableString, asn1.TagUTF8String, asn1.TagIA5String, asn1.TagT61String, 26 /* VisibleString */ :
		return string(v.Bytes), true
	case asn1.TagBMPString: // UCS-2 big-endian
		if len(v.Bytes)%2 != 0 {
			return raw, false
		}
		u := make([]uint16, len(v.Bytes)/2)
		for i := range u {
			u[i] = uint16(v.Bytes[2*i])<<8 | uint16(v.Bytes[2*i+1])
		}
		return string(utf16.Decode(u)), true
	case 28: // UniversalString, UCS-4 big-endian
		if len(v.Bytes)%4 != 0 {
			return raw, false
		}
		var sb strings.Builder
		for i := 0; i < len(v.Bytes); i += 4 {
			sb.WriteRune(rune(uint32(v.Bytes[i])<<24 | uint32(v.Bytes[i+1])<<16 | uint32(v.Bytes[i+2])<<8 | uint32(v.Bytes[i+3])))
		}
		return sb.String(), true
	}
	return raw, false
}

// EqualDN reports whether two DER distinguished names are the same name.
// RDN order matters; attributes within a multi-valued RDN may come in any
// order; values are compared after decoding their string type
// (PrintableString, UTF8String, IA5String, TeletexString, VisibleString,
// BMPString, UniversalString) and folding them as RFC 4518 caseIgnoreMatch
// suggests (surrounding spaces dropped, inner runs of spaces made one, case
// folded), so a subject written as UTF8String matches the same name
// written as PrintableString by another tool. Non-string values are
// compared as DER. It fails only if either is not a well-formed Name.
func EqualDN(a, b []byte) (bool, error) {
	ca, err := decodeDN(a, true)
	if err != nil {
		return false, err
	}
	cb, err := decodeDN(b, true)
	if err != nil {
		return false, err
	}
	return slices.EqualFunc(ca, cb, func(x, y []dnAttr) bool { return slices.Equal(x, y) }), nil
}

// printDN renders a DER name for error messages the way strongSwan prints
// one ("C=CH, O=Cygnet, CN=moon"), or its size if malformed.
func printDN(der []byte) string {
	c, err := decodeDN(der, false)
	if err != nil {
		return fmt.Sprintf("<malformed DN of %d octets>", len(der))
	}
	var parts []string
	for _, rdn := range c {
		var sub []string
		for _, a := range rdn {
			name, ok := dnShortNames[a.oid]
			if !ok {
				name = a.oid
			}
			v := a.value
			if strings.HasPrefix(v, "\x00") {
				v = fmt.Sprintf("#%x", v[1:])
			}
			sub = append(sub, name+"="+v)
		}
		parts = append(parts, strings.Join(sub, "+"))
	}
	return strings.Join(parts, ", ")
}

var dnShortNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.5":                    "serialNumber",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"1.2.840.113549.1.9.1":       "E",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
}
