package auth

import (
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/cygnet-ipsec/cygnet/ike/auth/authtest"
	"github.com/cygnet-ipsec/cygnet/ike/message"
)

var (
	oidC  = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidO  = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOU = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidCN = asn1.ObjectIdentifier{2, 5, 4, 3}
)

type atv struct {
	oid asn1.ObjectIdentifier
	tag int // string type
	val string
}

// dn builds a DER Name; each inner slice is one RDN.
func dn(t *testing.T, rdns ...[]atv) []byte {
	t.Helper()
	var seq pkix.RDNSequence
	for _, rdn := range rdns {
		var set pkix.RelativeDistinguishedNameSET
		for _, a := range rdn {
			b := []byte(a.val)
			if a.tag == asn1.TagBMPString {
				b = nil
				for _, u := range utf16.Encode([]rune(a.val)) {
					b = append(b, byte(u>>8), byte(u))
				}
			}
			set = append(set, pkix.AttributeTypeAndValue{Type: a.oid, Value: asn1.RawValue{Tag: a.tag, Bytes: b}})
		}
		seq = append(seq, set)
	}
	der, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func p(oid asn1.ObjectIdentifier, v string) []atv { return []atv{{oid, asn1.TagPrintableString, v}} }
func u(oid asn1.ObjectIdentifier, v string) []atv { return []atv{{oid, asn1.TagUTF8String, v}} }

func TestEqualDN(t *testing.T) {
	base := dn(t, p(oidC, "CH"), p(oidO, "Cygnet"), p(oidCN, "moon"))
	tests := []struct {
		name  string
		other []byte
		equal bool
	}{
		{"identical", base, true},
		{"UTF8String instead of PrintableString", dn(t, u(oidC, "CH"), u(oidO, "Cygnet"), u(oidCN, "moon")), true},
		{"BMPString", dn(t, p(oidC, "CH"), []atv{{oidO, asn1.TagBMPString, "Cygnet"}}, p(oidCN, "moon")), true},
		{"case and spacing", dn(t, p(oidC, "ch"), p(oidO, "  CYGNET "), p(oidCN, "Moon")), true},
		{"other CN", dn(t, p(oidC, "CH"), p(oidO, "Cygnet"), p(oidCN, "sun")), false},
		{"RDN order differs", dn(t, p(oidO, "Cygnet"), p(oidC, "CH"), p(oidCN, "moon")), false},
		{"RDN missing", dn(t, p(oidC, "CH"), p(oidCN, "moon")), false},
		{"extra RDN", dn(t, p(oidC, "CH"), p(oidO, "Cygnet"), p(oidOU, "x"), p(oidCN, "moon")), false},
		{"multi-valued RDN instead of two", dn(t, p(oidC, "CH"), []atv{{oidO, asn1.TagPrintableString, "Cygnet"}, {oidCN, asn1.TagPrintableString, "moon"}}), false},
		{"inner space differs", dn(t, p(oidC, "CH"), p(oidO, "Cyg net"), p(oidCN, "moon")), false},
	}
	for _, tt := range tests {
		eq, err := EqualDN(base, tt.other)
		if err != nil || eq != tt.equal {
			t.Errorf("%s: EqualDN = %v, %v; want %v", tt.name, eq, err, tt.equal)
		}
	}
	// Attributes within a multi-valued RDN are a SET: order is irrelevant.
	m1 := dn(t, []atv{{oidO, asn1.TagPrintableString, "Cygnet"}, {oidCN, asn1.TagPrintableString, "moon"}})
	m2 := dn(t, []atv{{oidCN, asn1.TagUTF8String, "moon"}, {oidO, asn1.TagPrintableString, "Cygnet"}})
	if eq, err := EqualDN(m1, m2); !eq || err != nil {
		t.Errorf("multi-valued RDN order: %v %v", eq, err)
	}
	for _, bad := range [][]byte{nil, {0x30}, {0x30, 0x02, 0x05, 0x00}, append(append([]byte{}, base...), 0)} {
		if _, err := EqualDN(base, bad); err == nil {
			t.Errorf("malformed DN % x accepted", bad)
		}
	}
}

func TestMatchCertID(t *testing.T) {
	ca := authtest.Must(authtest.NewCA(authtest.Options{}))
	leaf := authtest.Must(ca.Issue(authtest.Options{
		Subject:        pkix.Name{Country: []string{"CH"}, Organization: []string{"Cygnet"}, CommonName: "moon.example.org"},
		DNSNames:       []string{"moon.example.org", "vpn.example.org"},
		IPAddresses:    []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")},
		EmailAddresses: []string{"Moon@Example.org"},
	})).Cert
	// Only a CN, no subjectAltName.
	cnOnly := authtest.Must(ca.Issue(authtest.Options{Subject: pkix.Name{CommonName: "sun.example.org"}})).Cert

	v4 := netip.MustParseAddr("192.0.2.1").AsSlice()
	v6 := netip.MustParseAddr("2001:db8::1").AsSlice()
	mapped := netip.MustParseAddr("::ffff:192.0.2.1").As16()
	spkiHash := sha1.Sum(leaf.RawSubjectPublicKeyInfo)

	tests := []struct {
		name    string
		cert    *x509.Certificate
		typ     message.IDType
		data    []byte
		wantErr string // "" for a match
	}{
		{"DN equal", leaf, message.IDDERASN1DN, dn(t, p(oidC, "CH"), p(oidO, "Cygnet"), p(oidCN, "moon.example.org")), ""},
		{"DN as UTF8 and other case", leaf, message.IDDERASN1DN, dn(t, u(oidC, "ch"), u(oidO, "cygnet"), u(oidCN, "MOON.example.org")), ""},
		{"DN differs", leaf, message.IDDERASN1DN, dn(t, p(oidC, "CH"), p(oidO, "Cygnet"), p(oidCN, "sun.example.org")), "is not the subject \"C=CH, O=Cygnet, CN=moon.example.org\""},
		{"DN malformed", leaf, message.IDDERASN1DN, []byte{0x30, 0x05}, "malformed"},
		{"FQDN", leaf, message.IDFQDN, []byte("vpn.example.org"), ""},
		{"FQDN case", leaf, message.IDFQDN, []byte("MOON.Example.ORG"), ""},
		{"FQDN trailing dot", leaf, message.IDFQDN, []byte("moon.example.org."), ""},
		{"FQDN absent", leaf, message.IDFQDN, []byte("sun.example.org"), "not among"},
		{"FQDN only in CN", cnOnly, message.IDFQDN, []byte("sun.example.org"), "not among"},
		{"FQDN empty", leaf, message.IDFQDN, nil, "empty"},
		{"RFC822", leaf, message.IDRFC822, []byte("Moon@example.ORG"), ""},
		{"RFC822 local part case", leaf, message.IDRFC822, []byte("moon@example.org"), "not among"},
		{"RFC822 absent", leaf, message.IDRFC822, []byte("sun@example.org"), "not among"},
		{"IPv4", leaf, message.IDIPv4, v4, ""},
		{"IPv4 absent", leaf, message.IDIPv4, []byte{192, 0, 2, 2}, "not among"},
		{"IPv4 short", leaf, message.IDIPv4, v4[:3], "3 octets"},
		{"IPv6", leaf, message.IDIPv6, v6, ""},
		{"IPv6 absent", leaf, message.IDIPv6, netip.MustParseAddr("2001:db8::2").AsSlice(), "not among"},
		{"IPv4-mapped IPv6 is not the IPv4 SAN", leaf, message.IDIPv6, mapped[:], "not among"},
		{"IPv6 given as IPv4 type", leaf, message.IDIPv4, v6, "16 octets"},
		{"key ID = subjectKeyIdentifier", ca.Cert, message.IDKeyID, ca.Cert.SubjectKeyId, ""},
		{"key ID = SHA-1 of SPKI", leaf, message.IDKeyID, spkiHash[:], ""},
		{"key ID other", leaf, message.IDKeyID, []byte{1, 2, 3}, "not a key identifier"},
		{"DER_ASN1_GN unsupported", leaf, message.IDDERASN1GN, []byte{0x82, 0x01, 'a'}, "cannot be matched"},
		{"nil certificate", nil, message.IDFQDN, []byte("a"), "no certificate"},
	}
	for _, tt := range tests {
		err := MatchCertID(tt.cert, tt.typ, tt.data)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "auth: ") {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestCertID(t *testing.T) {
	ca := authtest.Must(authtest.NewCA(authtest.Options{}))
	leaf := authtest.Must(ca.Issue(authtest.Options{Subject: pkix.Name{Country: []string{"CH"}, CommonName: "moon"}, DNSNames: []string{"moon.example.org"}})).Cert
	typ, data := CertID(leaf)
	if typ != message.IDDERASN1DN {
		t.Fatalf("type %v", typ)
	}
	if err := MatchCertID(leaf, typ, data); err != nil {
		t.Fatalf("implied ID does not match its certificate: %v", err)
	}
	if got := printDN(data); got != "C=CH, CN=moon" {
		t.Fatalf("implied DN %q", got)
	}
	sanOnly := authtest.Must(ca.Issue(authtest.Options{Subject: pkix.Name{}, IPAddresses: []netip.Addr{netip.MustParseAddr("192.0.2.9")}})).Cert
	typ, data = CertID(sanOnly)
	if typ != message.IDIPv4 || netip.AddrFrom4([4]byte(data)) != netip.MustParseAddr("192.0.2.9") {
		t.Fatalf("SAN-only: %v %x", typ, data)
	}
	if err := MatchCertID(sanOnly, typ, data); err != nil {
		t.Fatal(err)
	}
}
